"""How tickets enter the pipeline (classify → score → notify) and how events are sent again.

The API calls ``enqueue_new_ticket`` and nothing else to start a ticket. The tasks are named here
rather than imported (Celery's names, ``workers.tasks.<function>``), so that tasks.py can use these
helpers too.
"""

from __future__ import annotations

import contextlib
from typing import Iterable

from smartsupport import notify, urgency
from smartsupport.errors import StoreUnavailable
from smartsupport.store import TicketStore
from smartsupport.ticket import Ticket

from .celery import app
from .publishing import captured_commands
from .runtime import settings

CLASSIFY = "workers.tasks.classify_ticket"
DELIVER = "workers.tasks.deliver_webhook"


def enqueue_new_ticket(ticket_store: TicketStore, ticket: Ticket) -> None:
    """Store a new ticket and queue its first task: both or neither.

    Where the broker is the store's Redis (and this process is connected to it), both go in one
    MULTI, in one round trip. Elsewhere (another transport or Redis, a key prefix, a process's
    first tickets) the ticket is stored, then published, and deleted again if publishing fails.
    A MULTI that redis-py runs again (the store retries on a timeout) pushes the message twice:
    every stage is safe to run twice. Raises StoreUnavailable when either could not be written."""
    try:
        job = captured_commands(_classify_signature(ticket), ticket_store)
        ticket_store.create(ticket, job=job or ())
        if job is None:
            route_ticket(ticket)
    except Exception as exc:  # nothing half-written: a ticket with no job would never be processed
        with contextlib.suppress(StoreUnavailable):
            ticket_store.delete(ticket.id)
        if isinstance(exc, StoreUnavailable):
            raise
        raise StoreUnavailable(f"could not queue the ticket: {exc}") from exc


def route_ticket(ticket: Ticket) -> str:
    """Start the pipeline for a stored ticket: classify (batched, urgent-looking first), then score → notify."""
    return _classify_signature(ticket).apply_async().id


def redeliver(ticket_store: TicketStore, subject: str, urls: Iterable[str]) -> None:
    """Send an event again to ``urls``, with the same event id and a fresh retry budget."""
    for url in urls:
        ticket_store.reopen_delivery(subject, url, notify.event_id_for(subject))
        ticket_store.unbury(subject, url)
        app.signature(DELIVER, (subject, url)).apply_async()


def _classify_signature(ticket: Ticket):
    # Under a backlog, tickets whose keyword pre-score looks urgent are classified first.
    priority = urgency.triage_priority(ticket.text, threshold=settings().urgency_threshold)
    return app.signature(CLASSIFY, (ticket.id,), priority=priority)
