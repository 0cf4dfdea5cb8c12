"""How tickets enter the pipeline (classify → score → notify) and how events are sent again.

The API calls ``enqueue_new_ticket`` and nothing else to start a ticket. The tasks are named here
rather than imported (Celery's names, ``workers.tasks.<function>``), so that tasks.py can use these
helpers too.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Iterable

from smartsupport import notify, urgency
from smartsupport.errors import StoreUnavailable, TicketNotFound
from smartsupport.parsing import is_amqp
from smartsupport.store import TicketStore
from smartsupport.ticket import Ticket

from .celery import app
from .publishing import captured_commands
from .runtime import settings

log = logging.getLogger(__name__)
CLASSIFY = "workers.tasks.classify_ticket"
DELIVER = "workers.tasks.deliver_webhook"
RESCORE = "workers.tasks.rescore_ticket"
#: Triage priorities on RabbitMQ, where the higher number is served first (urgency.triage_priority
#: gives 0 first, as kombu's Redis transport has it; celeryconfig declares x-max-priority 9). 9 and 4
#: sit on either side of RabbitMQ 4's line between its quorum queues' two levels (5 and above: high),
#: so that there only the urgent-looking go first.
AMQP_PRIORITY = {0: 9, 3: 4, 6: 0}
#: A publish that failed once is tried once more, at once: a pooled connection the broker closed
#: meanwhile (idle, or restarted) is replaced. Longer outages are the outbox's.
INTAKE_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def enqueue_new_ticket(ticket_store: TicketStore, ticket: Ticket) -> None:
    """Store a new ticket and queue its first task; once stored, it is never left unqueued.

    Where the broker is the store's Redis (and this process is connected to it), both go in one
    MULTI, in one round trip. Elsewhere (RabbitMQ, another Redis, a key prefix, a process's first
    tickets) the ticket is stored with an entry in the outbox, in one MULTI, then published, within
    about SMARTSUPPORT_BROKER_TIMEOUT_S on RabbitMQ, and the entry removed. A ticket whose publish
    failed stays in the outbox, and ``drain_outbox`` (every few seconds) publishes it once the
    broker is back. A message may so go out twice (the API's publish confirmed too late, a MULTI
    that redis-py runs again): every stage is safe to run twice.
    Raises StoreUnavailable when the ticket could not be stored."""
    try:
        job = captured_commands(_classify_signature(ticket), ticket_store)
        ticket_store.create(ticket, job=job or (), outbox=job is None)
    except StoreUnavailable:
        raise
    except Exception as exc:  # the MULTI did not run: nothing was stored
        raise StoreUnavailable(f"could not queue the ticket: {exc}") from exc
    if job is None:
        _publish(ticket_store, [ticket], bounded=True)


def _publish(ticket_store: TicketStore, tickets: Iterable[Ticket], *, bounded: bool = False) -> int:
    """Publish each stored ticket's first task, then take the ones sent out of the outbox; returns
    how many were sent. While the broker is away the rest stay in the outbox (logged), for the next
    drain; ``bounded``: one quick retry only, so that an API request does not wait on the broker."""
    sent = []
    # On RabbitMQ the confirm is awaited at most this long (a broker out of memory or disk blocks its
    # publishers rather than refusing them); connecting is bounded by the same setting.
    wait_s = app.conf.broker_connection_timeout
    options = {"retry_policy": INTAKE_RETRY_POLICY, "timeout": wait_s, "confirm_timeout": wait_s} if bounded else {}
    try:
        for ticket in tickets:
            start_pipeline(ticket, **options)
            sent.append(ticket.id)
    except Exception as exc:  # the broker is away: what is left waits for drain_outbox
        log.warning("the broker is away (%s: %s); %d sent, the rest wait in the outbox", type(exc).__name__,
                    exc, len(sent))
    if sent:
        with contextlib.suppress(StoreUnavailable):  # Redis away: sent again by the next drain, harmless
            ticket_store.outbox.leave(sent)
    return len(sent)


def publish_outbox(ticket_store: TicketStore, *, older_than_s: float, limit: int) -> int:
    """Publish the tickets that waited in the outbox longer than ``older_than_s`` (oldest first, up
    to ``limit``); returns how many were sent. A ticket deleted meanwhile just leaves the outbox."""
    tickets, gone = [], []
    for ticket_id in ticket_store.outbox.waiting(older_than_s=older_than_s, limit=limit):
        try:
            tickets.append(ticket_store.tickets.load(ticket_id))
        except TicketNotFound:
            gone.append(ticket_id)
    if gone:
        ticket_store.outbox.leave(gone)
    return _publish(ticket_store, tickets)


def start_pipeline(ticket: Ticket, **options) -> str:
    """Start the pipeline for a stored ticket: classify (batched, urgent-looking first), then score → notify.
    ``options`` go to Celery's apply_async (a retry policy, timeouts)."""
    return _classify_signature(ticket).apply_async(**options).id


def redeliver(ticket_store: TicketStore, subject: str, urls: Iterable[str]) -> None:
    """Send an event again to ``urls``, with the same event id and a fresh retry budget."""
    for url in urls:
        ticket_store.deliveries.reopen(subject, url, notify.event_id_for(subject))
        ticket_store.deliveries.unbury(subject, url)
        app.signature(DELIVER, (subject, url)).apply_async()


def rescore(ticket_id: str) -> None:
    """Score a ticket again with the replies joined to it (workers.tasks.rescore_ticket)."""
    app.signature(RESCORE, (ticket_id,)).apply_async()


def _classify_signature(ticket: Ticket):
    # Under a backlog, tickets whose keyword pre-score looks urgent are classified first.
    priority = urgency.triage_priority(ticket.text, threshold=settings().urgency_threshold)
    if is_amqp(app.conf.broker_url):
        priority = AMQP_PRIORITY[priority]
    return app.signature(CLASSIFY, (ticket.id,), priority=priority)
