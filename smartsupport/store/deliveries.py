"""Webhook deliveries: one per event and endpoint, with its attempts, dead letters and disabled endpoints.

A delivery belongs to a *subject*: a ticket id (its ticket.urgent event) or an incident event
("incident:<id>:event:<name>"); every method below takes either.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

from ..delivery import DeadLetter, Decision, Disable, RetryAt
from ..ticket import WebhookStatus
from . import keys
from .base import StoreBase, guarded

ENDPOINT_LOG_SIZE = 500


def open_delivery(pipe, subject: str, url: str, event_id: str, at: float) -> None:
    """Within a caller's pipeline: a pending delivery with no attempt yet, unless one exists, due at
    ``at`` unless an earlier run set its due time (the sweeper sends what nobody enqueued)."""
    state = {"url": url, "event_id": event_id, "status": WebhookStatus.PENDING.value, "attempts": 0}
    pipe.hsetnx(keys.subject(subject) + ":deliveries", url, json.dumps(state))
    pipe.zadd(keys.PENDING_DELIVERIES, {keys.pending(subject, url): at}, nx=True)


class Deliveries(StoreBase):
    @staticmethod
    def stage_event(pipe, subject: str, event_id: str, payload: dict[str, Any], urls: Iterable[str]) -> None:
        """Within a caller's MULTI: keep an event's payload and open its deliveries, so that the event
        exists exactly when the change it reports does (the sweeper sends what nobody enqueued)."""
        pipe.hset(keys.subject(subject), "payload", json.dumps(payload))
        for url in urls:
            open_delivery(pipe, subject, url, event_id, time.time())

    @guarded
    def event_payload(self, subject: str) -> dict[str, Any] | None:
        """The payload kept for an incident event (ticket events are built from the ticket)."""
        raw = self.r.hget(keys.subject(subject), "payload")
        return None if raw is None else json.loads(raw)

    @guarded
    def deliveries(self, subject: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A subject's delivery states and its attempt log."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hvals(keys.subject(subject) + ":deliveries")
        pipe.lrange(keys.subject(subject) + ":attempts", 0, -1)
        states, attempts = pipe.execute()
        return [json.loads(s) for s in states], [json.loads(a) for a in attempts]

    @guarded
    def expect_delivery(self, ticket_id: str, url: str, *, at: float) -> None:
        """Note when a pending delivery should next make progress (the sweeper checks)."""
        self.r.zadd(keys.PENDING_DELIVERIES, {keys.pending(ticket_id, url): at})

    @guarded
    def forget_overdue(self, ticket_id: str, url: str) -> None:
        """The delivery is settled (delivered or failed): the sweeper has nothing to send."""
        self.r.zrem(keys.PENDING_DELIVERIES, keys.pending(ticket_id, url))

    @guarded
    def overdue_deliveries(self, *, older_than_s: float) -> list[tuple[str, str]]:
        """Pending deliveries that made no progress for ``older_than_s`` past their due time."""
        members = self.r.zrangebyscore(keys.PENDING_DELIVERIES, 0, time.time() - older_than_s)
        return [tuple(m.split(" ", 1)) for m in members]

    @guarded
    def reopen_delivery(self, ticket_id: str, url: str, event_id: str) -> None:
        """Make a delivery pending again (an operator's redeliver), keeping its attempt count."""
        key = keys.subject(ticket_id) + ":deliveries"
        state = json.loads(self.r.hget(key, url) or "{}")
        state.setdefault("attempts", 0)
        # A new round of attempts: the retry budget counts from here.
        state.update(url=url, event_id=event_id, status=WebhookStatus.PENDING.value, round_start=state["attempts"])
        self.r.hset(key, url, json.dumps(state))
        self.expect_delivery(ticket_id, url, at=time.time())

    @guarded
    def delivery(self, ticket_id: str, url: str) -> dict[str, Any] | None:
        raw = self.r.hget(keys.subject(ticket_id) + ":deliveries", url)
        return None if raw is None else json.loads(raw)

    @guarded
    def record_attempt(self, subject: str, url: str, attempt: dict[str, Any], decision: Decision) -> int:
        """Append one attempt to the subject's and the endpoint's logs and carry out what was decided
        about it (the retry's due time, the dead letter, the disabled endpoint), in one MULTI.
        Returns the attempt number."""
        key = keys.subject(subject) + ":deliveries"
        state = json.loads(self.r.hget(key, url) or "{}") or {"url": url}
        number = int(state.get("attempts", 0)) + 1
        state.update(status=decision.status, attempts=number,
                     last_status_code=attempt.get("status_code"), last_error=attempt.get("error"))
        entry = {"url": url, "ticket_id": subject, "attempt": number, **attempt}
        if isinstance(decision, RetryAt):
            entry["retry_at"] = decision.at
        log, member, raw = keys.endpoint_log(url), keys.pending(subject, url), json.dumps(entry)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, url, json.dumps(state))
        pipe.rpush(keys.subject(subject) + ":attempts", raw)
        pipe.lpush(log, raw)
        pipe.ltrim(log, 0, ENDPOINT_LOG_SIZE - 1)
        if isinstance(decision, RetryAt):
            pipe.zadd(keys.PENDING_DELIVERIES, {member: decision.at})  # the sweeper resends it if nobody does
        else:
            pipe.zrem(keys.PENDING_DELIVERIES, member)
        if isinstance(decision, Disable):
            pipe.hset(keys.DISABLED_ENDPOINTS, url, json.dumps({"reason": decision.reason, "at": time.time()}))
        if isinstance(decision, DeadLetter):
            dead = {"ticket_id": subject, "url": url, "event_id": state.get("event_id"), "error": decision.error,
                    "at": time.time()}
            pipe.hset(keys.DEAD_LETTER, member, json.dumps(dead))
        outcome = {"delivered": "delivered", "pending": "retrying"}.get(decision.status, "failed")
        pipe.hincrby(keys.WEBHOOK_METRICS, outcome, 1)
        pipe.execute()
        return number

    @guarded
    def endpoint_log(self, url: str, *, limit: int = 50) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.r.lrange(keys.endpoint_log(url), 0, limit - 1)]

    @guarded
    def enable_endpoint(self, url: str) -> bool:
        return bool(self.r.hdel(keys.DISABLED_ENDPOINTS, url))

    @guarded
    def disabled_endpoints(self) -> dict[str, dict[str, Any]]:
        return {url: json.loads(v) for url, v in self.r.hgetall(keys.DISABLED_ENDPOINTS).items()}

    @guarded
    def dead_letters(self) -> list[dict[str, Any]]:
        return sorted((json.loads(v) for v in self.r.hvals(keys.DEAD_LETTER)), key=lambda e: e["at"])

    @guarded
    def unbury(self, ticket_id: str, url: str) -> bool:
        return bool(self.r.hdel(keys.DEAD_LETTER, keys.pending(ticket_id, url)))
