"""Idempotency-Key claims: the same key and body again answer with the ticket of the first request."""

from __future__ import annotations

import json
import time

import redis

from . import keys
from .base import Part, guarded

IDEMPOTENCY_TTL_S = 24 * 3600
#: A key bound this long ago to a ticket that does not exist lost its ticket (the store went away
#: between the claim and the write, and the claim could not be released): the next request takes it.
#: Younger, the first request may still be writing its ticket.
STALE_CLAIM_S = 60


class Idempotency(Part):
    @guarded
    def claim(self, scope: str, key: str, *, body_hash: str, ticket_id: str) -> tuple[str, str]:
        """Bind ``key`` to ``ticket_id`` unless it is bound already; return the bound (ticket id, body hash)."""
        name = keys.idempotency(scope, key)
        record = json.dumps({"ticket_id": ticket_id, "body": body_hash, "at": time.time()})
        if self.r.set(name, record, nx=True, ex=IDEMPOTENCY_TTL_S):
            return ticket_id, body_hash
        raw = self.r.get(name) or record
        bound = json.loads(raw)
        if (bound["ticket_id"] != ticket_id and time.time() - bound.get("at", 0) > STALE_CLAIM_S
                and not self.r.exists(keys.ticket(bound["ticket_id"]))):
            try:  # take the stale claim over, unless another request just did
                with self.r.pipeline() as pipe:
                    pipe.watch(name)
                    if pipe.get(name) == raw:
                        pipe.multi()
                        pipe.set(name, record, ex=IDEMPOTENCY_TTL_S)
                        pipe.execute()
                        return ticket_id, body_hash
            except redis.WatchError:
                pass
            bound = json.loads(self.r.get(name) or record)
        return bound["ticket_id"], bound["body"]

    @guarded
    def release(self, scope: str, key: str) -> None:
        self.r.delete(keys.idempotency(scope, key))
