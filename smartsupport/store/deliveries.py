"""Webhook deliveries: one per event and endpoint, with its attempts, dead letters and disabled endpoints.

A delivery belongs to a *subject*: a ticket id (its own event), an incident event
("incident:<id>:event:<name>") or an SLA event ("sla:<id>:event:<name>"); every method below takes
any of them.

  ss:ticket:<id>:deliveries  hash: endpoint URL -> delivery state JSON (and an event's, under its subject)
  ss:ticket:<id>:attempts    list: one JSON entry per attempt (the delivery log)
  ss:<event subject>         hash: an incident or SLA event's payload
  ss:endpoint:<sha>:log      list: the newest ENDPOINT_LOG_SIZE attempts to one endpoint
  ss:webhooks:disabled       hash: endpoint URL -> why (it answered 410 Gone)
  ss:webhooks:dead           hash: "<subject> <url>" -> event whose attempts ran out
  ss:webhooks:pending        zset: "<subject> <url>" -> when the pending delivery should next show progress
  ss:metrics:webhooks        hash: attempt outcome -> count (read by metrics.py)
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterable

from ..delivery import DeadLetter, Decision, Disable, RetryAt
from ..ticket import WebhookStatus
from . import keys
from .base import Part, guarded
from .transaction import Reply, Transaction

ENDPOINT_LOG_SIZE = 500


class Deliveries(Part):
    def open(self, tx: Transaction, subject: str, url: str, event_id: str, at: float) -> Reply[bool]:
        """Within ``tx``: a pending delivery with no attempt yet, unless one exists, due at ``at``
        unless an earlier run set its due time (the sweeper sends what nobody enqueued). The reply:
        whether it has had no attempt yet (opened now, or by an earlier run that died before sending)."""
        _open(tx.pipe, subject, url, event_id, at)
        unsent = tx.next_reply(lambda raw: int(json.loads(raw).get("attempts", 0)) == 0)
        tx.pipe.hget(_states(subject), url)
        return unsent

    def stage_event(self, tx: Transaction, subject: str, event_id: str, payload: dict[str, Any],
                    urls: Iterable[str]) -> None:
        """Within ``tx``: keep an event's payload and open its deliveries, so that the event exists
        exactly when the change it reports does (the sweeper sends what nobody enqueued)."""
        tx.pipe.hset(keys.subject(subject), "payload", json.dumps(payload))
        for url in urls:
            _open(tx.pipe, subject, url, event_id, time.time())

    @guarded
    def endpoints(self, subjects: list[str]) -> dict[str, list[str]]:
        """The endpoints each subject has a delivery to, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for subject in subjects:
            pipe.hkeys(_states(subject))
        return dict(zip(subjects, pipe.execute()))

    def forget(self, tx: Transaction, subject: str, urls: Iterable[str]) -> None:
        """Within ``tx``: a deleted ticket's deliveries, attempt log, overdue marks and dead letters."""
        tx.pipe.delete(_states(subject), _attempts(subject))
        for url in urls:
            tx.pipe.zrem(keys.PENDING_DELIVERIES, keys.pending(subject, url))
            tx.pipe.hdel(keys.DEAD_LETTER, keys.pending(subject, url))

    def forget_event(self, tx: Transaction, subject: str) -> None:
        """Within ``tx``: an expired incident event's payload, deliveries and attempt log."""
        tx.pipe.delete(keys.subject(subject), _states(subject), _attempts(subject))

    @guarded
    def event_payload(self, subject: str) -> dict[str, Any] | None:
        """The payload kept for an incident event (ticket events are built from the ticket)."""
        raw = self.r.hget(keys.subject(subject), "payload")
        return None if raw is None else json.loads(raw)

    @guarded
    def of(self, subject: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A subject's delivery states and its attempt log."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hvals(_states(subject))
        pipe.lrange(_attempts(subject), 0, -1)
        states, attempts = pipe.execute()
        return [json.loads(s) for s in states], [json.loads(a) for a in attempts]

    @guarded
    def expect(self, ticket_id: str, url: str, *, at: float) -> None:
        """Note when a pending delivery should next make progress (the sweeper checks)."""
        self.r.zadd(keys.PENDING_DELIVERIES, {keys.pending(ticket_id, url): at})

    @guarded
    def forget_overdue(self, ticket_id: str, url: str) -> None:
        """The delivery is settled (delivered or failed): the sweeper has nothing to send."""
        self.r.zrem(keys.PENDING_DELIVERIES, keys.pending(ticket_id, url))

    @guarded
    def overdue(self, *, older_than_s: float) -> list[tuple[str, str]]:
        """Pending deliveries that made no progress for ``older_than_s`` past their due time."""
        members = self.r.zrangebyscore(keys.PENDING_DELIVERIES, 0, time.time() - older_than_s)
        return [tuple(m.split(" ", 1)) for m in members]

    @guarded
    def reopen(self, ticket_id: str, url: str, event_id: str) -> None:
        """Make a delivery pending again (an operator's redeliver), keeping its attempt count."""
        key = _states(ticket_id)
        state = json.loads(self.r.hget(key, url) or "{}")
        state.setdefault("attempts", 0)
        # A new round of attempts: the retry budget counts from here.
        state.update(url=url, event_id=event_id, status=WebhookStatus.PENDING.value, round_start=state["attempts"])
        self.r.hset(key, url, json.dumps(state))
        self.expect(ticket_id, url, at=time.time())

    @guarded
    def state(self, ticket_id: str, url: str) -> dict[str, Any] | None:
        raw = self.r.hget(_states(ticket_id), url)
        return None if raw is None else json.loads(raw)

    @guarded
    def record_attempt(self, subject: str, url: str, attempt: dict[str, Any], decision: Decision) -> int:
        """Append one attempt to the subject's and the endpoint's logs and carry out what was decided
        about it (the retry's due time, the dead letter, the disabled endpoint), in one MULTI.
        Returns the attempt number."""
        key = _states(subject)
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
        pipe.rpush(_attempts(subject), raw)
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

    @guarded
    def trim_dead_letters(self, *, older_than_s: float, now: float | None = None) -> int:
        """Forget dead letters older than ``older_than_s``; returns how many."""
        cutoff = (time.time() if now is None else now) - older_than_s
        old = [field for field, raw in self.r.hgetall(keys.DEAD_LETTER).items() if json.loads(raw)["at"] < cutoff]
        return self.r.hdel(keys.DEAD_LETTER, *old) if old else 0


def _states(subject: str) -> str:
    return keys.subject(subject) + ":deliveries"


def _attempts(subject: str) -> str:
    return keys.subject(subject) + ":attempts"


def _open(pipe, subject: str, url: str, event_id: str, at: float) -> None:
    state = {"url": url, "event_id": event_id, "status": WebhookStatus.PENDING.value, "attempts": 0}
    pipe.hsetnx(_states(subject), url, json.dumps(state))
    pipe.zadd(keys.PENDING_DELIVERIES, {keys.pending(subject, url): at}, nx=True)
