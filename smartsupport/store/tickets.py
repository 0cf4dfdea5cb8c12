"""A ticket's life in the store: created queued, each stage's result saved, done or failed."""

from __future__ import annotations

import json
import time
from typing import Iterable, Sequence

from ..errors import TicketNotFound
from ..ticket import Category, Ticket, Urgency
from . import indexes, keys
from .base import StoreBase, guarded
from .deliveries import open_delivery
from .metrics import add_stage_metrics
from .mail import forget_mail
from .routes import stage_route, unroute


class Tickets(StoreBase):
    @guarded
    def create(self, ticket: Ticket, *, job: Sequence[tuple[str, tuple]] = (), outbox: bool = False) -> None:
        """Store a new ticket as ``queued``, with ``job`` (the Redis commands that publish its first
        task, see workers.pipeline.enqueue_new_ticket) in the same MULTI/EXEC: all of it or nothing.
        With ``outbox``, the ticket enters the outbox in the same MULTI instead: the caller publishes
        right after and takes it out (``leave_outbox``), or the outbox's drain publishes it later."""
        now = time.time()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.ticket(ticket.id), mapping={
            "ticket": json.dumps(ticket.to_dict()),
            "status": "queued",
            "submitter": ticket.submitter,
            "t:received": repr(ticket.created_at),
            "t:queued": repr(now),
        })
        indexes.add(pipe, ticket)
        if outbox:
            pipe.zadd(keys.OUTBOX, {ticket.id: now})
        for command, args in job:
            getattr(pipe, command)(*args)
        pipe.execute()

    @guarded
    def delete(self, ticket_id: str) -> None:
        self.delete_tickets([ticket_id])

    @guarded
    def delete_tickets(self, ticket_ids: list[str]) -> None:
        """Delete tickets with everything kept about them: deliveries, attempts, dead letters, places
        in every index and incident, in one MULTI."""
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hmget(keys.ticket(tid), ["submitter", "incident", "route", "mail_ids"])
            pipe.hkeys(keys.ticket(tid) + ":deliveries")
        replies = pipe.execute()
        pipe = self.r.pipeline(transaction=True)
        for tid, (submitter, incident, route, mail_ids), urls in zip(ticket_ids, replies[::2], replies[1::2]):
            key = keys.ticket(tid)
            pipe.delete(key, key + ":deliveries", key + ":attempts", key + ":replies")
            unroute(pipe, tid, route)
            forget_mail(pipe, mail_ids)
            indexes.remove(pipe, tid, submitter or "")
            pipe.zrem(keys.OUTBOX, tid)
            for url in urls:
                pipe.zrem(keys.PENDING_DELIVERIES, keys.pending(tid, url))
                pipe.hdel(keys.DEAD_LETTER, keys.pending(tid, url))
            if incident:
                pipe.zrem(f"{keys.PREFIX}incident:{incident}:members", tid)
        pipe.execute()

    @guarded
    def load(self, ticket_id: str) -> Ticket:
        raw = self.r.hget(keys.ticket(ticket_id), "ticket")
        if raw is None:
            raise TicketNotFound(ticket_id)
        return Ticket(**json.loads(raw))

    @guarded
    def exists(self, ticket_id: str) -> bool:
        return bool(self.r.exists(keys.ticket(ticket_id)))

    @guarded
    def mark(self, ticket_id: str, event: str, *, status: str | None = None, now: float | None = None,
             worker: str | None = None) -> None:
        """Record that ``event`` happened now (first time wins), optionally moving the status and
        naming the worker that did it."""
        key = keys.ticket(ticket_id)
        pipe = self.r.pipeline(transaction=True)
        pipe.hsetnx(key, f"t:{event}", repr(time.time() if now is None else now))
        if worker:
            pipe.hset(key, f"w:{event.rsplit('_', 1)[0]}", worker)
        if status:
            indexes.move(pipe, ticket_id, status)
        pipe.execute()

    @guarded
    def start_classifying(self, ticket_ids: list[str], *, worker: str | None = None) -> tuple[list[str], list[Ticket]]:
        """For a batch, in two round trips: the ids that still exist, and the tickets among them not
        classified yet, now marked ``processing`` (classify_started)."""
        rows = self._existing(ticket_ids, "category")
        existing = [tid for tid, _ in rows]
        todo = [Ticket(**json.loads(raw)) for _, (raw, category) in rows if category is None]
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket in todo:
            pipe.hsetnx(keys.ticket(ticket.id), "t:classify_started", now)
            if worker:
                pipe.hset(keys.ticket(ticket.id), "w:classify", worker)
            indexes.move(pipe, ticket.id, "processing")
        pipe.execute()
        return existing, todo

    @guarded
    def save_categories(self, results: Iterable[tuple[str, Category, float | None]]) -> None:
        """Store a batch's categories (and semantic severities) and mark them classified, in one MULTI."""
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket_id, category, severity in results:
            fields = {"category": json.dumps(category.to_dict())}
            if severity is not None:
                fields["severity"] = json.dumps(float(severity))
            pipe.hset(keys.ticket(ticket_id), mapping=fields)
            pipe.hsetnx(keys.ticket(ticket_id), "t:classify_finished", now)
        pipe.execute()

    @guarded
    def to_score(self, ticket_ids: list[str]) -> tuple[list[str], list[tuple[Ticket, float | None]]]:
        """For a batch, in one round trip: the ids that still exist, and the tickets among them not
        scored yet, each with the model's semantic severity (None when it made none)."""
        rows = self._existing(ticket_ids, "urgency", "severity")
        todo = [(Ticket(**json.loads(raw)), None if severity is None else json.loads(severity))
                for _, (raw, scored, severity) in rows if scored is None]
        return [tid for tid, _ in rows], todo

    @guarded
    def severity_of(self, ticket_id: str) -> float | None:
        """The model's semantic severity of a ticket (None when it made none)."""
        raw = self.r.hget(keys.ticket(ticket_id), "severity")
        return None if raw is None else json.loads(raw)

    @guarded
    def save_urgencies(self, results: Iterable[tuple[str, Urgency]], *, started: float,
                       worker: str | None = None) -> None:
        """Store a batch's urgencies, with the score stage's timestamps, in one MULTI."""
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket_id, urgency in results:
            key = keys.ticket(ticket_id)
            pipe.hsetnx(key, "t:score_started", repr(started))
            if worker:
                pipe.hset(key, "w:score", worker)
            pipe.hset(key, "urgency", json.dumps(urgency.to_dict()))
            indexes.rescore(pipe, ticket_id, urgency.score)
            pipe.hsetnx(key, "t:score_finished", now)
        pipe.execute()

    @guarded
    def to_route(self, ticket_ids: list[str]) -> dict[str, tuple[Ticket, dict | None, dict | None, str | None]]:
        """For a batch, in one round trip: each existing ticket, its category and urgency (None when
        not there yet) and incident."""
        return {tid: (Ticket(**json.loads(raw)), *(None if v is None else json.loads(v) for v in (category, urgency)),
                      incident)
                for tid, (raw, category, urgency, incident) in self._existing(ticket_ids, "category", "urgency",
                                                                              "incident")}

    @guarded
    def finish_tickets(self, plans: Iterable[tuple], *, started: float,
                       worker: str | None = None, now: float | None = None) -> list[tuple[str, str]]:
        """Notify's writes for a batch of ``(ticket id, event id, urls to deliver to, covering incident,
        route)``: the stage's timestamps, the incident cover, the route (kept once: a run again keeps
        the first), the deliveries opened (pending) and the ticket ``done``, in one MULTI; then the
        stage metrics of the tickets done for the first time.
        Returns the ``(ticket id, url)`` deliveries that had no attempt yet: opened now, or opened by
        an earlier run that died before sending them."""
        now = time.time() if now is None else now
        pipe = self.r.pipeline(transaction=True)
        deliveries, gates = [], []  # (ticket id, url, reply index), (reply index of the gate, of the record)
        plans = list(plans)
        routed = self._routed([p[0] for p in plans if len(p) > 4 and p[4]])
        for ticket_id, event_id, urls, incident, *rest in plans:
            key = keys.ticket(ticket_id)
            route = rest[0] if rest else None
            if route and ticket_id not in routed:
                record, score, created_at = route
                stage_route(pipe, ticket_id, record, score=score, created_at=created_at)
            pipe.hsetnx(key, "t:notify_started", repr(started))
            if worker:
                pipe.hset(key, "w:notify", worker)
            if incident:
                pipe.hset(key, "webhook_covered", incident)
            for url in urls:
                open_delivery(pipe, ticket_id, url, event_id, now)
                deliveries.append((ticket_id, url, len(pipe)))
                pipe.hget(key + ":deliveries", url)
            pipe.hsetnx(key, "t:notify_finished", repr(now))
            pipe.hsetnx(key, "t:done", repr(now))
            indexes.move(pipe, ticket_id, "done")
            pipe.zadd(keys.FINISHED, {ticket_id: now}, nx=True)
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
            add_stage_metrics(pipe, {k[2:]: float(v) for k, v in raw.items() if k.startswith("t:")})
        pipe.execute()
        return to_send

    def _routed(self, ticket_ids: list[str]) -> set[str]:
        """Those of the tickets that have a route already (notify ran for them before)."""
        if not ticket_ids:
            return set()
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hexists(keys.ticket(tid), "route")
        return {tid for tid, has in zip(ticket_ids, pipe.execute()) if has}

    @guarded
    def fail(self, ticket_id: str, reason: str, *, now: float | None = None) -> None:
        """Mark the ticket failed, with the reason; a ticket that is done (or deleted) stays as it is."""
        if self.r.hget(keys.ticket(ticket_id), "status") in (None, "done"):
            return  # deleted meanwhile, or finished by an earlier run of a redelivered batch
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.ticket(ticket_id), "error", reason[:2000])
        indexes.move(pipe, ticket_id, "failed")
        pipe.zadd(keys.FINISHED, {ticket_id: time.time() if now is None else now})
        pipe.hsetnx(keys.ticket(ticket_id), "t:failed", repr(time.time()))
        pipe.execute()

    @guarded
    def reset_for_retry(self, ticket_id: str) -> None:
        """A failed ticket goes back to ``queued``; stages that succeeded keep their results."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hdel(keys.ticket(ticket_id), "error", "t:failed", "t:done", "metrics_recorded")
        indexes.move(pipe, ticket_id, "queued")
        pipe.zrem(keys.FINISHED, ticket_id)
        pipe.hincrby(keys.ticket(ticket_id), "retries", 1)
        pipe.execute()
