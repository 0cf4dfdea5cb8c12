"""Each ticket's audit trail: who corrected, took, acknowledged, resolved or rerouted it, and when.

  ss:ticket:<id>:audit   list: one JSON entry {at, actor, role, action, detail} per action, oldest
                         first, the newest AUDIT_CAP kept; deleted with the ticket

An entry is written right after the action it records, and only while the ticket exists (one
script checks and appends), so that a ticket deleted meanwhile leaves no trail behind.
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import keys
from .base import Part, guarded
from .transaction import Transaction

AUDIT_CAP = 200

#: KEYS: ticket hash, its trail; ARGV: entry JSON, cap. Returns 1 when appended, 0 for a deleted ticket.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return 1
"""


def trail_key(ticket_id: str) -> str:
    return keys.ticket(ticket_id) + ":audit"


class Audit(Part):
    @guarded
    def record(self, ticket_id: str, action: str, *, actor: str, role: str, detail: dict[str, Any] | None = None,
               now: float | None = None) -> bool:
        """Append one entry to the ticket's trail; False when the ticket no longer exists."""
        entry = {"at": time.time() if now is None else now, "actor": actor, "role": role, "action": action,
                 "detail": detail or {}}
        return bool(self.r.eval(_APPEND, 2, keys.ticket(ticket_id), trail_key(ticket_id), json.dumps(entry),
                                AUDIT_CAP))

    @guarded
    def trail(self, ticket_id: str) -> list[dict[str, Any]]:
        """The ticket's entries, oldest first."""
        return [json.loads(raw) for raw in self.r.lrange(trail_key(ticket_id), 0, -1)]

    def forget(self, tx: Transaction, ticket_id: str) -> None:
        """Within ``tx``: the ticket's trail (deletion)."""
        tx.pipe.delete(trail_key(ticket_id))
