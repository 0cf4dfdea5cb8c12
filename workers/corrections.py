"""A person's correction of a ticket's category or urgency level, wherever it comes from: the API
(web/api.py) and the helpdesk connector (an agent moved the ticket or changed its field there) call
these, so both are the same correction: the ticket shows it, its text becomes an example for the
next similar ticket, it is routed again and the audit trail names who made it."""

from __future__ import annotations

from smartsupport import assignment, routing, urgency
from smartsupport.routing import Routing
from smartsupport.store import TicketStore
from smartsupport.ticket import UrgencyLevel


def correct_category(store: TicketStore, rules: Routing, ticket_id: str, label: str, *, actor: str,
                     role: str) -> None:
    """``label`` for the ticket (the caller checked it is one of the labels)."""
    view = store.views.get(ticket_id)
    store.corrections.correct(ticket_id, label)
    store.audit.record(ticket_id, "category_corrected", actor=actor, role=role,
                       detail={"label": label, "previous_label": (view["category"] or {}).get("label")})
    reroute(store, rules, ticket_id, actor=actor, role=role)


def correct_urgency(store: TicketStore, rules: Routing, ticket_id: str, level: UrgencyLevel, *, actor: str,
                    role: str) -> None:
    """``level`` for the ticket, with the score that goes with it."""
    current = store.views.get(ticket_id)["urgency"] or {"score": 0.0}
    store.corrections.correct_urgency(ticket_id, level.value, score=urgency.score_for_level(current["score"], level))
    store.audit.record(ticket_id, "urgency_corrected", actor=actor, role=role,
                       detail={"level": level.value, "previous_level": current.get("level")})
    reroute(store, rules, ticket_id, actor=actor, role=role)


def reroute(store: TicketStore, rules: Routing, ticket_id: str, *, actor: str, role: str) -> None:
    """Route a ticket again after a correction, keeping its assignee and acknowledgement; the trail
    records a change of team, rule or priority."""
    view = store.views.get(ticket_id)
    if view["route"] is None:
        return  # not routed yet: notify will route it with the correction
    ticket = store.tickets.load(ticket_id)
    route = rules.route(routing.routed_ticket(ticket, view["category"], view["urgency"], view["incident"],
                                              view["language"]))
    record = route.record(created_at=ticket.created_at, routing=rules, previous=view["route"])
    if record["team"] != view["route"]["team"]:
        record["assignee"] = None  # another team's work now
    store.routes.reroute(ticket_id, record, score=float((view["urgency"] or {}).get("score", 0.0)),
                         created_at=ticket.created_at)
    assignment.dispatch(store, rules, [record["team"]])
    moved = {key: (view["route"].get(key), record.get(key)) for key in ("team", "priority")}
    moved["rule"] = tuple((r or {}).get("name") for r in (view["route"].get("rule"), record.get("rule")))
    if any(old != new for old, new in moved.values()):
        detail = {key: new for key, (_, new) in moved.items()}
        detail.update({f"previous_{key}": old for key, (old, _) in moved.items()})
        store.audit.record(ticket_id, "rerouted", actor=actor, role=role, detail=detail)
