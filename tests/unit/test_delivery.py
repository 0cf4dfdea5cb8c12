import random

import pytest

from smartsupport.delivery import DeadLetter, Delivered, Disable, Rejected, RetryAt, RetryPolicy, decide

POLICY = RetryPolicy(max_attempts=4, backoff_base_s=10, backoff_factor=2, backoff_max_s=60)


def attempt(status_code, *, at=1000.0, error=None):
    return {"at": at, "status_code": status_code, "error": error}


def test_a_2xx_is_delivered():
    assert decide(attempt(204), number=1, policy=POLICY, event_id="evt_t") == Delivered()


@pytest.mark.parametrize("code", [500, 503, 429, None])
def test_server_errors_rate_limits_and_network_failures_are_retried_on_the_backoff_schedule(code):
    decision = decide(attempt(code), number=2, policy=POLICY, event_id="evt_t", rng=random.Random(1))

    assert isinstance(decision, RetryAt) and decision.status == "pending"
    assert 16 <= decision.delay_s <= 24 and decision.at == 1000.0 + decision.delay_s  # 10 * 2, +/-20 %


def test_retry_after_is_honoured_up_to_the_longest_backoff():
    asked = decide(attempt(429), number=1, policy=POLICY, event_id="evt_t", retry_after_s=42)
    greedy = decide(attempt(503), number=1, policy=POLICY, event_id="evt_t", retry_after_s=1e12)

    assert asked == RetryAt(at=1042.0, delay_s=42.0)
    assert greedy == RetryAt(at=1060.0, delay_s=60.0)


def test_the_last_attempt_of_a_round_dead_letters_the_event():
    decision = decide(attempt(502, error="HTTP 502"), number=4, policy=POLICY, event_id="evt_t")

    assert decision == DeadLetter("HTTP 502") and decision.status == "failed"


@pytest.mark.parametrize("code", [400, 401, 404, 422])
def test_other_client_errors_are_rejected_at_once(code):
    assert decide(attempt(code), number=1, policy=POLICY, event_id="evt_t") == Rejected()


def test_410_gone_disables_the_endpoint_and_says_for_which_event():
    decision = decide(attempt(410), number=1, policy=POLICY, event_id="evt_t")

    assert decision == Disable("410 Gone for event evt_t") and decision.status == "failed"
