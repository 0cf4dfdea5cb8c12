"""Webhook events: building the payload (pure) and posting it, signed per Standard Webhooks."""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from .errors import WebhookFailed, WebhookRejected

EVENT_TYPE = "ticket.urgent"


def event_id_for(subject: str) -> str:
    """The event id of a ticket's urgent event (``evt_<ticket id>``) or of an incident event
    (``evt_incident_<id>_<name>``): the same for every retry and redelivery."""
    return "evt_" + subject.replace(":event:", "_").replace(":", "_")


def compute_backoff(attempt: int, *, base_s: float, factor: float, max_s: float, jitter: float = 0.2,
                    rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): ``base * factor**(attempt-1)``,
    capped at ``max_s``, then spread by +/- ``jitter`` so that many failing events do not retry in step.

    With the defaults (30 s, x3.5, 8 attempts) the retries span about 21 hours.
    """
    delay = min(base_s * factor ** max(attempt - 1, 0), max_s)
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay * (1.0 + spread))


def should_notify(urgency_score: float, *, threshold: float) -> bool:
    return urgency_score >= threshold


def build_payload(ticket: dict[str, Any], *, event_id: str) -> dict[str, Any]:
    """The event body: ``{"type", "id", "data": <ticket as in GET>}``."""
    return {"type": EVENT_TYPE, "id": event_id, "data": ticket}


def payload_for(store, subject: str, *, event_id: str) -> dict[str, Any]:
    """What to POST for a subject: the ticket as it is now, or the incident event's snapshot."""
    if subject.startswith("incident:"):
        return store.event_payload(subject)
    view = store.get(subject)
    return build_payload({k: v for k, v in view.items() if k != "webhook"}, event_id=event_id)


def sign_headers(payload: str, *, event_id: str, secret: str, now: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers for ``payload``."""
    when = now or datetime.now(tz=timezone.utc)
    signature = Webhook(secret).sign(event_id, when, payload)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": "SmartSupport-Webhooks/1",
    }


def post_webhook(url: str, payload: dict[str, Any], *, secret: str, timeout_s: float) -> dict[str, Any]:
    """POST one signed event; return the attempt record, or raise.

    Raises ``WebhookFailed`` for what a retry may fix (5xx, 429, timeouts, connection errors) and
    ``WebhookRejected`` for other non-2xx answers; both carry the attempt record in ``.attempt``.
    """
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)  # strict JSON only
    headers = sign_headers(body, event_id=payload["id"], secret=secret)
    started = time.time()
    attempt: dict[str, Any] = {"at": started, "status_code": None, "error": None}
    try:
        response = requests.post(url, data=body.encode(), headers=headers, timeout=timeout_s, allow_redirects=False)
    except requests.Timeout as exc:
        attempt.update(latency_ms=_ms(started), error=f"timeout after {timeout_s}s")
        raise _with(WebhookFailed(attempt["error"]), attempt) from exc
    except requests.RequestException as exc:
        attempt.update(latency_ms=_ms(started), error=f"{type(exc).__name__}: {exc}"[:300])
        raise _with(WebhookFailed(attempt["error"]), attempt) from exc
    attempt.update(latency_ms=_ms(started), status_code=response.status_code)
    if 200 <= response.status_code < 300:
        return attempt
    attempt["error"] = f"HTTP {response.status_code}"
    if response.status_code >= 500 or response.status_code == 429:
        raise _with(WebhookFailed(attempt["error"], retry_after_s=_retry_after(response)), attempt)
    raise _with(WebhookRejected(attempt["error"]), attempt)


def _with(exc: Exception, attempt: dict[str, Any]) -> Exception:
    exc.attempt = attempt  # type: ignore[attr-defined]
    return exc


def _ms(started: float) -> float:
    return round((time.time() - started) * 1000.0, 2)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
