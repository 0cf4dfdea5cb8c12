"""Operators' corrections of a ticket's category or urgency level: the ticket shows the operator's
answer, and its text becomes an example of it, which the model workers use from their next batch."""

from __future__ import annotations

import json
import time
from typing import Any

from ..errors import TicketNotFound
from ..ticket import Ticket
from . import indexes, keys
from .base import Part, guarded

#: kind -> (the ticket's field, the hash of examples, its version counter)
KINDS = {
    "category": ("category", keys.CORRECTIONS, keys.CORRECTIONS_VERSION),
    "urgency": ("urgency", keys.URGENCY_CORRECTIONS, keys.URGENCY_CORRECTIONS_VERSION),
}


class Corrections(Part):
    @guarded
    def correct(self, ticket_id: str, label: str, *, now: float | None = None) -> None:
        """Record an operator's label for a ticket: the ticket shows it and it becomes an example."""
        def change(category: dict[str, Any]) -> None:
            category.setdefault("original_label", category.get("label"))
            category.update(label=label, corrected=True, needs_review=False)
        self._correct("category", ticket_id, label, change, {"scores": {}, "confidence": None, "model": ""}, now=now)

    @guarded
    def correct_urgency(self, ticket_id: str, level: str, *, score: float, now: float | None = None) -> None:
        """Record an operator's urgency level (and the score that goes with it) for a ticket: the
        ticket shows it, sorts by it, and becomes an example of that level."""
        def change(urgency: dict[str, Any]) -> None:
            urgency.setdefault("original_level", urgency.get("level"))
            urgency.setdefault("original_score", urgency.get("score"))
            urgency.update(level=level, score=score, corrected=True)
        self._correct("urgency", ticket_id, level, change, {"signals": [], "sentiment": 0.0}, now=now,
                      also=lambda pipe: indexes.rescore(pipe, ticket_id, score))

    def _correct(self, kind: str, ticket_id: str, answer: str, change, empty: dict[str, Any], *,
                 now: float | None, also=None) -> None:
        """Apply ``change`` to the ticket's field and keep its text as an example of ``answer``, with
        whatever ``also`` adds, in one MULTI."""
        field, examples, version = KINDS[kind]
        raw = self.r.hmget(keys.ticket(ticket_id), ["ticket", field])
        if raw[0] is None:
            raise TicketNotFound(ticket_id)
        ticket = Ticket(**json.loads(raw[0]))
        value = json.loads(raw[1]) if raw[1] else dict(empty)
        change(value)
        entry = {"label": answer, "text": ticket.text, "at": time.time() if now is None else now}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.ticket(ticket_id), field, json.dumps(value))
        pipe.hset(examples, ticket_id, json.dumps(entry))
        pipe.incr(version)
        if also:
            also(pipe)
        pipe.execute()

    @guarded
    def version(self, kind: str = "category") -> int:
        """Bumped on every correction of ``kind``: a model process refreshes its examples when it moved."""
        return int(self.r.get(KINDS[kind][2]) or 0)

    @guarded
    def examples(self, kind: str = "category") -> list[tuple[str, str]]:
        """All ``(label or level, text)`` pairs operators confirmed, oldest first."""
        entries = sorted((json.loads(v) for v in self.r.hvals(KINDS[kind][1])), key=lambda e: e["at"])
        return [(e["label"], e["text"]) for e in entries]
