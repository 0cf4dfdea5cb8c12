"""Retention: done and failed tickets leave the store, with their logs, once the retention period
has passed (workers.tasks.expire_tickets); the indexes make finding them cheap. Also migrates the
indexes of a store written by an older version."""

from __future__ import annotations

import json
import time

from ..ticket import STATUSES
from . import indexes, keys
from .base import StoreBase, guarded

INDEX_LAYOUT = "2"


class Retention(StoreBase):
    @guarded
    def expired(self, *, older_than_s: float, now: float | None = None, limit: int = 500) -> list[str]:
        """Up to ``limit`` tickets that ended (done or failed) more than ``older_than_s`` ago, oldest first."""
        cutoff = (time.time() if now is None else now) - older_than_s
        return self.r.zrangebyscore(keys.FINISHED, 0, cutoff, start=0, num=limit)

    @guarded
    def trim_dead_letters(self, *, older_than_s: float, now: float | None = None) -> int:
        """Forget dead letters older than ``older_than_s``; returns how many."""
        cutoff = (time.time() if now is None else now) - older_than_s
        old = [field for field, raw in self.r.hgetall(keys.DEAD_LETTER).items() if json.loads(raw)["at"] < cutoff]
        return self.r.hdel(keys.DEAD_LETTER, *old) if old else 0

    @guarded
    def migrate_indexes(self) -> int:
        """Rebuild the indexes when the store was written by an older layout (status sets instead of
        sorted sets, no submitter or finished index); returns the tickets indexed (0: nothing to do)."""
        if self.r.get(keys.INDEX_VERSION) == INDEX_LAYOUT:
            return 0
        for status in STATUSES:
            if self.r.type(keys.status(status)) == "set":
                self.r.delete(keys.status(status))
        count = 0
        for tid in self.r.zrange(keys.CREATED, 0, -1):
            raw = self.r.hgetall(keys.ticket(tid))
            if not raw.get("ticket"):
                continue
            ticket = json.loads(raw["ticket"])
            pipe = self.r.pipeline(transaction=True)
            if ticket.get("submitter"):
                pipe.hset(keys.ticket(tid), "submitter", ticket["submitter"])
                pipe.zadd(keys.submitter(ticket["submitter"]), {tid: ticket["created_at"]})
            indexes.move(pipe, tid, raw.get("status", "queued"))
            score = json.loads(raw["urgency"])["score"] if raw.get("urgency") else -1
            indexes.rescore(pipe, tid, score)
            if ticket.get("submitter"):
                pipe.zadd(keys.submitter(ticket["submitter"]) + ":urgency", {tid: score})
            ended = raw.get("t:done") or raw.get("t:failed")
            if ended:
                pipe.zadd(keys.FINISHED, {tid: float(ended)})
            pipe.execute()
            count += 1
        self.r.set(keys.INDEX_VERSION, INDEX_LAYOUT)
        return count
