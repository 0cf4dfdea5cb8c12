"""The one ticket store, on Redis: tickets, their stage results, timestamps and webhook deliveries.

``TicketStore`` is one object, written in parts along its seams (a module each): a ticket's life
(``tickets``), Idempotency-Key claims, shared metrics, the sweeper's queries, the outbox (tickets
whose first message waits for the broker), operators' corrections, webhook deliveries, the API's
views and retention. ``keys`` lists every key the store writes; ``indexes`` the sorted sets that
lists are served from.
"""

from __future__ import annotations


from .corrections import Corrections
from .deliveries import Deliveries
from .idempotency import Idempotency
from .mail import Mail
from .metrics import LATENCY_BUCKETS_MS, STAGES, Metrics
from .outbox import Outbox
from .retention import Retention
from .routes import Routes
from . import connect
from .shared import Shared
from .sweeper import Sweeping
from .tickets import Tickets
from .views import Views, present

__all__ = ["LATENCY_BUCKETS_MS", "STAGES", "TicketStore", "present"]


class TicketStore(Tickets, Idempotency, Metrics, Sweeping, Outbox, Corrections, Deliveries, Views, Retention,
                  Routes, Mail, Shared):
    """Every read and write of SmartSupport's state in Redis."""

    @classmethod
    def from_url(cls, url: str) -> "TicketStore":
        """The store at a ``redis://`` URL or on a Sentinel group (``sentinel://``, see connect.py)."""
        return cls(connect.client(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2,
                                  health_check_interval=30, retry_on_timeout=True))
