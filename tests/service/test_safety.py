"""Idempotency, retries of failed tickets, the sweeper's view, rate limits and headers (real Redis)."""

import json
import os
import threading
import time

import pytest

from smartsupport.store.idempotency import STALE_CLAIM_S
from tests.helpers import OPERATOR_KEY, clear_tickets, settings_for
from web import create_app


def post(client, headers, body, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/tickets", json={"body": body}, headers={**headers, **extra})


def test_the_same_idempotency_key_and_body_return_the_same_ticket(client, operator, store):
    first = post(client, operator, "Refund please", key="order-42")
    again = post(client, operator, "Refund please", key="order-42")

    assert first.status_code == again.status_code == 202
    assert first.get_json()["id"] == again.get_json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert store.r.zcard("ss:tickets:created") == 1


def test_the_same_idempotency_key_with_another_body_is_a_conflict(client, operator, store):
    post(client, operator, "Refund please", key="order-43")

    response = post(client, operator, "Cancel my plan", key="order-43")

    assert response.status_code == 409 and response.get_json()["error"]["code"] == "idempotency_conflict"
    assert store.r.zcard("ss:tickets:created") == 1


def _lose_the_ticket_of_the_claim(store, ticket_id, *, age_s):
    """As if Redis went away between the key's claim and the ticket's write, so that neither the
    ticket was written nor the claim released; the claim made ``age_s`` ago."""
    store.delete_tickets([ticket_id])
    [name] = store.r.keys("ss:idem:*")
    record = json.loads(store.r.get(name))
    store.r.set(name, json.dumps({**record, "at": record["at"] - age_s}), keepttl=True)


def test_a_key_whose_ticket_was_never_stored_is_taken_over_once_its_claim_is_stale(client, operator, store):
    lost = post(client, operator, "Refund please", key="order-44").get_json()["id"]
    _lose_the_ticket_of_the_claim(store, lost, age_s=STALE_CLAIM_S + 1)

    again = post(client, operator, "Refund please", key="order-44")

    # Then the retry is accepted as a new ticket, not answered with the one that does not exist
    assert again.status_code == 202 and "Idempotent-Replayed" not in again.headers
    assert again.get_json()["id"] != lost and store.tickets.load(again.get_json()["id"]).text == "Refund please"
    assert post(client, operator, "Refund please", key="order-44").get_json()["id"] == again.get_json()["id"]


def test_a_key_claimed_just_now_whose_ticket_is_not_written_yet_is_a_409_to_retry(client, operator, store):
    first = post(client, operator, "Refund please", key="order-45").get_json()["id"]
    _lose_the_ticket_of_the_claim(store, first, age_s=1)  # the first request may still be writing it

    again = post(client, operator, "Refund please", key="order-45")

    # Then the answer is no 202 for a ticket that does not exist, but a 409 saying when to try again
    # (as the IETF Idempotency-Key draft has it for a request still in progress)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "idempotency_in_progress"
    assert again.headers["Retry-After"] == "1" and store.r.zcard("ss:tickets:created") == 0


def test_idempotency_keys_belong_to_the_key_holder(client, operator, submitter):
    mine = post(client, submitter, "Refund please", key="k").get_json()["id"]
    theirs = post(client, operator, "Refund please", key="k").get_json()["id"]
    assert mine != theirs


def test_only_a_failed_ticket_can_be_retried_and_it_goes_back_to_the_queue(client, operator, store):
    ticket_id = post(client, operator, "It broke").get_json()["id"]
    assert client.post(f"/api/tickets/{ticket_id}/retry", headers=operator).status_code == 409

    store.tickets.fail(ticket_id, "classify: RuntimeError: model exploded")
    assert client.get(f"/api/tickets/{ticket_id}", headers=operator).get_json()["error"].startswith("classify")

    response = client.post(f"/api/tickets/{ticket_id}/retry", headers=operator)

    view = client.get(f"/api/tickets/{ticket_id}", headers=operator).get_json()
    assert response.status_code == 202 and view["status"] == "queued" and view["error"] is None


def test_tickets_unfinished_for_too_long_are_found_once_per_period(client, operator, store):
    ticket_id = post(client, operator, "Stuck?").get_json()["id"]
    assert store.sweeper.stuck(older_than_s=60) == []

    later = time.time() + 120
    assert store.sweeper.stuck(older_than_s=60, now=later) == [ticket_id]
    assert store.sweeper.count_sweep(ticket_id, now=later) == 1
    assert store.sweeper.stuck(older_than_s=60, now=later + 30) == []  # re-queued just now: give it time
    assert store.sweeper.stuck(older_than_s=60, now=later + 61) == [ticket_id]


def test_too_many_requests_get_429_with_retry_after(api_redis_url, tmp_path, operator):
    client = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_RATE_LIMIT="3/minute")).test_client()
    statuses = [client.get("/api/tickets", headers=operator).status_code for _ in range(4)]

    limited = client.get("/api/tickets", headers=operator)

    assert statuses == [200, 200, 200, 429]
    assert limited.get_json()["error"]["code"] == "too_many_requests" and int(limited.headers["Retry-After"]) > 0
    # health is never limited, not even for this key asking more often than its limit allows
    assert {client.get("/api/health", headers=operator).status_code for _ in range(5)} <= {200, 503}


def test_the_rate_limit_counts_a_key_however_its_header_is_spelled(api_redis_url, tmp_path, operator):
    clear_tickets(api_redis_url)  # and the buckets an earlier test filled
    client = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_RATE_LIMIT="3/minute")).test_client()
    spellings = [f"Bearer {OPERATOR_KEY}", f"bearer {OPERATOR_KEY}", f"Bearer  {OPERATOR_KEY}",
                 f"BEARER {OPERATOR_KEY} "]

    statuses = [client.get("/api/tickets", headers={"Authorization": s}).status_code for s in spellings]

    assert statuses == [200, 200, 200, 429]


def test_responses_carry_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_a_large_body_counts_more_against_the_rate_limit(api_redis_url, tmp_path, operator):
    clear_tickets(api_redis_url)
    client = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_RATE_LIMIT="6/minute")).test_client()

    # 20 KB counts 3 (one, plus one per 8 KiB): two of them use the minute's six
    statuses = [post(client, operator, "bug " * 4900).status_code for _ in range(2)]

    assert statuses == [202, 202]
    assert post(client, operator, "Refund please").status_code == 429


def take_every_slot(gate) -> list[int]:
    held = []
    while (slot := gate.acquire(timeout=0)) is not None:
        held.append(slot)
    return held


def test_large_bodies_wait_for_a_slot_and_small_ones_never_do(client, operator, store, monkeypatch):
    from web import admission
    monkeypatch.setattr(admission, "LARGE_BODY_WAIT_S", 0.2)
    gate = client.application.extensions["smartsupport_large_bodies"]
    held = take_every_slot(gate)  # as if other large requests were being processed
    assert sorted(held) == list(range(admission.slots()))
    before = store.r.zcard("ss:tickets:created")
    try:
        busy = post(client, operator, "bug " * 4900)
        small = post(client, operator, "The export fails")

        assert busy.status_code == 503 and busy.get_json()["error"]["code"] == "busy"
        assert int(busy.headers["Retry-After"]) >= 1
        assert small.status_code == 202
        assert store.r.zcard("ss:tickets:created") == before + 1  # the refused one left nothing
    finally:
        for slot in held:
            gate.release(slot)

    assert post(client, operator, "bug " * 4900).status_code == 202
    # every slot came back after the requests that held one (once rested)
    again = [gate.acquire(timeout=1.0) for _ in held]
    assert None not in again
    for slot in again:
        gate.release(slot)


def test_large_requests_take_at_most_half_a_process_s_threads_and_the_next_is_refused_at_once(
        client, operator, store, monkeypatch):
    from web import admission
    monkeypatch.setattr(admission, "LARGE_BODY_WAIT_S", 10.0)
    gate = client.application.extensions["smartsupport_large_bodies"]
    in_flight = client.application.extensions["smartsupport_large_in_flight"]
    assert in_flight.limit == admission.DEFAULT_THREADS // 2
    held = take_every_slot(gate)  # as if other large requests were being processed
    answers = []
    waiting = [threading.Thread(target=lambda: answers.append(post(client, operator, "bug " * 4900).status_code))
               for _ in range(in_flight.limit)]
    try:
        for thread in waiting:
            thread.start()
        deadline = time.monotonic() + 10
        while in_flight.count < in_flight.limit and time.monotonic() < deadline:
            time.sleep(0.01)
        assert in_flight.count == in_flight.limit  # every one of them waits for a slot, holding a thread

        # One more is refused at once, not after the 10 s wait; small ones pass meanwhile
        started = time.monotonic()
        refused = post(client, operator, "bug " * 4900)
        assert refused.status_code == 503 and refused.get_json()["error"]["code"] == "busy"
        assert time.monotonic() - started < 2
        assert post(client, operator, "The export fails").status_code == 202
    finally:
        for slot in held:
            gate.release(slot)
        for thread in waiting:
            thread.join(timeout=30)

    # Once slots free up, the waiting ones are all answered, and the count is back to none
    assert answers == [202] * in_flight.limit
    assert in_flight.count == 0


def test_a_large_request_s_slot_rests_in_proportion_to_how_long_the_request_held_it():
    from web.admission import LARGE_BODY_DUTY, MAX_REST_S, Gate
    gate = Gate(1)
    slot = gate.acquire(timeout=0)
    busy = MAX_REST_S / 2 * LARGE_BODY_DUTY / (1 - LARGE_BODY_DUTY)
    gate.release(slot, busy_s=busy)  # a large request held it that long once its body was read
    rest = busy * (1 - LARGE_BODY_DUTY) / LARGE_BODY_DUTY
    assert rest == pytest.approx(MAX_REST_S / 2)

    assert gate.acquire(timeout=rest / 3) is None  # still resting: the wait would pass the deadline
    started = time.monotonic()
    slot = gate.acquire(timeout=rest + 1)
    waited = time.monotonic() - started
    assert slot == 0 and rest * 0.5 < waited <= rest + 0.5
    gate.release(slot, busy_s=60.0)  # however costly, a rest is at most MAX_REST_S
    started = time.monotonic()
    assert gate.acquire(timeout=MAX_REST_S + 1) == 0
    assert time.monotonic() - started <= MAX_REST_S + 0.5
    gate.release(0)
    assert gate.acquire(timeout=0) == 0  # a request that took no time leaves no rest


def test_a_slot_held_by_a_process_that_died_is_reclaimed():
    import multiprocessing

    from web.admission import Gate
    gate = Gate(1)
    # Given a worker process killed while it held the only slot
    holder = multiprocessing.get_context("fork").Process(target=lambda: (gate.acquire(timeout=1), os._exit(0)))
    holder.start()
    holder.join(10)
    assert gate.acquire(timeout=0.2) is None

    # When the master learns it exited, then the slot is free again, and only that slot
    assert gate.reclaim(holder.pid) == 1
    assert gate.acquire(timeout=0) == 0
    assert gate.reclaim(os.getpid() + 1) == 0 and gate.reclaim(holder.pid) == 0
    gate.release(0)


@pytest.mark.parametrize("how", ["oversized, no key", "oversized, with a key", "cut off by the client", "no key"])
def test_a_large_request_that_fails_gives_back_what_it_took(client, operator, store, monkeypatch, how):
    from web import admission
    monkeypatch.setattr(admission, "LARGE_BODY_WAIT_S", 1.0)
    gate = client.application.extensions["smartsupport_large_bodies"]
    in_flight = client.application.extensions["smartsupport_large_in_flight"]
    # Given a request of a large body that cannot succeed
    if how.startswith("oversized"):  # as `printf 'POST / ...Content-Length: 300000' | nc`
        answer = client.post("/" if how.endswith("no key") else "/api/tickets", data=b"x" * 300_000,
                             headers={} if how.endswith("no key") else operator)
        assert answer.status_code == 413
    elif how == "cut off by the client":  # says 20 KB, sends 100 bytes and hangs up
        answer = client.post("/api/tickets", data=b"x" * 100, headers={**operator, "Content-Type": "application/json"},
                             environ_overrides={"CONTENT_LENGTH": "20000"})
        assert answer.status_code == 400
    else:
        answer = client.post("/api/tickets", json={"body": "bug " * 4900})
        assert answer.status_code == 401

    # Then every slot is free and nothing is counted in flight: a valid 10 KiB ticket is taken at once
    assert in_flight.count == 0
    assert len(take_every_slot(gate)) == admission.slots()
    for slot in range(admission.slots()):
        gate.release(slot)
    assert post(client, operator, "bug " * 2600).status_code == 202
