"""What to do after one webhook attempt: a pure decision, taken from the attempt and the policy.

The task that posts the event (workers.tasks.deliver_webhook) carries the decision out: it records
the attempt, and then schedules the retry, dead-letters the event or disables the endpoint.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Union

from .notify import compute_backoff


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently an event is sent to one endpoint."""

    max_attempts: int = 8
    backoff_base_s: float = 30.0
    backoff_factor: float = 3.5
    backoff_max_s: float = 12 * 3600.0

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        return cls(max_attempts=settings.webhook_max_attempts, backoff_base_s=settings.webhook_backoff_base_s,
                   backoff_factor=settings.webhook_backoff_factor, backoff_max_s=settings.webhook_backoff_max_s)


@dataclass(frozen=True)
class Delivered:
    """The endpoint took the event (2xx)."""

    status = "delivered"


@dataclass(frozen=True)
class RetryAt:
    """Try again at ``at`` (epoch seconds), ``delay_s`` after this attempt."""

    at: float
    delay_s: float
    status = "pending"


@dataclass(frozen=True)
class Rejected:
    """The endpoint refused the event in a way that retrying cannot fix (a 4xx other than 429)."""

    status = "failed"


@dataclass(frozen=True)
class Disable:
    """The endpoint said 410 Gone: this event fails, and the endpoint gets nothing until re-enabled."""

    reason: str
    status = "failed"


@dataclass(frozen=True)
class DeadLetter:
    """The round's attempts ran out: the event goes to the dead-letter list, for an operator to replay."""

    error: str | None
    status = "failed"


Decision = Union[Delivered, RetryAt, Rejected, Disable, DeadLetter]


def decide(attempt: dict[str, Any], *, number: int, policy: RetryPolicy, event_id: str,
           retry_after_s: float | None = None, rng: random.Random | None = None) -> Decision:
    """The decision after attempt ``number`` of this round (1-based) ended as ``attempt`` says
    (``status_code`` None for a timeout or a network error). ``retry_after_s`` is what a 429 or 503
    asked for; it is honoured up to the longest backoff, so an endpoint cannot park an event for ever."""
    code = attempt.get("status_code")
    if code is not None and 200 <= code < 300:
        return Delivered()
    retryable = code is None or code >= 500 or code == 429
    if not retryable:
        return Disable(f"410 Gone for event {event_id}") if code == 410 else Rejected()
    if number >= policy.max_attempts:
        return DeadLetter(attempt.get("error"))
    if retry_after_s is not None:
        delay = min(max(retry_after_s, 0.0), policy.backoff_max_s)
    else:
        delay = compute_backoff(number, base_s=policy.backoff_base_s, factor=policy.backoff_factor,
                                max_s=policy.backoff_max_s, rng=rng)
    return RetryAt(at=float(attempt["at"]) + delay, delay_s=delay)
