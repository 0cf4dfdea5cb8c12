"""The helpdesk connector's state: which SmartSupport ticket each helpdesk ticket is, the cursors
it reads from, what it has written back, its write-backs that ran out of attempts, its state.

  ss:helpdesk:ticket:<external id>  string: the SmartSupport ticket a helpdesk ticket became
  ss:helpdesk:cursor                hash: tickets / replies / changes -> the helpdesk's cursor
  ss:helpdesk:commented             set: SmartSupport tickets whose private comment is written
  ss:helpdesk:commenting:<id>       string: a write-back writing that ticket's comment now (expires)
  ss:helpdesk:dead                  hash: SmartSupport ticket id -> {"external_id", "error", "attempts", "at"}
  ss:helpdesk:status                string: the helpdesk process's state {"state", "error", "at", "since"}
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import keys
from .base import Part, claim, guarded, release

PREFIX = keys.PREFIX + "helpdesk:"
CURSORS, COMMENTED, DEAD, STATUS = PREFIX + "cursor", PREFIX + "commented", PREFIX + "dead", PREFIX + "status"


def _commenting(ticket_id: str) -> str:
    return f"{PREFIX}commenting:{ticket_id}"


def _bound(external_id: str) -> str:
    return f"{PREFIX}ticket:{external_id}"


class Helpdesk(Part):
    @guarded
    def claim(self, external_id: str, ticket_id: str) -> str:
        """Bind a helpdesk ticket to ``ticket_id`` unless it is bound already; returns the ticket it is
        bound to. A binding whose ticket was never written (a crash in between) is taken over."""
        return claim(self.r, _bound(external_id), ticket_id)

    @guarded
    def release(self, external_id: str, ticket_id: str) -> None:
        """Forget a binding whose ticket could not be written (only if it is still ours)."""
        release(self.r, _bound(external_id), ticket_id)

    @guarded
    def forget(self, external_id: str, ticket_id: str) -> None:
        """Everything kept about a helpdesk ticket whose SmartSupport ticket was deleted: its binding,
        its comment's mark, its dead letter."""
        release(self.r, _bound(external_id), ticket_id)
        self.r.srem(COMMENTED, ticket_id)
        self.r.delete(_commenting(ticket_id))
        self.r.hdel(DEAD, ticket_id)

    @guarded
    def ticket_of(self, external_id: str) -> str | None:
        """The existing SmartSupport ticket a helpdesk ticket became (None: none, or deleted since)."""
        bound = self.r.get(_bound(external_id))
        return bound if bound and self.r.exists(keys.ticket(bound)) else None

    @guarded
    def cursor(self, name: str) -> int:
        return int(self.r.hget(CURSORS, name) or 0)

    @guarded
    def set_cursor(self, name: str, value: int) -> None:
        self.r.hset(CURSORS, name, int(value))

    @guarded
    def commented(self, ticket_id: str) -> bool:
        return bool(self.r.sismember(COMMENTED, ticket_id))

    @guarded
    def claim_comment(self, ticket_id: str, *, hold_s: int = 300) -> bool:
        """Whether this write-back is the one to write the ticket's comment: none written yet, and no
        other write-back writing it now (two at once write one comment; a claim whose write-back
        died lapses after ``hold_s``, so that a retry writes it)."""
        if self.r.sismember(COMMENTED, ticket_id):
            return False
        return bool(self.r.set(_commenting(ticket_id), "1", nx=True, ex=hold_s))

    @guarded
    def release_comment(self, ticket_id: str) -> None:
        """The write-back that claimed the comment did not write it: the next one may."""
        self.r.delete(_commenting(ticket_id))

    @guarded
    def note_commented(self, ticket_id: str) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.sadd(COMMENTED, ticket_id)
        pipe.delete(_commenting(ticket_id))
        pipe.execute()

    @guarded
    def bury(self, ticket_id: str, external_id: str, error: str, *, attempts: int) -> None:
        """A write-back whose attempts ran out (or that the helpdesk refused), for an operator."""
        self.r.hset(DEAD, ticket_id, json.dumps({"ticket_id": ticket_id, "external_id": external_id,
                                                 "error": error[:500], "attempts": attempts, "at": time.time()}))

    @guarded
    def unbury(self, ticket_id: str) -> None:
        self.r.hdel(DEAD, ticket_id)

    @guarded
    def dead_letters(self) -> list[dict[str, Any]]:
        return sorted((json.loads(v) for v in self.r.hvals(DEAD)), key=lambda d: d["at"])

    @guarded
    def set_status(self, state: str, error: str | None = None, *, now: float | None = None) -> None:
        """``ok`` after each poll, ``away`` while the helpdesk cannot be reached."""
        now = time.time() if now is None else now
        raw = self.r.get(STATUS)
        before = json.loads(raw) if raw else {}
        since = before.get("since", now) if before.get("state") == state else now
        self.r.set(STATUS, json.dumps({"state": state, "error": error, "at": now, "since": since}))

    @guarded
    def status(self) -> dict[str, Any] | None:
        raw = self.r.get(STATUS)
        return None if raw is None else json.loads(raw)
