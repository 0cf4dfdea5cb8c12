"""Agents as people: each agent (a member of a team in the routing) has keys of their own, which an
operator issues, lists and revokes here; ``/api/me`` says who a key is. An agent's key acts as that
agent only, on the queues and tickets of their teams (NotATeamMember otherwise); an operator's key
acts for whichever agent it names. Each action on a ticket goes into its audit trail with who did it.

Registered on the API blueprint (web/api.py): the same keys, roles and rate limit.
"""

from __future__ import annotations

from typing import Any

from flask import g

from smartsupport.errors import ActingAsAnotherAgent, AgentKeyNotFound, NotATeamMember, UnknownAgent

from smartsupport import assignment

from . import answers
from .auth import digest, new_key
from .blueprint import api, current_services, json_object, operator_only, operator_or_agent, validated
from .openapi import documented
from .schemas import PresenceIn


@api.get("/me")
@documented("The key's role, and for an agent's key the agent and their teams.", answers={200: answers.Me},
            operation_id="whoAmI")
def who_am_i():
    """The key's role, and for an agent's key, the agent and their teams (the dashboard asks)."""
    principal = g.principal
    return {"role": principal.role, "agent": principal.agent,
            "teams": agent_teams(principal.agent) if principal.is_agent else []}


@api.post("/agents/<name>/keys")
@documented("A new key for an agent of the routing (answered once).", answers={201: answers.IssuedKey},
            errors=(403, 404), operation_id="issueAgentKey")
def issue_agent_key(name: str):
    """A new key for an agent of the routing: answered this once, only its digest is kept."""
    operator_only()
    if not agent_teams(name):
        raise UnknownAgent(f"no team of the routing lists an agent {name!r}")
    key = new_key()
    listed = current_services().store.agents.add_key(name, digest(key))
    return {"agent": name, "key": key, **listed}, 201


@api.get("/agents/<name>/keys")
@documented("The agent's keys by fingerprint.", answers={200: answers.AgentKeys}, errors=(403,),
            operation_id="listAgentKeys")
def list_agent_keys(name: str):
    """The agent's keys by fingerprint (never the keys themselves), oldest first."""
    operator_only()
    return {"agent": name, "keys": current_services().store.agents.keys_of(name)}


@api.delete("/agents/<name>/keys/<fingerprint>")
@documented("Revoke one of the agent's keys.", answers={200: answers.RevokedKey}, errors=(403, 404),
            operation_id="revokeAgentKey")
def revoke_agent_key(name: str, fingerprint: str):
    """The key stops working at once (its next request gets 401)."""
    operator_only()
    if not current_services().store.agents.revoke(name, fingerprint):
        raise AgentKeyNotFound(f"{name} has no key {fingerprint}")
    return {"agent": name, "fingerprint": fingerprint, "revoked": True}


@api.put("/agents/<name>/presence")
@documented("Say an agent is available, away, or follows their calendar; work is pushed to them, or their "
            "unacknowledged tickets handed to others, at once.", answers={200: answers.Presence},
            errors=(400, 403, 404, 415, 422), body=PresenceIn, operation_id="setPresence")
def set_presence(name: str):
    """An agent's own key sets only their own presence; an operator's, anyone's."""
    operator_or_agent()
    agent = acting_agent(name)
    payload = validated(PresenceIn, json_object())
    teams = agent_teams(agent)
    if not teams:
        raise UnknownAgent(f"no team of the routing lists an agent {agent!r}")
    store = current_services().store
    store.assignment.set_presence(agent, payload.status)
    if payload.status == "away":
        store.assignment.release(agent)
    push_work(teams)
    return presence_of([agent])[agent]


def push_work(teams: list[str] | None = None) -> None:
    """Hand out what waits in ``teams`` (all that push) now: an agent freed up, came back or left."""
    services = current_services()
    assignment.dispatch(services.store, services.routing.current(), teams)


def presence_of(agents: list[str]) -> dict[str, dict[str, Any]]:
    """Each agent's presence as the API shows it, with ``there``: whether work may be pushed to them now."""
    services = current_services()
    presence = services.store.assignment.presence(agents)
    there = assignment.there(services.routing.current(), presence)
    return {agent: {"agent": agent, **state, "there": there[agent]} for agent, state in presence.items()}


def agent_teams(agent: str | None) -> list[str]:
    """The teams of the routing in force that list ``agent`` as a member."""
    rules = current_services().routing.current()
    return [team.name for team in rules.teams.values() if any(m.name == agent for m in team.members)]


def acting_agent(named: str) -> str:
    """Who a request acts as: an agent's key, its own agent (naming another is ActingAsAnotherAgent);
    an operator's key, the agent it names ("" for none)."""
    principal = g.principal
    if not principal.is_agent:
        return named
    if named and named != principal.agent:
        raise ActingAsAnotherAgent(f"this key is {principal.agent}'s: it cannot act as {named}")
    return principal.agent


def check_team(team: str) -> None:
    """For an agent's key, NotATeamMember unless ``team`` is one of theirs (operators: any team)."""
    principal = g.principal
    if principal.is_agent and team not in agent_teams(principal.agent):
        raise NotATeamMember(f"{principal.agent} is not a member of {team}")


def on_own_teams(view: dict[str, Any]) -> bool:
    """Whether the ticket is routed to one of the requesting agent's teams."""
    route = view.get("route")
    return route is not None and route["team"] in agent_teams(g.principal.agent)


def check_ticket(view: dict[str, Any]) -> None:
    """For an agent's key, NotATeamMember unless the ticket is routed to one of their teams."""
    principal = g.principal
    if principal.is_agent and not on_own_teams(view):
        team = (view.get("route") or {}).get("team")
        raise NotATeamMember(f"{principal.agent} is not a member of {team}" if team else
                             f"the ticket is not routed to a team yet, and {principal.agent} acts only on "
                             "their teams' tickets")


def audit(ticket_id: str, action: str, **detail: Any) -> None:
    """One entry in the ticket's audit trail, naming who sent this request."""
    principal = g.principal
    current_services().store.audit.record(ticket_id, action, actor=principal.actor, role=principal.role,
                                          detail=detail)
