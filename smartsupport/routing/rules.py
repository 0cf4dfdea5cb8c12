"""The routing types: teams, destinations, rules and the decision a ticket gets (``Routing.route``);
``sla`` has the SLA policies and their deadlines, ``file`` builds them from a routing file, ``source``
keeps the one in force."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ..calendars import Calendar
from ..ticket import UrgencyLevel
from .sla import FIRED, SlaPolicy, sla_after_resume, sla_clock, sla_record

#: Events a destination can ask for. ``ticket.routed``: every ticket a rule sends it;
#: ``ticket.urgent``: those at or above the urgency threshold; the SLA events at their times.
EVENTS = ("ticket.routed", "ticket.urgent", "ticket.sla_warning", "ticket.sla_breached")
DEFAULT_EVENTS = ("ticket.urgent", "ticket.sla_warning", "ticket.sla_breached")
FORMATS = ("standard", "slack")
LEVELS = tuple(level.value for level in UrgencyLevel)
#: Share of each SLA target's open time after which its warning falls due, unless the file says.
DEFAULT_WARNING_SHARE = 0.75
MATCH_KEYS = ("category", "urgency", "score", "incident", "metadata", "phrases", "language")
#: How a team's work reaches its agents: they pull it (``next``), or it is pushed to an available
#: member in turn (``round_robin``) or to the one holding the fewest open tickets (``least_loaded``).
ASSIGNMENTS = ("pull", "round_robin", "least_loaded")


@dataclass(frozen=True)
class Skills:
    """What a member may be given when work is pushed: tickets of these categories and languages
    (empty: any). A ticket whose language is undecided (a few words, a number) is anyone's."""
    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def allow(self, category: str, language: str | None) -> bool:
        if self.categories and category not in self.categories:
            return False
        return not self.languages or language is None or language in self.languages


@dataclass(frozen=True)
class Member:
    name: str
    capacity: int | None = None
    skills: Skills = Skills()
    #: The calendar the member follows when they have not said available or away (None: none).
    calendar: str | None = None


@dataclass(frozen=True)
class Team:
    name: str
    members: tuple[Member, ...] = ()
    assignment: str = "pull"

    @property
    def pushes(self) -> bool:
        return self.assignment != "pull" and bool(self.members)

    def capacity_of(self, agent: str) -> int | None:
        """The agent's capacity (None: unlimited); raises KeyError for someone not in the team,
        unless the team lists no members (then anyone may take its work)."""
        if not self.members:
            return None
        for member in self.members:
            if member.name == agent:
                return member.capacity
        raise KeyError(agent)


@dataclass(frozen=True)
class Destination:
    name: str
    url: str
    secret: str
    events: tuple[str, ...] = DEFAULT_EVENTS
    format: str = "standard"
    #: While its secret is rotated: the old one, which signs its events too ("": none).
    previous_secret: str = ""


@dataclass(frozen=True)
class Match:
    categories: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    score_min: float = 0.0
    score_max: float = 1.0
    incident: bool | None = None
    metadata: tuple[tuple[str, tuple[str, ...]], ...] = ()
    phrases: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()

    def why(self, ticket: "RoutedTicket") -> str | None:
        """Why the ticket matches (a short reason), or None when it does not."""
        reasons = []
        if self.categories:
            if ticket.category not in self.categories:
                return None
            reasons.append(f"category {ticket.category}")
        if self.levels:
            if ticket.level not in self.levels:
                return None
            reasons.append(f"urgency {ticket.level}")
        if (self.score_min, self.score_max) != (0.0, 1.0):
            if not self.score_min <= ticket.score <= self.score_max:
                return None
            reasons.append(f"score {ticket.score:.2f} in [{self.score_min}, {self.score_max}]")
        if self.incident is not None:
            if self.incident != ticket.in_incident:
                return None
            reasons.append("in an incident" if self.incident else "in no incident")
        for key, allowed in self.metadata:
            value = ticket.metadata.get(key)
            if str(value) not in allowed:
                return None
            reasons.append(f"metadata {key}={value}")
        if self.phrases:
            text = ticket.text.lower()
            found = next((p for p in self.phrases if p.lower() in text), None)
            if found is None:
                return None
            reasons.append(f"mentions {found!r}")
        if self.languages:
            if ticket.language not in self.languages:
                return None
            reasons.append(f"written in {ticket.language}")
        return ", ".join(reasons) or "every ticket"


@dataclass(frozen=True)
class Escalation:
    """What a breach of the rule's SLA does beyond its event, once per ticket: hand the ticket to
    another team and/or raise its priority (None: leave it)."""
    team: str | None = None
    priority: str | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    team: str
    match: Match | None = None  # None: the default rule
    priority: str = "normal"
    sla: str | None = None
    notify: tuple[str, ...] = ()
    escalate: Escalation | None = None


@dataclass(frozen=True)
class RoutedTicket:
    """What routing looks at."""
    category: str
    level: str
    score: float
    in_incident: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    #: ISO 639-1 (None: undecided or not detected).
    language: str | None = None


@dataclass(frozen=True)
class Route:
    team: str
    rule: str
    why: str
    priority: str
    sla_policy: str | None
    destinations: tuple[str, ...]

    def record(self, *, created_at: float, routing: "Routing", previous: dict | None = None) -> dict[str, Any]:
        """The route as the ticket keeps it, with its deadlines from ``created_at`` in its policy's
        calendar; an earlier route's acknowledgement, resolution, assignee and wait on the customer
        carry over to a re-route, and the SLA events it fired stay fired."""
        previous = previous or {}
        sla = None
        policy = routing.sla_policies.get(self.sla_policy) if self.sla_policy else None
        if policy is not None:
            before = previous.get("sla") or {}
            sla = sla_record(policy, routing.calendars[policy.calendar] if policy.calendar else None,
                             created_at=created_at, warning_share=routing.warning_share,
                             breached=bool(before.get("breached")))
            sla.update({flag: True for flag in FIRED if before.get(flag)})
            if previous.get("waiting_since") is not None:
                sla["paused_at"] = previous["waiting_since"]
        keep = {k: previous.get(k) for k in ("assignee", "assigned_at", "acknowledged_at", "acknowledged_by",
                                             "resolved_at", "waiting_since")}
        return {"team": self.team, "rule": {"name": self.rule, "why": self.why}, "priority": self.priority,
                "sla": sla, "destinations": list(self.destinations), **keep}


@dataclass(frozen=True)
class HelpdeskMapping:
    """The routing file's ``helpdesk`` section: each team's queue in the helpdesk (a team not listed:
    the queue of its own name), and the queues new tickets are taken from."""
    queues: dict[str, str] = field(default_factory=dict)
    intake: tuple[str, ...] = ("General",)

    def queue_of(self, team: str) -> str:
        return self.queues.get(team, team)

    def team_of(self, queue: str) -> str:
        return next((team for team, name in self.queues.items() if name == queue), queue)


@dataclass(frozen=True)
class Routing:
    teams: dict[str, Team]
    destinations: dict[str, Destination]
    sla_policies: dict[str, SlaPolicy]
    rules: tuple[Rule, ...]
    warning_share: float = DEFAULT_WARNING_SHARE
    source: str = "default"
    calendars: dict[str, Calendar] = field(default_factory=dict)
    helpdesk: HelpdeskMapping = field(default_factory=HelpdeskMapping)

    def route(self, ticket: RoutedTicket) -> Route:
        """The first rule that matches (the last one matches everything)."""
        for rule in self.rules:
            why = "no other rule matched" if rule.match is None else rule.match.why(ticket)
            if rule.team == "{category}":  # the default routing's one rule
                return Route(ticket.category, rule.name, why or "", rule.priority, rule.sla, rule.notify)
            if why is not None:
                return Route(rule.team, rule.name, why, rule.priority, rule.sla, rule.notify)
        raise AssertionError("the last rule matches every ticket")  # load() checks it

    def deliveries_for(self, route: Route, *, urgent: bool) -> list[Destination]:
        """The destinations of a ticket's own event: each of the route's that wants every routed
        ticket, or urgent ones when this one is."""
        return [d for d in (self.destinations[n] for n in route.destinations)
                if "ticket.routed" in d.events or (urgent and "ticket.urgent" in d.events)]

    def sla_destinations(self, destination_names: Iterable[str], event: str) -> list[Destination]:
        return [self.destinations[n] for n in destination_names
                if n in self.destinations and event in self.destinations[n].events]

    def destination_at(self, url: str) -> Destination | None:
        return next((d for d in self.destinations.values() if d.url == url), None)

    def category_of_team(self, team: str) -> str | None:
        """The category whose tickets go to ``team``: the team itself under the default routing, else
        the first category of the first rule that sends tickets there by category (None: no rule does)."""
        for rule in self.rules:
            if rule.team == "{category}":
                return team if team in self.teams else None
            if rule.team == team and rule.match is not None and rule.match.categories:
                return rule.match.categories[0]
        return None

    def team_names(self) -> list[str]:
        return sorted(self.teams)

    def escalated(self, route: dict[str, Any], *, now: float, why: str) -> dict[str, Any] | None:
        """The route after a breach, as its rule's ``escalate`` says (another team, whose queue it
        joins unassigned; a higher priority), marked ``escalated`` so that it happens once; None when
        the rule says nothing, the rule left the file, or the ticket was escalated already."""
        rule = next((r for r in self.rules if r.name == (route.get("rule") or {}).get("name")), None)
        if rule is None or rule.escalate is None or route.get("escalated"):
            return None
        changed = {**route, "escalated": {"at": now, "why": why, "team": route["team"], "priority": route["priority"]}}
        if rule.escalate.team and rule.escalate.team != route["team"]:
            changed.update(team=rule.escalate.team, assignee=None, assigned_at=None)
        if rule.escalate.priority:
            changed["priority"] = rule.escalate.priority
        return changed

    def sla_resumed(self, sla: dict[str, Any], *, resumed_at: float) -> dict[str, Any]:
        """A paused ``sla`` running again at ``resumed_at``, the open time used before its pause kept,
        in its policy's calendar; a policy the routing no longer has: on the wall clock."""
        policy = self.sla_policies.get(sla.get("policy", ""))
        if policy is None:
            policy = SlaPolicy(sla.get("policy", ""), None)
        calendar = self.calendars.get(policy.calendar) if policy.calendar else None
        return sla_after_resume(sla, policy, calendar, paused_at=sla["paused_at"], resumed_at=resumed_at)

    def sla_clock(self, route: dict[str, Any], *, now: float) -> dict[str, Any] | None:
        """What is left of the route's deadlines at ``now`` in open time of the calendar its due times
        were counted in (smartsupport.routing.sla.sla_clock; a calendar the routing no longer has: the
        wall clock); None for a route without an SLA."""
        if not route.get("sla"):
            return None
        name = route["sla"].get("calendar")
        return sla_clock(route, self.calendars.get(name) if name else None, now=now)


def default_routing(labels: Iterable[str], webhook_urls: Iterable[str], secret: str) -> Routing:
    """No routing file: a team per category, urgent tickets to every configured endpoint."""
    destinations = {f"endpoint-{i + 1}": Destination(f"endpoint-{i + 1}", url, secret, ("ticket.urgent",))
                    for i, url in enumerate(webhook_urls)}
    rule = Rule("default", "{category}", None, "normal", None, tuple(destinations))
    return Routing({name: Team(name) for name in labels}, destinations, {}, (rule,), source="default")


def routed_ticket(ticket, category: dict | None, urgency: dict | None, incident: str | None,
                  language: dict | None = None) -> RoutedTicket:
    """What routing looks at, from a stored ticket and its stage results."""
    return RoutedTicket(category=(category or {}).get("label", ""), level=(urgency or {}).get("level", "low"),
                        score=float((urgency or {}).get("score", 0.0)), in_incident=bool(incident),
                        metadata=dict(ticket.metadata or {}), text=ticket.text,
                        language=(language or {}).get("code"))
