"""How the installation is doing, and keeping it going: Redis answers, the scheduler ticks, the
replicas hold the writes, the indexes have the current layout.

  ss:scheduler:tick      string: when the scheduler (Celery beat) last woke up
  ss:replication:probe   counter: written before a WAIT (see wait_for_replicas)
  ss:indexes:version     the layout of the indexes (indexes.py), migrated when the API starts
"""

from __future__ import annotations

import time

from . import indexes, keys
from .base import Part, guarded

REPLICATION_PROBE = keys.PREFIX + "replication:probe"


class Ops(Part):
    @guarded
    def ping(self) -> bool:
        return bool(self.r.ping())

    @guarded
    def mark_scheduler_tick(self, *, now: float | None = None) -> None:
        """The scheduler is alive now (kept a day: an old mark says when it stopped)."""
        self.r.set(keys.SCHEDULER_TICK, repr(time.time() if now is None else now), ex=86400)

    @guarded
    def scheduler_tick_age_s(self, *, now: float | None = None) -> float | None:
        """Seconds since the scheduler last woke up, None if it never did."""
        raw = self.r.get(keys.SCHEDULER_TICK)
        return None if raw is None else (time.time() if now is None else now) - float(raw)

    @guarded
    def wait_for_replicas(self, replicas: int, timeout_ms: int) -> int:
        """How many replicas hold every write this process finished so far (WAIT, at most
        ``timeout_ms``). WAIT counts the writes of its own connection, and the pool may hand out
        another than the one that wrote: a small write on the WAIT's connection first, which the
        replication stream orders after the finished ones, makes it count those too."""
        pipe = self.r.pipeline(transaction=False)
        pipe.incr(REPLICATION_PROBE)
        pipe.wait(replicas, timeout_ms)
        return int(pipe.execute()[-1])

    @guarded
    def migrate_indexes(self) -> int:
        """Rebuild the indexes when the store was written by an older layout (status sets instead of
        sorted sets, no submitter or finished index); returns the tickets indexed (0: nothing to do)."""
        return indexes.migrate(self.r)
