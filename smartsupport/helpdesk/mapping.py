"""Between SmartSupport and a helpdesk, both ways, as pure functions: what is written back once a
ticket's chain is done, and what a person's change in the helpdesk means as a correction."""

from __future__ import annotations

from typing import Any, Iterable

from ..routing import Routing
from ..ticket import UrgencyLevel
from . import Change, WriteBack

#: The helpdesk's custom fields SmartSupport writes (and reads agents' changes of).
CATEGORY, URGENCY, NEEDS_REVIEW = "Category", "Urgency", "Needs review"


def write_back_for(external_id: str, view: dict[str, Any], routing: Routing, *, comment: bool) -> WriteBack:
    """The queue routing chose (through the routing file's ``helpdesk`` mapping), the priority (the
    urgency score, 0-100), the three fields and, when ``comment``, the private comment."""
    category, urgency, route = view.get("category") or {}, view.get("urgency") or {}, view.get("route") or {}
    fields = {CATEGORY: category.get("label", ""), URGENCY: urgency.get("level", ""),
              NEEDS_REVIEW: "yes" if category.get("needs_review") else "no"}
    queue = routing.helpdesk.queue_of(route["team"]) if route.get("team") else None
    return WriteBack(external_id, queue, round(float(urgency.get("score", 0.0)) * 100), fields,
                     _comment(view) if comment else None)


def _comment(view: dict[str, Any]) -> str:
    category, urgency, route = view.get("category") or {}, view.get("urgency") or {}, view.get("route") or {}
    lines = [f"SmartSupport ticket {view['id']}",
             f"Category: {category.get('label')} (confidence {category.get('confidence') or 0:.2f})"
             + (f"; needs review: {category.get('review_reason')}" if category.get("needs_review") else ""),
             f"Urgency: {urgency.get('level')} (score {float(urgency.get('score', 0.0)):.2f})"]
    signals = [s.get("phrase") or s.get("tier") for s in urgency.get("signals") or []]
    if signals:
        lines.append("Signals: " + ", ".join(str(s) for s in signals))
    if route:
        rule = route.get("rule") or {}
        lines.append(f"Routed to {route.get('team')} by rule {rule.get('name')}: {rule.get('why')}")
    return "\n".join(lines)


def correction_for(change: Change, routing: Routing, labels: Iterable[str]) -> tuple[str, str] | None:
    """``("category", label)`` or ``("urgency", level)`` for an agent's change, None when it says
    neither (a queue no rule sends a category to, a field SmartSupport does not write, an unknown
    value)."""
    labels = tuple(labels)
    if change.kind == "queue":
        category = routing.category_of_team(routing.helpdesk.team_of(change.value))
        return ("category", category) if category in labels else None
    if change.kind == "field" and change.name == CATEGORY and change.value in labels:
        return "category", change.value
    levels = [level.value for level in UrgencyLevel]
    if change.kind == "field" and change.name == URGENCY and change.value.lower() in levels:
        return "urgency", change.value.lower()
    return None
