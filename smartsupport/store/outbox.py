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
from .base import StoreBase, guarded


class Outbox(StoreBase):
    @guarded
    def outbox(self, *, older_than_s: float = 0.0, limit: int = 500, now: float | None = None) -> list[str]:
        """The ids of tickets in the outbox for longer than ``older_than_s``, oldest first."""
        cutoff = (time.time() if now is None else now) - older_than_s
        return self.r.zrangebyscore(keys.OUTBOX, "-inf", cutoff, start=0, num=limit)

    @guarded
    def leave_outbox(self, ticket_ids: Iterable[str]) -> None:
        """The tickets' first messages are queued (or the tickets are gone)."""
        ids = list(ticket_ids)
        if ids:
            self.r.zrem(keys.OUTBOX, *ids)

    @guarded
    def outbox_backlog(self, *, now: float | None = None) -> tuple[int, float | None]:
        """How many tickets wait in the outbox, and for how many seconds the oldest has (None: none)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zcard(keys.OUTBOX)
        pipe.zrange(keys.OUTBOX, 0, 0, withscores=True)
        count, oldest = pipe.execute()
        return count, ((time.time() if now is None else now) - oldest[0][1]) if oldest else None
