"""The ticket store, on Redis: one client, and a part for each kind of question, each a small class
over that client that owns its keys (as rq keeps ``Queue``, ``Job`` and each registry apart over one
connection). A caller takes the part it needs::

    tickets       a ticket's life: created, each stage's result, done or failed, retention
    views         tickets as the API shows them
    deliveries    webhook deliveries, their attempts, dead letters and disabled endpoints
    routes        routes, team queues, agents and the SLA clock
    assignment    who is there, and work pushed to them
    mail          Message-IDs, replies and the mailbox's state
    helpdesk      the helpdesk connector's tickets, cursors, write-backs and state
    corrections   operators' category and urgency corrections (the models' examples)
    model_state   the traffic centre the model processes share
    idempotency   Idempotency-Key claims
    outbox        tickets whose first message waits for the broker
    sweeper       stuck tickets and the sweeper's lock
    shared        the configuration and secrets the API publishes for every host
    metrics       the histograms and counters /metrics reports
    ops           ping, the scheduler's tick, replicas, the indexes' layout
    incidents     the incidents' log, lock, records, members and events
    agents        agents' API keys (their digests)
    audit         each ticket's audit trail: who did what to it, when

``keys`` names every key, ``indexes`` keeps the sorted sets lists are read from. Writes that span
parts go through one ``Transaction`` (``with store.transaction() as tx:``) that each part queues its
commands on; the few the pipeline makes are here, on ``TicketStore``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import redis

from ..ticket import Ticket
from . import connect
from .agents import Agents
from .assignment import Assignment
from .audit import Audit
from .base import guarded
from .corrections import Corrections
from .deliveries import Deliveries
from .helpdesk import Helpdesk
from .idempotency import Idempotency
from .incidents import Incidents
from .mail import Mail
from .metrics import FIRST_RESPONSE_BUCKETS_S, LATENCY_BUCKETS_MS, STAGES, Metrics
from .model_state import ModelState
from .ops import Ops
from .outbox import Outbox
from .routes import RoutePlan, Routes, sla_event_type, sla_subject
from .shared import Shared
from .sweeper import Sweeper
from .tickets import TicketResults, Tickets
from .transaction import Transaction
from .views import Views, present

__all__ = ["FIRST_RESPONSE_BUCKETS_S", "LATENCY_BUCKETS_MS", "STAGES", "FinishPlan", "RoutePlan", "TicketResults",
           "TicketStore", "Transaction", "present", "sla_event_type", "sla_subject"]


@dataclass(frozen=True)
class FinishPlan:
    """What notify decided for one ticket: its event, the endpoints to deliver it to, the incident
    whose events stand for it (then it has none to deliver), and its route (None: keep the one it has)."""

    ticket_id: str
    event_id: str
    urls: Sequence[str] = ()
    covering_incident: str | None = None
    route: RoutePlan | None = None


class TicketStore:
    """SmartSupport's state in Redis: the parts over one client, and the writes that span parts."""

    def __init__(self, client: redis.Redis) -> None:
        self.r = client
        self.tickets = Tickets(client)
        self.views = Views(client)
        self.deliveries = Deliveries(client)
        self.routes = Routes(client)
        self.assignment = Assignment(client)
        self.mail = Mail(client)
        self.helpdesk = Helpdesk(client)
        self.corrections = Corrections(client)
        self.model_state = ModelState(client)
        self.idempotency = Idempotency(client)
        self.outbox = Outbox(client)
        self.sweeper = Sweeper(client)
        self.shared = Shared(client)
        self.metrics = Metrics(client)
        self.ops = Ops(client)
        self.incidents = Incidents(client)
        self.agents = Agents(client)
        self.audit = Audit(client)

    @classmethod
    def from_url(cls, url: str) -> "TicketStore":
        """The store at a ``redis://`` URL or on a Sentinel group (``sentinel://``, see connect.py)."""
        return cls(connect.client(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                                  health_check_interval=30, retry_on_timeout=True))

    def transaction(self) -> Transaction:
        """One MULTI/EXEC for writes of several parts: ``with store.transaction() as tx:``."""
        return Transaction(self.r)

    @guarded
    def create(self, ticket: Ticket, *, job: Sequence[tuple[str, tuple]] = (), outbox: bool = False) -> None:
        """Store a new ticket as ``queued``, with ``job`` (the Redis commands that publish its first
        task, see workers.pipeline.enqueue_new_ticket) in the same MULTI/EXEC: all of it or nothing.
        With ``outbox``, the ticket enters the outbox in the same MULTI instead: the caller publishes
        right after and takes it out (``outbox.leave``), or the outbox's drain publishes it later."""
        now = time.time()
        with self.transaction() as tx:
            self.tickets.add(tx, ticket, now=now)
            if outbox:
                self.outbox.enter(tx, ticket.id, at=now)
            tx.queue_commands(job)

    @guarded
    def finish_tickets(self, plans: Iterable[FinishPlan], *, started: float, worker: str | None = None,
                       now: float | None = None) -> list[tuple[str, str]]:
        """Notify's writes for a batch, in one MULTI: each ticket's route (kept once: a run again
        keeps the first), its deliveries opened (pending), its stage's timestamps, the incident
        cover and the ticket ``done``; then the stage metrics of the tickets done for the first time.
        Returns the ``(ticket id, url)`` deliveries that had no attempt yet: opened now, or opened by
        an earlier run that died before sending them."""
        now = time.time() if now is None else now
        plans = list(plans)
        routed = self.routes.routed([plan.ticket_id for plan in plans if plan.route])
        opened, finished = [], []
        with self.transaction() as tx:
            for plan in plans:
                if plan.route and plan.ticket_id not in routed:
                    self.routes.stage(tx, plan.ticket_id, plan.route)
                opened += [(plan.ticket_id, url, self.deliveries.open(tx, plan.ticket_id, url, plan.event_id, now))
                           for url in plan.urls]
                finished.append(self.tickets.finish(tx, plan.ticket_id, started=started, now=now, worker=worker,
                                                    covered=plan.covering_incident))
        # (Should Redis go away just now, these tickets' timings are left out of the histograms.)
        self.metrics.count_stage_timings(stamps for stamps in (f.value for f in finished) if stamps is not None)
        return [(ticket_id, url) for ticket_id, url, unsent in opened if unsent.value]

    @guarded
    def delete_tickets(self, ticket_ids: list[str]) -> None:
        """Delete tickets with everything kept about them: deliveries, attempts, dead letters, replies,
        audit trails, places in every index, queue and incident, in one MULTI."""
        refs = self.tickets.refs(ticket_ids)
        endpoints = self.deliveries.endpoints(ticket_ids)
        with self.transaction() as tx:
            for ref in refs:
                self.tickets.remove(tx, ref.ticket_id, ref.submitter)
                self.deliveries.forget(tx, ref.ticket_id, endpoints[ref.ticket_id])
                self.routes.unroute(tx, ref.ticket_id, ref.route)
                self.mail.forget(tx, ref.ticket_id, ref.mail_ids)
                self.outbox.leave([ref.ticket_id], tx=tx)
                self.audit.forget(tx, ref.ticket_id)
                if ref.incident:
                    self.incidents.forget_member(tx, ref.incident, ref.ticket_id)

    @guarded
    def fire_sla_event(self, ticket_id: str, event: str, payload: dict, urls: list[str]) -> bool:
        """Take one due SLA event off the clock and stage it with its deliveries, in one MULTI; False
        when another worker fired it first, or an acknowledgement stopped the clock meanwhile."""
        with self.transaction() as tx:
            if not self.routes.take_sla_event(tx, ticket_id, event):
                return False
            self.deliveries.stage_event(tx, sla_subject(ticket_id, event), payload["id"], payload, urls)
        return tx.committed
