"""Pushing a team's waiting work to its members (``assignment: round_robin | least_loaded``).

``dispatch`` hands each waiting ticket, most urgent first, to a member whose skills allow it and who
is there (said available, or follows a calendar that is open now) and within capacity; the store's
script makes each hand-out atomic, so any number of dispatches may run at once. It runs when a
ticket is routed, when an agent frees up or comes back, and on every scheduler tick.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .routing import Routing, Team
from .store.assignment import Candidate

if TYPE_CHECKING:
    from .store import TicketStore

#: How many of a team's waiting tickets one dispatch looks at.
DISPATCH_LIMIT = 500


@dataclass(frozen=True)
class Handed:
    ticket_id: str
    team: str
    agent: str


def dispatch(store: "TicketStore", routing: Routing, teams: list[str] | None = None, *,
             now: float | None = None, calendar_open: Callable[[str, float], bool] | None = None) -> list[Handed]:
    """Hand out what waits in ``teams`` (every team that pushes by default); what was handed, to whom."""
    now = time.time() if now is None else now
    handed: list[Handed] = []
    for name in teams if teams is not None else routing.team_names():
        team = routing.teams.get(name)
        if team is not None and team.pushes:
            handed += _dispatch_team(store, team, now, calendar_open or _calendar_open(routing))
    return handed


def _dispatch_team(store: "TicketStore", team: Team, now: float, calendar_open) -> list[Handed]:
    everyone = [Candidate(m.name, m.capacity or 0, bool(m.calendar) and calendar_open(m.calendar, now))
                for m in team.members]
    by_name = {m.name: m for m in team.members}
    handed = []
    for waiting in store.assignment.waiting(team.name, limit=DISPATCH_LIMIT):
        candidates = [c for c in everyone if by_name[c.agent].skills.allow(waiting.category, waiting.language)]
        agent = store.assignment.assign(team.name, waiting.ticket_id, candidates, team.assignment, now=now)
        if agent:
            handed.append(Handed(waiting.ticket_id, team.name, agent))
        elif agent is None and len(candidates) == len(everyone):
            break  # nobody in the team can take anything now
    return handed


def _calendar_open(routing: Routing) -> Callable[[str, float], bool]:
    calendars = getattr(routing, "calendars", {}) or {}

    def is_open(name: str, now: float) -> bool:
        calendar = calendars.get(name)
        return calendar is not None and calendar.is_open(now)
    return is_open


def there(routing: Routing, presence: dict[str, dict], *, now: float | None = None,
          calendar_open: Callable[[str, float], bool] | None = None) -> dict[str, bool]:
    """For each agent of ``presence`` (the store's), whether work may be pushed to them now: they said
    available, or they follow a calendar (theirs in the routing) that is open."""
    now = time.time() if now is None else now
    calendar_open = calendar_open or _calendar_open(routing)
    calendars = {m.name: m.calendar for team in routing.teams.values() for m in team.members if m.calendar}
    return {agent: state["status"] == "available" or (
                state["status"] == "calendar" and agent in calendars and calendar_open(calendars[agent], now))
            for agent, state in presence.items()}
