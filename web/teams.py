"""Teams and routes over HTTP: the team queues, taking the next ticket, acknowledging, resolving.

Registered on the API blueprint (web/api.py): the same keys, roles and rate limit.
"""

from __future__ import annotations

import time
import uuid

from flask import g, request

from smartsupport.errors import AgentNotNamed, NotATeamMember, NoRoute, TicketNotFound, UnknownTeam
from smartsupport.store.views import for_submitter
from workers.pipeline import rescore

from . import answers
from .agents import acting_agent, agent_teams, audit, check_team, presence_of, push_work
from .blueprint import api, current_services, json_object, operator_or_agent, validated
from .clocks import with_clock
from .openapi import documented
from .schemas import AckIn, AgentIn, ReplyIn


@api.get("/teams")
@documented("Each team's queue, breaches and time to acknowledge; the routing in force.",
            answers={200: answers.Teams}, errors=(403,))
def list_teams():
    """Each team with its members, queue depth, oldest waiting ticket, SLA breaches and time to
    acknowledge; the routing in force and, when its file did not reload, why. An agent's key sees
    only their own teams, and not the routing."""
    operator_or_agent()
    services = current_services()
    rules = services.routing.current()
    names = agent_teams(g.principal.agent) if g.principal.is_agent else rules.team_names()
    summaries = services.store.routes.teams_summary(names)
    presence = presence_of(sorted({m.name for name in names for m in rules.teams[name].members}))
    for summary in summaries:
        team = rules.teams[summary["team"]]
        summary["assignment"] = team.assignment
        summary["members"] = [{"name": m.name, "capacity": m.capacity, **_presence_fields(presence[m.name])}
                              for m in team.members]
        summary["available"] = [m.name for m in team.members if presence[m.name]["there"]]
    if g.principal.is_agent:
        return {"teams": summaries}
    return {"teams": summaries, "routing": routing_state(services)}


@api.post("/teams/<team>/next")
@documented("Hand the agent the most urgent waiting ticket of the team (204: none waits).",
            answers={200: answers.Ticket, 204: None}, errors=(400, 403, 404, 409, 415, 422), body=AgentIn,
            operation_id="takeNextTicket")
def take_next(team: str):
    """Hand the agent (an agent's key: its own) the most urgent waiting ticket of the team (204 when
    none waits)."""
    operator_or_agent()
    agent = acting_agent(validated(AgentIn, json_object() if request.get_data() else {}).agent)
    if not agent:
        raise AgentNotNamed("an operator's key must name the agent who takes the ticket: {\"agent\": \"<name>\"}")
    services = current_services()
    rules = services.routing.current()
    if team not in rules.teams:
        raise UnknownTeam(f"no team {team!r}; teams are {', '.join(rules.team_names())}")
    check_team(team)
    try:
        capacity = rules.teams[team].capacity_of(agent)
    except KeyError:
        raise NotATeamMember(f"{agent} is not a member of {team}") from None
    ticket_id = services.store.routes.take_next(team, agent, capacity=capacity)
    if ticket_id is None:
        return "", 204
    audit(ticket_id, "assigned", agent=agent, team=team)
    return with_clock(services.store.views.get(ticket_id))


@api.post("/tickets/<ticket_id>/ack")
@documented("Acknowledge the ticket: its SLA clock stops.", answers={200: answers.Ticket},
            errors=(400, 403, 404, 409, 415, 422), body=AckIn, operation_id="ackTicket")
def acknowledge(ticket_id: str):
    """The first response: the ticket's SLA clock stops (no warning or breach fires after this)."""
    return _close(ticket_id, "ack")


@api.post("/tickets/<ticket_id>/resolve")
@documented("Resolve the ticket: acknowledged, and out of every queue.", answers={200: answers.Ticket},
            errors=(400, 403, 404, 409, 415, 422), body=AckIn, operation_id="resolveTicket")
def resolve(ticket_id: str):
    """Done with the ticket: acknowledged if it was not, and out of its team's and agent's queues."""
    return _close(ticket_id, "resolve")


@api.post("/tickets/<ticket_id>/wait")
@documented("Waiting on the customer: the ticket's SLA clock pauses until they reply.",
            answers={200: answers.Ticket}, errors=(400, 403, 404, 409, 415, 422), body=AckIn,
            operation_id="waitOnCustomer")
def wait_on_customer(ticket_id: str):
    """The agent asked the customer something: no SLA warning or breach while the ticket waits; the
    customer's reply (the API's replies, or mail) runs the clock again, with the open time used kept."""
    operator_or_agent()
    agent = acting_agent(validated(AckIn, json_object() if request.get_data() else {}).agent)
    store = current_services().store
    view = store.views.get(ticket_id)
    if view["route"] is None:
        raise NoRoute("the ticket has not been routed yet (it is still being processed)")
    check_team(view["route"]["team"])
    if view["route"].get("waiting_since") is None and view["route"].get("resolved_at") is None:
        store.routes.wait(ticket_id)
        audit(ticket_id, "waiting", **({"agent": agent} if agent else {}))
    return with_clock(store.views.get(ticket_id))


@api.post("/tickets/<ticket_id>/replies")
@documented("The customer's reply: it joins the ticket, re-scores it, and ends a wait on the customer.",
            answers={202: answers.Ticket}, errors=(400, 404, 413, 415, 422), body=ReplyIn, operation_id="addReply")
def add_reply(ticket_id: str):
    """The key that submitted the ticket (the customer's), or an operator's on their behalf."""
    payload = validated(ReplyIn, json_object())
    services = current_services()
    view = services.store.views.get(ticket_id)
    if not g.principal.is_operator and view["submitter"] != g.principal.fingerprint:
        raise TicketNotFound(ticket_id)
    reply_id = f"api:{uuid.uuid4().hex}"
    services.store.mail.add_reply(ticket_id, reply_id, reply_id, {"message_id": reply_id, "body": payload.body,
                                                                  "from": "api", "attachments": []})
    rules = services.routing.current()
    waited = (view["route"] or {}).get("waiting_since") is not None
    services.store.routes.resume(ticket_id, lambda sla: rules.sla_resumed(sla, resumed_at=time.time()))
    audit(ticket_id, "replied", via="api", resumed=waited)
    rescore(ticket_id)
    view = with_clock(services.store.views.get(ticket_id))
    return (view if g.principal.is_operator else for_submitter(view)), 202


def _presence_fields(presence: dict) -> dict:
    """A member's presence in the teams list: status, whether there now, and their open tickets (load)."""
    return {"status": presence["status"], "there": presence["there"], "load": presence["open"]}


def _close(ticket_id: str, what: str):
    """Acknowledge or resolve, as the key's agent (or the one an operator names); the trail records
    it when it changed the route (doing it again changes nothing)."""
    operator_or_agent()
    agent = acting_agent(validated(AckIn, json_object() if request.get_data() else {}).agent)
    store = current_services().store
    view = store.views.get(ticket_id)  # 404 for an unknown ticket
    if view["route"] is None:
        raise NoRoute("the ticket has not been routed yet (it is still being processed)")
    check_team(view["route"]["team"])
    store.routes.close_route(ticket_id, what, agent=agent, calendars=current_services().routing.current().calendars)
    done = "acknowledged_at" if what == "ack" else "resolved_at"
    if view["route"].get(done) is None:
        audit(ticket_id, "acknowledged" if what == "ack" else "resolved", **({"agent": agent} if agent else {}))
    if what == "resolve":
        push_work([view["route"]["team"]])  # its assignee has room for the next
    return with_clock(store.views.get(ticket_id))


def routing_state(services) -> dict:
    source = services.routing
    return {"file": str(source.path) if source.path else None, "error": source.error,
            "rules": [r.name for r in source.current().rules]}
