"""Reading a routing file: every problem found at once, each named by its place (ConfigError)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .. import calendars as calendar_config
from ..calendars import Calendar
from ..errors import ConfigError
from ..language import known_codes
from ..parsing import webhook_secret
from .rules import (ASSIGNMENTS, DEFAULT_EVENTS, DEFAULT_WARNING_SHARE, EVENTS, FORMATS, LEVELS, MATCH_KEYS,
                    Destination, Escalation, HelpdeskMapping, Match, Member, Routing, Rule, Skills, Team)
from .sla import SlaPolicy


VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
TOP_LEVEL = ("teams", "destinations", "calendars", "sla_policies", "rules", "sla_warning_share", "helpdesk")
POLICY_KEYS = ("first_response_minutes", "resolution_minutes", "calendar")


def load(path: Path, *, labels: Iterable[str]) -> Routing:
    """Read and check a routing file; raises ConfigError listing every problem, each with its place."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"routing file {path}: cannot be read: {exc}") from exc
    return parse_text(text, labels=labels, source=str(path))


def parse_text(text: str, *, labels: Iterable[str], source: str, env: Mapping[str, str] | None = None) -> Routing:
    """Check the text of a routing file (JSON when ``source`` ends in .json, else YAML), its
    ``${NAME}`` read from ``env`` (this process's environment by default)."""
    try:
        raw = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"routing file {source}: cannot be read: {exc}") from exc
    return parse(raw, labels=labels, source=source, env=env)


def variables(text: str) -> set[str]:
    """The names of the environment variables a routing file's text refers to."""
    return set(VARIABLE.findall(text))


def parse(raw: Any, *, labels: Iterable[str], source: str = "routing", env: Mapping[str, str] | None = None) -> Routing:
    """Build a Routing from the file's data; ConfigError names every bad place at once."""
    problems: list[str] = []
    labels = tuple(labels)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping with teams, destinations, sla_policies and rules")
    unknown = set(raw) - set(TOP_LEVEL)
    if unknown:
        problems.append(f"unknown top-level keys {sorted(unknown)} (known: {list(TOP_LEVEL)})")
    teams = _teams(raw.get("teams"), problems)
    destinations = _destinations(raw.get("destinations") or [], problems, os.environ if env is None else env)
    calendars = _calendars(raw.get("calendars") or {}, problems)
    policies = _policies(raw.get("sla_policies") or {}, calendars, problems)
    share = raw.get("sla_warning_share", DEFAULT_WARNING_SHARE)
    if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share < 1:
        problems.append(f"sla_warning_share: must be a number between 0 and 1, not {share!r}")
        share = DEFAULT_WARNING_SHARE
    rules = _rules(raw.get("rules"), labels, teams, destinations, policies, problems)
    _check_members(teams, calendars, labels, problems)
    helpdesk = _helpdesk(raw.get("helpdesk") or {}, teams, problems)
    if problems:
        raise ConfigError(f"{source}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    return Routing(teams, destinations, policies, tuple(rules), float(share), source,
                   {name: c for name, c in calendars.items() if c is not None}, helpdesk)


def _check_members(teams: dict[str, Team], calendars: dict[str, Calendar | None], labels: tuple[str, ...],
                   problems: list[str]) -> None:
    """Members' calendars are the file's, their skills the labels' categories and known languages."""
    for team in teams.values():
        for member in team.members:
            where = f"teams ({team.name}).members ({member.name})"
            if member.calendar is not None and member.calendar not in calendars:
                problems.append(f"{where}.calendar: unknown calendar {member.calendar!r} (calendars: "
                                f"{sorted(calendars)})")
            unknown = [c for c in member.skills.categories if c not in labels]
            if unknown:
                problems.append(f"{where}.skills.categories: unknown categories {unknown} (labels: {list(labels)})")
            try:
                known_codes(member.skills.languages)
            except ValueError as exc:
                if member.skills.languages:
                    problems.append(f"{where}.skills.languages: {exc}")


def _helpdesk(raw: Any, teams: dict[str, Team], problems: list[str]) -> HelpdeskMapping:
    """``helpdesk: {queues: {<team>: <queue>}, intake: [<queue>, ...]}`` (docs/helpdesk.md)."""
    if not isinstance(raw, dict) or set(raw) - {"queues", "intake"}:
        problems.append("helpdesk: a mapping with queues (team: queue) and intake (a list of queues)")
        return HelpdeskMapping()
    queues = raw.get("queues") or {}
    if not isinstance(queues, dict) or not all(isinstance(q, str) and q.strip() for q in queues.values()):
        problems.append("helpdesk.queues: a mapping of team names to queue names")
        queues = {}
    problems += [f"helpdesk.queues: no team {team!r}" for team in queues if team not in teams]
    intake = _strings(raw.get("intake", ["General"]), "helpdesk.intake", problems)
    if not intake:
        problems.append("helpdesk.intake: at least one queue to take new tickets from")
    return HelpdeskMapping({str(t): q.strip() for t, q in queues.items()}, intake or ("General",))


def _teams(raw: Any, problems: list[str]) -> dict[str, Team]:
    teams: dict[str, Team] = {}
    if not isinstance(raw, list) or not raw:
        problems.append("teams: must be a non-empty list")
        return teams
    for i, item in enumerate(raw):
        where = f"teams[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            problems.append(f"{where}: needs a name")
            continue
        name = item["name"].strip()
        where = f"teams[{i}] ({name})"
        if name in teams:
            problems.append(f"{where}: a second team of that name")
        assignment = item.get("assignment", "pull")
        if assignment not in ASSIGNMENTS:
            problems.append(f"{where}: assignment must be one of {list(ASSIGNMENTS)}, not {assignment!r}")
        members = [m for j, raw_member in enumerate(item.get("members") or [])
                   if (m := _member(raw_member, f"{where}.members[{j}]", problems)) is not None]
        if assignment != "pull" and not members:
            problems.append(f"{where}: assignment {assignment} needs members to push work to")
        teams[name] = Team(name, tuple(members), assignment if assignment in ASSIGNMENTS else "pull")
    return teams


def _member(raw: Any, where: str, problems: list[str]) -> Member | None:
    """``carol`` or ``{name: carol, capacity: 3, skills: {categories: [...], languages: [de]}, calendar: berlin}``."""
    member = {"name": raw} if isinstance(raw, str) else raw
    capacity = member.get("capacity") if isinstance(member, dict) else None
    if not isinstance(member, dict) or not isinstance(member.get("name"), str) or (
            capacity is not None and (not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1)):
        problems.append(f"{where}: a name and an optional capacity of at least 1")
        return None
    unknown = set(member) - {"name", "capacity", "skills", "calendar"}
    skills = member.get("skills") or {}
    lists = {k: skills.get(k) or [] for k in ("categories", "languages")} if isinstance(skills, dict) else {}
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    if not isinstance(skills, dict) or set(skills) - set(lists) or not all(
            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in lists.values()):
        problems.append(f"{where}.skills: a mapping of categories and languages, each a list of names")
        return None
    calendar = member.get("calendar")
    if calendar is not None and not isinstance(calendar, str):
        problems.append(f"{where}.calendar: the name of a calendar")
        calendar = None
    return Member(member["name"], capacity, Skills(tuple(lists["categories"]), tuple(lists["languages"])), calendar)


def _destinations(raw: Any, problems: list[str], env: Mapping[str, str]) -> dict[str, Destination]:
    found: dict[str, Destination] = {}
    if not isinstance(raw, list):
        problems.append("destinations: must be a list")
        return found
    for i, item in enumerate(raw):
        name = item.get("name") if isinstance(item, dict) else None
        where = f"destinations[{i}]" + (f" ({name})" if name else "")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: needs a name")
            continue
        before = len(problems)
        url, secret, previous = (_expand(item.get(k), f"{where}.{k}", problems, env)
                                 for k in ("url", "secret", "previous_secret"))
        if len(problems) == before and (not isinstance(url, str) or not re.match(r"https?://[^/\s]+", url)):
            problems.append(f"{where}: needs a url (http:// or https://)")
        try:
            if len(problems) == before:
                webhook_secret(secret if isinstance(secret, str) else "")
        except ValueError:
            problems.append(f"{where}: needs a secret (a Standard Webhooks secret starting with whsec_)")
        try:
            if len(problems) == before and previous not in (None, ""):  # "": the rotation is over
                webhook_secret(previous if isinstance(previous, str) else "")
        except ValueError:
            problems.append(f"{where}: previous_secret must be a Standard Webhooks secret starting with whsec_")
        events = tuple(item.get("events") or DEFAULT_EVENTS)
        if not set(events) <= set(EVENTS):
            problems.append(f"{where}: unknown events {sorted(set(events) - set(EVENTS))} (known: {list(EVENTS)})")
        fmt = item.get("format", "standard")
        if fmt not in FORMATS:
            problems.append(f"{where}: format must be one of {list(FORMATS)}, not {fmt!r}")
        if name in found:
            problems.append(f"{where}: a second destination of that name")
        found[name] = Destination(name, str(url), str(secret), events, fmt, str(previous or ""))
    return found


def _expand(value: Any, where: str, problems: list[str], env: Mapping[str, str]) -> Any:
    """``${NAME}`` in a string replaced by that environment variable (an unset one is a problem)."""
    if not isinstance(value, str):
        return value

    def variable(m: re.Match) -> str:
        if m.group(1) not in env:
            problems.append(f"{where}: the environment variable {m.group(1)} is not set")
            return ""
        return env[m.group(1)]
    return VARIABLE.sub(variable, value)


def _calendars(raw: Any, problems: list[str]) -> dict[str, Calendar | None]:
    """Each calendar by name (None for one with problems, so that policies naming it are not blamed)."""
    if not isinstance(raw, dict):
        problems.append("calendars: must be a mapping of name to {timezone, hours, holidays, closed}")
        return {}
    return {str(name): calendar_config.from_config(str(name), item, problems) for name, item in raw.items()}


def _policies(raw: Any, calendars: dict[str, Calendar | None], problems: list[str]) -> dict[str, SlaPolicy]:
    found: dict[str, SlaPolicy] = {}
    if not isinstance(raw, dict):
        problems.append(f"sla_policies: must be a mapping of name to {{{', '.join(POLICY_KEYS)}}}")
        return found
    for name, item in raw.items():
        where = f"sla_policies.{name}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping of {list(POLICY_KEYS)}")
            continue
        before = len(problems)
        unknown = set(item) - set(POLICY_KEYS)
        if unknown:
            problems.append(f"{where}: unknown keys {sorted(map(str, unknown))} (known: {list(POLICY_KEYS)})")
        first, resolution = (_minutes(item.get(k), f"{where}.{k}", problems)
                             for k in ("first_response_minutes", "resolution_minutes"))
        if first is None and resolution is None:
            problems.append(f"{where}: needs first_response_minutes or resolution_minutes (or both), "
                            "numbers above 0")
        elif first is not None and resolution is not None and resolution < first:
            problems.append(f"{where}: resolution_minutes ({resolution / 60:g}) is below first_response_minutes "
                            f"({first / 60:g})")
        calendar = item.get("calendar")
        if calendar is not None and calendar not in calendars:
            problems.append(f"{where}.calendar: unknown calendar {calendar!r} (calendars: {sorted(calendars)})")
        if len(problems) == before:
            found[str(name)] = SlaPolicy(str(name), first, resolution, calendar)
    return found


def _minutes(raw: Any, where: str, problems: list[str]) -> float | None:
    """Seconds of a ``*_minutes`` value (None when absent or bad, a bad one added to ``problems``)."""
    if raw is None:
        return None
    if not isinstance(raw, (int, float)) or isinstance(raw, bool) or not 0 < raw < float("inf"):
        problems.append(f"{where}: must be a number of minutes above 0, not {raw!r}")
        return None
    return float(raw) * 60.0


def _rules(raw: Any, labels: tuple[str, ...], teams: dict[str, Team], destinations: dict[str, Destination],
           policies: dict[str, SlaPolicy], problems: list[str]) -> list[Rule]:
    rules: list[Rule] = []
    if not isinstance(raw, list) or not raw:
        problems.append("rules: must be a non-empty list, the last one without a match (the default)")
        return rules
    seen_match_all = None
    for i, item in enumerate(raw):
        name = item.get("name", f"rule {i + 1}") if isinstance(item, dict) else f"rule {i + 1}"
        where = f"rules[{i}] ({name})"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping")
            continue
        if seen_match_all is not None:
            problems.append(f"{where}: can never match: {seen_match_all} before it matches every ticket")
        team = item.get("team")
        if team not in teams:
            problems.append(f"{where}: unknown team {team!r} (teams: {sorted(teams)})")
        sla = item.get("sla")
        if sla is not None and sla not in policies:
            problems.append(f"{where}: unknown SLA policy {sla!r} (policies: {sorted(policies)})")
        notify = tuple(item.get("notify") or ())
        for d in notify:
            if d not in destinations:
                problems.append(f"{where}: unknown destination {d!r} (destinations: {sorted(destinations)})")
        match = _match(item.get("match"), where, labels, problems) if "match" in item else None
        if match is None or match == Match():
            seen_match_all = where
        rules.append(Rule(str(name), str(team), match, str(item.get("priority", "normal")), sla, notify,
                          _escalation(item.get("escalate"), where, teams, sla, problems)))
    if rules and rules[-1].match not in (None, Match()):
        problems.append(f"rules[{len(rules) - 1}] ({rules[-1].name}): the last rule must have no match "
                        "(it catches every ticket the others leave)")
    unrouted = sorted(set(teams) - {r.team for r in rules} - {r.escalate.team for r in rules if r.escalate})
    if unrouted:
        problems.append(f"teams {unrouted}: no rule routes to them")
    return rules


def _escalation(raw: Any, where: str, teams: dict[str, Team], sla: str | None,
                problems: list[str]) -> Escalation | None:
    """``escalate: {team: <team>, priority: <priority>}``: what a breach of the rule's SLA does."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw or set(raw) - {"team", "priority"} or not all(
            isinstance(v, str) and v for v in raw.values()):
        problems.append(f"{where}.escalate: a mapping with a team and/or a priority")
        return None
    if raw.get("team") is not None and raw["team"] not in teams:
        problems.append(f"{where}.escalate.team: unknown team {raw['team']!r} (teams: {sorted(teams)})")
    if sla is None:
        problems.append(f"{where}.escalate: the rule has no sla, so nothing can breach")
    return Escalation(raw.get("team"), raw.get("priority"))


def _match(raw: Any, where: str, labels: tuple[str, ...], problems: list[str]) -> Match:
    if not isinstance(raw, dict):
        problems.append(f"{where}.match: must be a mapping of {list(MATCH_KEYS)}")
        return Match()
    unknown = set(raw) - set(MATCH_KEYS)
    if unknown:
        problems.append(f"{where}.match: unknown keys {sorted(unknown)} (known: {list(MATCH_KEYS)})")
    categories = _strings(raw.get("category"), f"{where}.match.category", problems)
    for c in categories:
        if c not in labels:
            problems.append(f"{where}.match.category: unknown category {c!r} (labels: {list(labels)})")
    levels = _strings(raw.get("urgency"), f"{where}.match.urgency", problems)
    for level in levels:
        if level not in LEVELS:
            problems.append(f"{where}.match.urgency: unknown level {level!r} (levels: {list(LEVELS)})")
    score = raw.get("score") or {}
    low, high = (score.get("min", 0.0), score.get("max", 1.0)) if isinstance(score, dict) else (None, None)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in (low, high)):
        problems.append(f"{where}.match.score: min and max between 0 and 1")
        low, high = 0.0, 1.0
    elif low > high:
        problems.append(f"{where}.match.score: can never match: min {low} is above max {high}")
    incident = raw.get("incident")
    if incident is not None and not isinstance(incident, bool):
        problems.append(f"{where}.match.incident: true or false")
        incident = None
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        problems.append(f"{where}.match.metadata: a mapping of field to value(s)")
        metadata = {}
    meta = tuple((str(k), tuple(str(v) for v in (vs if isinstance(vs, list) else [vs]))) for k, vs in metadata.items())
    for key, values in meta:
        if not values:
            problems.append(f"{where}.match.metadata.{key}: can never match: no values")
    phrases = _strings(raw.get("phrases"), f"{where}.match.phrases", problems)
    return Match(categories, levels, float(low), float(high), incident, meta, phrases,
                 _languages(raw.get("language"), f"{where}.match.language", problems))


def _languages(raw: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    """ISO 639-1 codes (``de`` or ``[de, fr]``), each one lingua can detect."""
    codes = _strings(raw, where, problems)
    try:
        return known_codes(codes) if codes else ()
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return ()


def _strings(raw: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if raw is None:
        return ()
    values = raw if isinstance(raw, list) else [raw]
    if not values or not all(isinstance(v, str) and v for v in values):
        problems.append(f"{where}: a name or a non-empty list of names" + (" (can never match)" if not values else ""))
        return ()
    return tuple(values)
