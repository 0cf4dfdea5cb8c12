"""What the sweeper asks of the store: tickets stuck too long, one sweeper at a time, the scheduler's ticks."""

from __future__ import annotations

import time

from . import keys
from .base import StoreBase, guarded


class Sweeping(StoreBase):
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
    def sweep_lock(self, *, ttl_s: int) -> bool:
        """True for the one sweeper that may run now (across every worker host)."""
        return bool(self.r.set(keys.SWEEP_LOCK, "1", nx=True, ex=ttl_s))

    @guarded
    def release_sweep_lock(self) -> None:
        self.r.delete(keys.SWEEP_LOCK)

    @guarded
    def mark_scheduler_tick(self, *, now: float | None = None) -> None:
        """The scheduler is alive now (kept a day: an old mark says when it stopped)."""
        self.r.set(keys.SCHEDULER_TICK, repr(time.time() if now is None else now), ex=86400)

    @guarded
    def scheduler_tick_age_s(self, *, now: float | None = None) -> float | None:
        """Seconds since the scheduler last woke up, None if it never did."""
        raw = self.r.get(keys.SCHEDULER_TICK)
        return None if raw is None else (time.time() if now is None else now) - float(raw)
