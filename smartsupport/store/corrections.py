"""Operators' corrections: a corrected ticket shows its new label and becomes an example of it."""

from __future__ import annotations

import json
import time

from ..errors import TicketNotFound
from ..ticket import Ticket
from . import keys
from .base import StoreBase, guarded


class Corrections(StoreBase):
    @guarded
    def correct(self, ticket_id: str, label: str, *, now: float | None = None) -> None:
        """Record an operator's label for a ticket: the ticket shows it and it becomes an example."""
        raw = self.r.hmget(keys.ticket(ticket_id), ["ticket", "category"])
        if raw[0] is None:
            raise TicketNotFound(ticket_id)
        ticket = Ticket(**json.loads(raw[0]))
        category = json.loads(raw[1]) if raw[1] else {"scores": {}, "confidence": None, "model": ""}
        category.setdefault("original_label", category.get("label"))
        category.update(label=label, corrected=True, needs_review=False)
        entry = {"label": label, "text": ticket.text, "at": time.time() if now is None else now}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.ticket(ticket_id), "category", json.dumps(category))
        pipe.hset(keys.CORRECTIONS, ticket_id, json.dumps(entry))
        pipe.incr(keys.CORRECTIONS_VERSION)
        pipe.execute()

    @guarded
    def corrections_version(self) -> int:
        return int(self.r.get(keys.CORRECTIONS_VERSION) or 0)

    @guarded
    def corrections(self) -> list[tuple[str, str]]:
        """All ``(label, text)`` pairs operators confirmed, oldest first."""
        entries = sorted((json.loads(v) for v in self.r.hvals(keys.CORRECTIONS)), key=lambda e: e["at"])
        return [(e["label"], e["text"]) for e in entries]
