"""A ticket's life in the store: created queued, each stage's result saved, done or failed, and
deleted once its retention period has passed.

  ss:ticket:<id>     hash: ticket JSON, status, submitter, error, category, severity, urgency,
                     t:<event> timestamps, w:<stage> workers, retries, sweeps, swept_at,
                     webhook_covered, metrics_recorded. Other parts keep a field each in it: route
                     (routes.py), mail_ids (mail.py), incident (incidents.py)
  ss:tickets:...     the indexes every ticket is in (indexes.py); ss:tickets:finished: when each
                     done or failed ticket ended, for retention
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..errors import TicketNotFound
from ..ticket import Category, Ticket, Urgency
from . import indexes, keys
from .base import Part, guarded
from .transaction import Reply, Transaction

if TYPE_CHECKING:
    from ..language import Language


@dataclass(frozen=True)
class TicketResults:
    """A stored ticket with what the stages found so far (None: not yet), as routing reads it."""

    ticket: Ticket
    category: dict[str, Any] | None
    urgency: dict[str, Any] | None
    incident: str | None
    language: dict[str, Any] | None = None


@dataclass(frozen=True)
class TicketRefs:
    """The fields of a ticket's hash that name what other parts keep about it (deleting it needs them)."""

    ticket_id: str
    submitter: str
    incident: str | None
    route: str | None      # the route JSON (routes.py)
    mail_ids: str | None   # JSON list of the Message-ID keys naming the ticket (mail.py)


class Tickets(Part):
    def add(self, tx: Transaction, ticket: Ticket, *, now: float) -> None:
        """Within ``tx``: a new ticket, ``queued``, in every index."""
        tx.pipe.hset(keys.ticket(ticket.id), mapping={
            "ticket": json.dumps(ticket.to_dict()),
            "status": "queued",
            "submitter": ticket.submitter,
            "t:received": repr(ticket.created_at),
            "t:queued": repr(now),
        })
        indexes.add(tx.pipe, ticket)

    def remove(self, tx: Transaction, ticket_id: str, submitter: str) -> None:
        """Within ``tx``: the ticket's hash, out of every index."""
        tx.pipe.delete(keys.ticket(ticket_id))
        indexes.remove(tx.pipe, ticket_id, submitter)

    @guarded
    def refs(self, ticket_ids: list[str]) -> list[TicketRefs]:
        """What each ticket's hash names of other parts' keys, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hmget(keys.ticket(tid), ["submitter", "incident", "route", "mail_ids"])
        return [TicketRefs(tid, submitter or "", incident, route, mail_ids)
                for tid, (submitter, incident, route, mail_ids) in zip(ticket_ids, pipe.execute())]

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
    def save_categories(self, results: Iterable[tuple[str, Category, float | None]],
                        languages: Mapping[str, "Language"] | None = None) -> None:
        """Store a batch's categories (and semantic severities, and the languages detected) and mark
        them classified, in one MULTI."""
        now = repr(time.time())
        pipe = self.r.pipeline(transaction=True)
        for ticket_id, category, severity in results:
            fields = {"category": json.dumps(category.to_dict())}
            if severity is not None:
                fields["severity"] = json.dumps(float(severity))
            if languages and ticket_id in languages:
                fields["language"] = json.dumps(dataclasses.asdict(languages[ticket_id]))
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
    def to_route(self, ticket_ids: list[str]) -> dict[str, TicketResults]:
        """For a batch, in one round trip: each existing ticket with its category, urgency and incident."""
        rows = self._existing(ticket_ids, "category", "urgency", "incident", "language")
        return {tid: TicketResults(Ticket(**json.loads(raw)), _json(category), _json(urgency), incident,
                                   _json(language))
                for tid, (raw, category, urgency, incident, language) in rows}

    def finish(self, tx: Transaction, ticket_id: str, *, started: float, now: float, worker: str | None = None,
               covered: str | None = None) -> Reply[dict[str, float] | None]:
        """Within ``tx``: notify's stamps (``covered``: the incident whose events stand for the
        ticket's own) and the ticket ``done``. The reply: the ticket's timestamps when this run
        finished it for the first time (its stage metrics are then counted), else None."""
        key = keys.ticket(ticket_id)
        tx.pipe.hsetnx(key, "t:notify_started", repr(started))
        if worker:
            tx.pipe.hset(key, "w:notify", worker)
        if covered:
            tx.pipe.hset(key, "webhook_covered", covered)
        tx.pipe.hsetnx(key, "t:notify_finished", repr(now))
        tx.pipe.hsetnx(key, "t:done", repr(now))
        indexes.move(tx.pipe, ticket_id, "done")
        tx.pipe.zadd(keys.FINISHED, {ticket_id: now}, nx=True)
        first = tx.next_reply(_stamps_if_first, count=2)
        tx.pipe.hsetnx(key, "metrics_recorded", "1")
        tx.pipe.hgetall(key)
        return first

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

    @guarded
    def expired(self, *, older_than_s: float, now: float | None = None, limit: int = 500) -> list[str]:
        """Up to ``limit`` tickets that ended (done or failed) more than ``older_than_s`` ago, oldest first."""
        cutoff = (time.time() if now is None else now) - older_than_s
        return self.r.zrangebyscore(keys.FINISHED, 0, cutoff, start=0, num=limit)

    def _existing(self, ticket_ids: list[str], *fields: str) -> list[tuple[str, list[str | None]]]:
        """``(id, [ticket JSON, *fields])`` of each ticket that still exists, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for tid in ticket_ids:
            pipe.hmget(keys.ticket(tid), ["ticket", *fields])
        return [(tid, row) for tid, row in zip(ticket_ids, pipe.execute()) if row[0] is not None]


def _stamps_if_first(gate: int, raw: dict[str, str]) -> dict[str, float] | None:
    """Counted once per ticket: only by the run that set metrics_recorded."""
    return {k[2:]: float(v) for k, v in raw.items() if k.startswith("t:")} if gate else None


def _json(value: str | None) -> Any:
    return None if value is None else json.loads(value)
