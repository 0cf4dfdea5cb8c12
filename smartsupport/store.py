"""The one ticket store, on Redis: tickets, their stage results, timestamps and webhook deliveries.

Layout (all keys under ``ss:``):
  ss:ticket:<id>             hash: ticket JSON, status, error, category, urgency, t:<event> timestamps
  ss:ticket:<id>:deliveries  hash: endpoint URL -> delivery state JSON
  ss:ticket:<id>:attempts    list: one JSON entry per webhook attempt (the delivery log)
  ss:tickets:created         zset: id -> created_at
  ss:tickets:urgency         zset: id -> urgency score (-1 until scored)
  ss:tickets:status:<s>      set: ids of the tickets in status s
  ss:metrics:stage:<stage>   hash: histogram bucket -> count, plus sum and count (all processes)
  ss:metrics:webhooks        hash: attempt outcome -> count
  ss:endpoint:<sha>:log      list: the newest ENDPOINT_LOG_SIZE attempts to one endpoint
  ss:webhooks:disabled       hash: endpoint URL -> why (it answered 410 Gone)
  ss:webhooks:dead           hash: "<subject> <url>" -> event whose attempts ran out
  ss:incident...             incidents: see smartsupport/incidents.py
  ss:idem:<scope>:<key>      string: {"ticket_id", "body"} for an Idempotency-Key, 24 h
  ss:corrections             hash: ticket id -> {"label", "text", "at"} confirmed by an operator
  ss:corrections:version     counter, bumped on every correction (workers refresh their examples)
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from typing import Any, Iterable, Sequence

import redis

from .errors import StoreUnavailable, TicketNotFound
from .ticket import STATUSES, Category, Ticket, Urgency, WebhookStatus

PREFIX = "ss:"
CORRECTIONS = PREFIX + "corrections"
CORRECTIONS_VERSION = PREFIX + "corrections:version"
CREATED = PREFIX + "tickets:created"
STAGE_METRICS = PREFIX + "metrics:stage:"
WEBHOOK_METRICS = PREFIX + "metrics:webhooks"
#: Upper bounds (ms) of the stage-latency histogram buckets kept in Redis for /metrics.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
DISABLED_ENDPOINTS = PREFIX + "webhooks:disabled"
SWEEP_LOCK = PREFIX + "sweeper:lock"
#: zset "<ticket id> <url>" -> when the pending delivery should next show progress
PENDING_DELIVERIES = PREFIX + "webhooks:pending"
IDEMPOTENCY_TTL_S = 24 * 3600
#: A key bound this long ago to a ticket that does not exist lost its ticket (the store went away
#: between the claim and the write, and the claim could not be released): the next request takes it.
#: Younger, the first request may still be writing its ticket.
STALE_CLAIM_S = 60
DEAD_LETTER = PREFIX + "webhooks:dead"
ENDPOINT_LOG_SIZE = 500
BY_URGENCY = PREFIX + "tickets:urgency"
#: Stage timings reported in the API: name -> (start event, end event).
STAGES = {
    "queue_wait": ("received", "classify_started"),
    "classify": ("classify_started", "classify_finished"),
    "score": ("score_started", "score_finished"),
    "notify": ("notify_started", "notify_finished"),
    "total": ("received", "done"),
}


def _key(ticket_id: str) -> str:
    return f"{PREFIX}ticket:{ticket_id}"


def _subject_key(subject: str) -> str:
    """Where a webhook subject's deliveries live: under its ticket, or under its incident event."""
    return PREFIX + subject if subject.startswith("incident:") else _key(subject)


def _open_delivery(pipe, subject: str, url: str, event_id: str, at: float) -> None:
    """Within a caller's pipeline: a pending delivery with no attempt yet, unless one exists, due at
    ``at`` unless an earlier run set its due time (the sweeper sends what nobody enqueued)."""
    state = {"url": url, "event_id": event_id, "status": WebhookStatus.PENDING.value, "attempts": 0}
    pipe.hsetnx(_subject_key(subject) + ":deliveries", url, json.dumps(state))
    pipe.zadd(PENDING_DELIVERIES, {f"{subject} {url}": at}, nx=True)


def _status_key(status: str) -> str:
    return f"{PREFIX}tickets:status:{status}"


def _set_status(pipe, ticket_id: str, status: str) -> None:
    assert status in STATUSES, status
    pipe.hset(_key(ticket_id), "status", status)
    for other in STATUSES:
        if other != status:
            pipe.srem(_status_key(other), ticket_id)
    pipe.sadd(_status_key(status), ticket_id)


def _add_stage_metrics(pipe, stamps: dict[str, float]) -> None:
    """Add a done ticket's stage timings to the shared histograms (the caller makes it once per ticket)."""
    for stage, (start, end) in STAGES.items():
        if start in stamps and end in stamps:
            ms = (stamps[end] - stamps[start]) * 1000.0
            bucket = next((str(b) for b in LATENCY_BUCKETS_MS if ms <= b), "+Inf")
            pipe.hincrby(STAGE_METRICS + stage, bucket, 1)
            pipe.hincrby(STAGE_METRICS + stage, "count", 1)
            pipe.hincrbyfloat(STAGE_METRICS + stage, "sum", ms)


def _endpoint_key(url: str) -> str:
    return f"{PREFIX}endpoint:{hashlib.sha256(url.encode()).hexdigest()[:16]}:log"


def _guarded(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            raise StoreUnavailable(f"Redis is unavailable: {exc}") from exc
    return wrapper


class TicketStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    @classmethod
    def from_url(cls, url: str) -> "TicketStore":
        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                                        health_check_interval=30, retry_on_timeout=True))

    @_guarded
    def ping(self) -> bool:
        return bool(self.r.ping())

    @_guarded
    def create(self, ticket: Ticket, *, job: Sequence[tuple[str, tuple]] = ()) -> None:
        """Store a new ticket as ``queued``, with ``job`` (the Redis commands that publish its first
        task, see workers.tasks.classify_job) in the same MULTI/EXEC: all of it or nothing. Without
        ``job``, the caller publishes right after, and deletes the ticket if that fails."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(_key(ticket.id), mapping={
            "ticket": json.dumps(ticket.to_dict()),
            "status": "queued",
            "t:received": repr(ticket.created_at),
            "t:queued": repr(time.time()),
        })
        pipe.zadd(CREATED, {ticket.id: ticket.created_at})
        pipe.zadd(BY_URGENCY, {ticket.id: -1})
        pipe.sadd(_status_key("queued"), ticket.id)
        for command, args in job:
            getattr(pipe, command)(*args)
        pipe.execute()

    @_guarded
    def claim_idempotency_key(self, scope: str, key: str, *, body_hash: str, ticket_id: str) -> tuple[str, str]:
        """Bind ``key`` to ``ticket_id`` unless it is bound already; return the bound (ticket id, body hash)."""
        name = f"{PREFIX}idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
        record = json.dumps({"ticket_id": ticket_id, "body": body_hash, "at": time.time()})
        if self.r.set(name, record, nx=True, ex=IDEMPOTENCY_TTL_S):
            return ticket_id, body_hash
        raw = self.r.get(name) or record
        bound = json.loads(raw)
        if (bound["ticket_id"] != ticket_id and time.time() - bound.get("at", 0) > STALE_CLAIM_S
                and not self.r.exists(_key(bound["ticket_id"]))):
            try:  # take the stale claim over, unless another request just did
                with self.r.pipeline() as pipe:
                    pipe.watch(name)
                    if pipe.get(name) == raw:
                        pipe.multi()
                        pipe.set(name, record, ex=IDEMPOTENCY_TTL_S)
                        pipe.execute()
                        return ticket_id, body_hash
            except redis.WatchError:
                pass
            bound = json.loads(self.r.get(name) or record)
        return bound["ticket_id"], bound["body"]

    @_guarded
    def release_idempotency_key(self, scope: str, key: str) -> None:
        self.r.delete(f"{PREFIX}idem:{scope}:{hashlib.sha256(key.encode()).hexdigest()}")

    @_guarded
    def delete(self, ticket_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(_key(ticket_id), _key(ticket_id) + ":deliveries", _key(ticket_id) + ":attempts")
        pipe.zrem(CREATED, ticket_id)
        pipe.zrem(BY_URGENCY, ticket_id)
        for status in STATUSES:
            pipe.srem(_status_key(status), ticket_id)
        pipe.execute()

    @_guarded
    def load(self, ticket_id: str) -> Ticket:
        raw = self.r.hget(_key(ticket_id), "ticket")
        if raw is None:
            raise TicketNotFound(ticket_id)
        return Ticket(**json.loads(raw))

    @_guarded
    def exists(self, ticket_id: str) -> bool:
        return bool(self.r.exists(_key(ticket_id)))

    @_guarded
    def mark(self, ticket_id: str, event: str, *, status: str | None = None, now: float | None = None,
             worker: str | None = None) -> None:
        """Record that ``event`` happened now (first time wins), optionally moving the status and
        naming the worker that did it."""
        key = _key(ticket_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hsetnx(key, f"t:{event}", repr(time.time() if now is None else now))
        if worker:
            pipe.hset(key, f"w:{event.rsplit('_', 1)[0]}", worker)
        if status:
            _set_status(pipe, ticket_id, status)
        pipe.execute()

    @_guarded
    def start_classifying(self, ticket_ids: list[str], *, worker: str | None = None) -> tuple[list[str], list[Ticket]]:
        """For a batch, in two round trips: the ids that still exist, and the tickets among them not
        classified yet, now marked ``processing`` (classify_started)."""
        rows = self._existing(ticket_ids, "category")
        existing = [tid for tid, _ in rows]
        todo = [Ticket(**json.loads(raw)) for _, (raw, category) in rows if category is None]
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket in todo:
            pipe.hsetnx(_key(ticket.id), "t:classify_started", now)
            if worker:
                pipe.hset(_key(ticket.id), "w:classify", worker)
            _set_status(pipe, ticket.id, "processing")
        pipe.execute()
        return existing, todo

    @_guarded
    def save_categories(self, results: Iterable[tuple[str, Category, float | None]]) -> None:
        """Store a batch's categories (and semantic severities) and mark them classified, in one MULTI."""
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket_id, category, severity in results:
            fields = {"category": json.dumps(category.to_dict())}
            if severity is not None:
                fields["severity"] = json.dumps(float(severity))
            pipe.hset(_key(ticket_id), mapping=fields)
            pipe.hsetnx(_key(ticket_id), "t:classify_finished", now)
        pipe.execute()

    @_guarded
    def to_score(self, ticket_ids: list[str]) -> tuple[list[str], list[tuple[Ticket, float | None]]]:
        """For a batch, in one round trip: the ids that still exist, and the tickets among them not
        scored yet, each with the model's semantic severity (None when it made none)."""
        rows = self._existing(ticket_ids, "urgency", "severity")
        todo = [(Ticket(**json.loads(raw)), None if severity is None else json.loads(severity))
                for _, (raw, scored, severity) in rows if scored is None]
        return [tid for tid, _ in rows], todo

    @_guarded
    def save_urgencies(self, results: Iterable[tuple[str, Urgency]], *, started: float,
                       worker: str | None = None) -> None:
        """Store a batch's urgencies, with the score stage's timestamps, in one MULTI."""
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket_id, urgency in results:
            key = _key(ticket_id)
            pipe.hsetnx(key, "t:score_started", repr(started))
            if worker:
                pipe.hset(key, "w:score", worker)
            pipe.hset(key, "urgency", json.dumps(urgency.to_dict()))
            pipe.zadd(BY_URGENCY, {ticket_id: urgency.score})
            pipe.hsetnx(key, "t:score_finished", now)
        pipe.execute()

    @_guarded
    def to_notify(self, ticket_ids: list[str]) -> dict[str, tuple[dict[str, Any] | None, str | None]]:
        """For a batch, in one round trip: each existing ticket's urgency (None if not scored) and incident."""
        return {tid: (None if urgency is None else json.loads(urgency), incident)
                for tid, (_, urgency, incident) in self._existing(ticket_ids, "urgency", "incident")}

    def _existing(self, ticket_ids: list[str], *fields: str) -> list[tuple[str, list[str | None]]]:
        """``(id, [ticket JSON, *fields])`` of each ticket that still exists, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hmget(_key(tid), ["ticket", *fields])
        return [(tid, row) for tid, row in zip(ticket_ids, pipe.execute()) if row[0] is not None]

    @_guarded
    def finish_tickets(self, plans: Iterable[tuple[str, str, tuple[str, ...], str | None]], *, started: float,
                       worker: str | None = None) -> list[tuple[str, str]]:
        """Notify's writes for a batch of ``(ticket id, event id, urls to deliver to, covering incident)``:
        the stage's timestamps, the incident cover, the deliveries opened (pending) and the ticket
        ``done``, in one MULTI; then the stage metrics of the tickets done for the first time.
        Returns the ``(ticket id, url)`` deliveries that had no attempt yet: opened now, or opened by
        an earlier run that died before sending them."""
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        deliveries, gates = [], []  # (ticket id, url, reply index), (reply index of the gate, of the record)
        for ticket_id, event_id, urls, incident in plans:
            key = _key(ticket_id)
            pipe.hsetnx(key, "t:notify_started", repr(started))
            if worker:
                pipe.hset(key, "w:notify", worker)
            if incident:
                pipe.hset(key, "webhook_covered", incident)
            for url in urls:
                _open_delivery(pipe, ticket_id, url, event_id, now)
                deliveries.append((ticket_id, url, len(pipe)))
                pipe.hget(key + ":deliveries", url)
            pipe.hsetnx(key, "t:notify_finished", repr(now))
            pipe.hsetnx(key, "t:done", repr(now))
            _set_status(pipe, ticket_id, "done")
            gates.append(len(pipe))
            pipe.hsetnx(key, "metrics_recorded", "1")
            pipe.hgetall(key)
        replies = pipe.execute()
        to_send = [(tid, url) for tid, url, i in deliveries if int(json.loads(replies[i]).get("attempts", 0)) == 0]
        # Counted once per ticket: only by the run that set metrics_recorded.
        first_done = [replies[i + 1] for i in gates if replies[i]]
        # (Should Redis go away just now, these tickets' timings are left out of the histograms.)
        pipe = self.r.pipeline(transaction=False)
        for raw in first_done:
            _add_stage_metrics(pipe, {k[2:]: float(v) for k, v in raw.items() if k.startswith("t:")})
        pipe.execute()
        return to_send

    @_guarded
    def fail(self, ticket_id: str, reason: str) -> None:
        """Mark the ticket failed, with the reason; a ticket that is done (or deleted) stays as it is."""
        if self.r.hget(_key(ticket_id), "status") in (None, "done"):
            return  # deleted meanwhile, or finished by an earlier run of a redelivered batch
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(_key(ticket_id), "error", reason[:2000])
        _set_status(pipe, ticket_id, "failed")
        pipe.hsetnx(_key(ticket_id), "t:failed", repr(time.time()))
        pipe.execute()

    # -- metrics ------------------------------------------------------------------------------

    @_guarded
    def metrics_snapshot(self, queues: Iterable[str]) -> dict[str, Any]:
        """Everything /metrics reports from Redis, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for status in STATUSES:
            pipe.scard(_status_key(status))
        for stage in STAGES:
            pipe.hgetall(STAGE_METRICS + stage)
        pipe.hgetall(WEBHOOK_METRICS)
        queues = list(queues)
        for queue in queues:
            pipe.llen(queue)
        raw = pipe.execute()
        n, m = len(STATUSES), len(STAGES)
        return {
            "statuses": dict(zip(STATUSES, raw[:n])),
            "stages": dict(zip(STAGES, raw[n:n + m])),
            "webhooks": {k: int(v) for k, v in raw[n + m].items()},
            "queues": dict(zip(queues, raw[n + m + 1:])),
        }

    # -- recovery -----------------------------------------------------------------------------

    @_guarded
    def reset_for_retry(self, ticket_id: str) -> None:
        """A failed ticket goes back to ``queued``; stages that succeeded keep their results."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(_key(ticket_id), "error", "t:failed", "t:done", "metrics_recorded")
        _set_status(pipe, ticket_id, "queued")
        pipe.hincrby(_key(ticket_id), "retries", 1)
        pipe.execute()

    @_guarded
    def stuck(self, *, older_than_s: float, now: float | None = None) -> list[str]:
        """Tickets queued or processing for longer than ``older_than_s`` since they arrived or were
        last re-queued by the sweeper."""
        cutoff = (time.time() if now is None else now) - older_than_s
        ids = list(self.r.sunion(_status_key("queued"), _status_key("processing")))
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(_key(tid), ["t:received", "swept_at"])
        return [tid for tid, stamps in zip(ids, pipe.execute())
                if stamps[0] and max(float(v) for v in stamps if v) < cutoff]

    @_guarded
    def count_sweep(self, ticket_id: str, *, now: float | None = None) -> int:
        """Note that the sweeper re-queued the ticket now; return how often it did."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(_key(ticket_id), "sweeps", 1)
        pipe.hset(_key(ticket_id), "swept_at", repr(time.time() if now is None else now))
        return int(pipe.execute()[0])

    @_guarded
    def sweep_lock(self, *, ttl_s: int) -> bool:
        """True for the one sweeper that may run now (across every worker host)."""
        return bool(self.r.set(SWEEP_LOCK, "1", nx=True, ex=ttl_s))

    # -- corrections --------------------------------------------------------------------------

    @_guarded
    def correct(self, ticket_id: str, label: str, *, now: float | None = None) -> None:
        """Record an operator's label for a ticket: the ticket shows it and it becomes an example."""
        raw = self.r.hmget(_key(ticket_id), ["ticket", "category"])
        if raw[0] is None:
            raise TicketNotFound(ticket_id)
        ticket = Ticket(**json.loads(raw[0]))
        category = json.loads(raw[1]) if raw[1] else {"scores": {}, "confidence": None, "model": ""}
        category.setdefault("original_label", category.get("label"))
        category.update(label=label, corrected=True, needs_review=False)
        entry = {"label": label, "text": ticket.text, "at": time.time() if now is None else now}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(_key(ticket_id), "category", json.dumps(category))
        pipe.hset(CORRECTIONS, ticket_id, json.dumps(entry))
        pipe.incr(CORRECTIONS_VERSION)
        pipe.execute()

    @_guarded
    def corrections_version(self) -> int:
        return int(self.r.get(CORRECTIONS_VERSION) or 0)

    @_guarded
    def corrections(self) -> list[tuple[str, str]]:
        """All ``(label, text)`` pairs operators confirmed, oldest first."""
        entries = sorted((json.loads(v) for v in self.r.hvals(CORRECTIONS)), key=lambda e: e["at"])
        return [(e["label"], e["text"]) for e in entries]

    # -- webhook deliveries -------------------------------------------------------------------

    # A delivery belongs to a *subject*: a ticket id (its ticket.urgent event) or an incident event
    # ("incident:<id>:event:<name>"); every method below takes either.

    @staticmethod
    def stage_event(pipe, subject: str, event_id: str, payload: dict[str, Any], urls: Iterable[str]) -> None:
        """Within a caller's MULTI: keep an event's payload and open its deliveries, so that the event
        exists exactly when the change it reports does (the sweeper sends what nobody enqueued)."""
        pipe.hset(_subject_key(subject), "payload", json.dumps(payload))
        for url in urls:
            _open_delivery(pipe, subject, url, event_id, time.time())

    @_guarded
    def event_payload(self, subject: str) -> dict[str, Any] | None:
        """The payload kept for an incident event (ticket events are built from the ticket)."""
        raw = self.r.hget(_subject_key(subject), "payload")
        return None if raw is None else json.loads(raw)

    @_guarded
    def deliveries(self, subject: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """A subject's delivery states and its attempt log."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hvals(_subject_key(subject) + ":deliveries")
        pipe.lrange(_subject_key(subject) + ":attempts", 0, -1)
        states, attempts = pipe.execute()
        return [json.loads(s) for s in states], [json.loads(a) for a in attempts]

    @_guarded
    def expect_delivery(self, ticket_id: str, url: str, *, at: float) -> None:
        """Note when a pending delivery should next make progress (the sweeper checks)."""
        self.r.zadd(PENDING_DELIVERIES, {f"{ticket_id} {url}": at})

    @_guarded
    def forget_overdue(self, ticket_id: str, url: str) -> None:
        """The delivery is settled (delivered or failed): the sweeper has nothing to send."""
        self.r.zrem(PENDING_DELIVERIES, f"{ticket_id} {url}")

    @_guarded
    def overdue_deliveries(self, *, older_than_s: float) -> list[tuple[str, str]]:
        """Pending deliveries that made no progress for ``older_than_s`` past their due time."""
        members = self.r.zrangebyscore(PENDING_DELIVERIES, 0, time.time() - older_than_s)
        return [tuple(m.split(" ", 1)) for m in members]

    @_guarded
    def reopen_delivery(self, ticket_id: str, url: str, event_id: str) -> None:
        """Make a delivery pending again (an operator's redeliver), keeping its attempt count."""
        key = _subject_key(ticket_id) + ":deliveries"
        state = json.loads(self.r.hget(key, url) or "{}")
        state.setdefault("attempts", 0)
        # A new round of attempts: the retry budget counts from here.
        state.update(url=url, event_id=event_id, status=WebhookStatus.PENDING.value, round_start=state["attempts"])
        self.r.hset(key, url, json.dumps(state))
        self.expect_delivery(ticket_id, url, at=time.time())

    @_guarded
    def delivery_status(self, ticket_id: str, url: str) -> str | None:
        raw = self.r.hget(_subject_key(ticket_id) + ":deliveries", url)
        return None if raw is None else json.loads(raw)["status"]

    @_guarded
    def delivery(self, ticket_id: str, url: str) -> dict[str, Any] | None:
        raw = self.r.hget(_subject_key(ticket_id) + ":deliveries", url)
        return None if raw is None else json.loads(raw)

    @_guarded
    def record_attempt(self, ticket_id: str, url: str, attempt: dict[str, Any], *, status: str) -> int:
        """Append one attempt to the ticket's and the endpoint's logs; return the attempt number."""
        key = _subject_key(ticket_id) + ":deliveries"
        state = json.loads(self.r.hget(key, url) or "{}") or {"url": url}
        number = int(state.get("attempts", 0)) + 1
        state.update(status=status, attempts=number,
                     last_status_code=attempt.get("status_code"), last_error=attempt.get("error"))
        entry = json.dumps({"url": url, "ticket_id": ticket_id, "attempt": number, **attempt})
        log = _endpoint_key(url)
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, url, json.dumps(state))
        pipe.rpush(_subject_key(ticket_id) + ":attempts", entry)
        pipe.lpush(log, entry)
        pipe.ltrim(log, 0, ENDPOINT_LOG_SIZE - 1)
        if status == WebhookStatus.PENDING.value:
            pipe.zadd(PENDING_DELIVERIES, {f"{ticket_id} {url}": time.time()})
        else:
            pipe.zrem(PENDING_DELIVERIES, f"{ticket_id} {url}")
        outcome = "delivered" if status == "delivered" else "retrying" if status == "pending" else "failed"
        pipe.hincrby(WEBHOOK_METRICS, outcome, 1)
        pipe.execute()
        return number

    @_guarded
    def endpoint_log(self, url: str, *, limit: int = 50) -> list[dict[str, Any]]:
        return [json.loads(e) for e in self.r.lrange(_endpoint_key(url), 0, limit - 1)]

    @_guarded
    def disable_endpoint(self, url: str, reason: str) -> None:
        self.r.hset(DISABLED_ENDPOINTS, url, json.dumps({"reason": reason, "at": time.time()}))

    @_guarded
    def enable_endpoint(self, url: str) -> bool:
        return bool(self.r.hdel(DISABLED_ENDPOINTS, url))

    @_guarded
    def disabled_endpoints(self) -> dict[str, dict[str, Any]]:
        return {url: json.loads(v) for url, v in self.r.hgetall(DISABLED_ENDPOINTS).items()}

    @_guarded
    def bury(self, ticket_id: str, url: str, event_id: str, error: str | None) -> None:
        """Put an event whose attempts ran out on the dead-letter list."""
        entry = {"ticket_id": ticket_id, "url": url, "event_id": event_id, "error": error, "at": time.time()}
        self.r.hset(DEAD_LETTER, f"{ticket_id} {url}", json.dumps(entry))

    @_guarded
    def dead_letters(self) -> list[dict[str, Any]]:
        return sorted((json.loads(v) for v in self.r.hvals(DEAD_LETTER)), key=lambda e: e["at"])

    @_guarded
    def unbury(self, ticket_id: str, url: str) -> bool:
        return bool(self.r.hdel(DEAD_LETTER, f"{ticket_id} {url}"))

    # -- reading ------------------------------------------------------------------------------

    @_guarded
    def get(self, ticket_id: str) -> dict[str, Any]:
        """The ticket as the API shows it."""
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(_key(ticket_id))
        pipe.hgetall(_key(ticket_id) + ":deliveries")
        pipe.lrange(_key(ticket_id) + ":attempts", 0, -1)
        raw, deliveries, attempts = pipe.execute()
        if not raw or "ticket" not in raw:
            raise TicketNotFound(ticket_id)
        return present(raw, deliveries, attempts)

    @_guarded
    def list(self, *, sort: str = "urgency", status: str | None = None, limit: int = 50,
             submitter: str | None = None) -> list[dict[str, Any]]:
        """Newest or most urgent tickets first, optionally only one status or one submitter's."""
        index = BY_URGENCY if sort == "urgency" else CREATED
        found: list[dict[str, Any]] = []
        start, page = 0, max(limit * 2, 50)
        while len(found) < limit:
            ids = self.r.zrevrange(index, start, start + page - 1)
            if not ids:
                break
            start += page
            for view in self._present_many(ids):
                if status and view["status"] != status:
                    continue
                if submitter and view["submitter"] != submitter:
                    continue
                found.append(view)
                if len(found) == limit:
                    break
        return found

    def _present_many(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.hgetall(_key(tid))
            pipe.hgetall(_key(tid) + ":deliveries")
        raw = pipe.execute()
        return [present(raw[i], raw[i + 1], []) for i in range(0, len(raw), 2) if raw[i].get("ticket")]


def present(raw: dict[str, str], deliveries: dict[str, str], attempts: list[str]) -> dict[str, Any]:
    """Turn a ticket's Redis records into its API representation."""
    ticket = json.loads(raw["ticket"])
    stamps = {k[2:]: float(v) for k, v in raw.items() if k.startswith("t:")}
    timings = {}
    for stage, (start, end) in STAGES.items():
        if start in stamps and end in stamps:
            timings[stage] = round((stamps[end] - stamps[start]) * 1000.0, 2)
    states = [json.loads(v) for v in deliveries.values()]
    return {
        "id": ticket["id"],
        "status": raw.get("status", "queued"),
        "error": raw.get("error"),
        "subject": ticket["subject"],
        "body": ticket["body"],
        "customer": ticket["customer"],
        "metadata": ticket["metadata"],
        "submitter": ticket.get("submitter", ""),
        "created_at": ticket["created_at"],
        "category": json.loads(raw["category"]) if "category" in raw else None,
        "urgency": json.loads(raw["urgency"]) if "urgency" in raw else None,
        "webhook": _webhook_summary(raw, states, [json.loads(a) for a in attempts]),
        "timestamps": stamps,
        "timings_ms": timings,
        "workers": {k[2:]: v for k, v in raw.items() if k.startswith("w:")},
        "incident": raw.get("incident"),
    }


def _webhook_summary(raw: dict[str, str], states: list[dict], attempts: list[dict]) -> dict[str, Any]:
    if not states and "webhook_covered" in raw:
        # A member of an incident: the incident's events stand for its own.
        return {"status": WebhookStatus.NOT_NEEDED.value, "attempts": 0, "event_id": None, "endpoints": [],
                "log": [], "covered_by_incident": raw["webhook_covered"]}
    if not states:
        # Undecided until notify has run; a ticket that failed before it will never need one.
        decided = "t:notify_finished" in raw or raw.get("status") == "failed"
        status = WebhookStatus.NOT_NEEDED.value if decided else WebhookStatus.PENDING.value
    else:
        kinds = {s["status"] for s in states}
        if kinds == {WebhookStatus.DELIVERED.value}:
            status = WebhookStatus.DELIVERED.value
        elif WebhookStatus.PENDING.value in kinds:
            status = WebhookStatus.PENDING.value
        else:
            status = WebhookStatus.FAILED.value
    return {
        "status": status,
        "attempts": sum(int(s.get("attempts", 0)) for s in states),
        "event_id": states[0].get("event_id") if states else None,
        "endpoints": states,
        "log": attempts,
    }
