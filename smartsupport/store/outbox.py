"""The outbox: tickets stored whose first message is not known to be queued yet.

With a broker that cannot join the store's transaction (RabbitMQ, another Redis), a new ticket is
stored together with its entry here, in one MULTI; the API takes the entry out once the broker has
confirmed the message, and ``workers.tasks.drain_outbox`` publishes what is left once the broker is
back (workers.pipeline). So a ticket stored while the broker is away is queued later, never lost.
"""

from __future__ import annotations

import time
from typing import Iterable

from . import keys
from .base import Part, guarded
from .transaction import Transaction


class Outbox(Part):
    def enter(self, tx: Transaction, ticket_id: str, *, at: float) -> None:
        """Within ``tx`` (the one storing the ticket): the ticket waits for its first message."""
        tx.pipe.zadd(keys.OUTBOX, {ticket_id: at})

    @guarded
    def waiting(self, *, older_than_s: float = 0.0, limit: int = 500, now: float | None = None) -> list[str]:
        """The ids of tickets in the outbox for longer than ``older_than_s``, oldest first."""
        cutoff = (time.time() if now is None else now) - older_than_s
        return self.r.zrangebyscore(keys.OUTBOX, "-inf", cutoff, start=0, num=limit)

    @guarded
    def leave(self, ticket_ids: Iterable[str], *, tx: Transaction | None = None) -> None:
        """The tickets' first messages are queued (or the tickets are gone); within ``tx`` if given."""
        ids = list(ticket_ids)
        if ids:
            (tx.pipe if tx else self.r).zrem(keys.OUTBOX, *ids)

    @guarded
    def backlog(self, *, now: float | None = None) -> tuple[int, float | None]:
        """How many tickets wait in the outbox, and for how many seconds the oldest has (None: none)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(keys.OUTBOX)
        pipe.zrange(keys.OUTBOX, 0, 0, withscores=True)
        count, oldest = pipe.execute()
        return count, ((time.time() if now is None else now) - oldest[0][1]) if oldest else None
