"""What the sweeper asks of the store: tickets stuck too long, how often each was re-queued, and
one sweeper at a time.

  ss:sweeper:lock   string: held by the one sweeper running now
  ss:ticket:<id>    sweeps, swept_at: how often and when the sweeper last re-queued the ticket
"""

from __future__ import annotations

import time

from . import keys
from .base import Part, guarded


class Sweeper(Part):
    @guarded
    def stuck(self, *, older_than_s: float, now: float | None = None) -> list[str]:
        """Tickets queued or processing for longer than ``older_than_s`` since they arrived or were
        last re-queued by the sweeper."""
        cutoff = (time.time() if now is None else now) - older_than_s
        pipe = self.r.pipeline(transaction=False)
        pipe.zrange(keys.status("queued"), 0, -1)
        pipe.zrange(keys.status("processing"), 0, -1)
        ids = list(dict.fromkeys(sum(pipe.execute(), [])))
        pipe = self.r.pipeline(transaction=False)
        for tid in ids:
            pipe.hmget(keys.ticket(tid), ["t:received", "swept_at"])
        return [tid for tid, stamps in zip(ids, pipe.execute())
                if stamps[0] and max(float(v) for v in stamps if v) < cutoff]

    @guarded
    def count_sweep(self, ticket_id: str, *, now: float | None = None) -> int:
        """Note that the sweeper re-queued the ticket now; return how often it did."""
        pipe = self.r.pipeline(transaction=True)
        pipe.hincrby(keys.ticket(ticket_id), "sweeps", 1)
        pipe.hset(keys.ticket(ticket_id), "swept_at", repr(time.time() if now is None else now))
        return int(pipe.execute()[0])

    @guarded
    def lock(self, *, ttl_s: int) -> bool:
        """True for the one sweeper that may run now (across every worker host)."""
        return bool(self.r.set(keys.SWEEP_LOCK, "1", nx=True, ex=ttl_s))

    @guarded
    def release_lock(self) -> None:
        self.r.delete(keys.SWEEP_LOCK)
