"""The routing file: what it accepts, what it refuses (naming the place), and which rule wins."""

from pathlib import Path

import pytest
import yaml

from smartsupport import routing
from smartsupport.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
LABELS = ["Billing", "Technical", "Legal", "Other"]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def example_env(monkeypatch):
    for name in ("BILLING_SLACK", "TECH_PAGER", "OPS_HOOK"):
        monkeypatch.setenv(f"{name}_URL", f"http://127.0.0.1:9/{name.lower()}")
        monkeypatch.setenv(f"{name}_SECRET", SECRET)


def raw_example():
    return yaml.safe_load(EXAMPLE.read_text())


def ticket(category="Technical", level="low", score=0.1, **kw):
    return routing.RoutedTicket(category, level, score, **kw)


def test_the_example_routes_by_its_rules_first_match_wins(example_env):
    rules = routing.load(EXAMPLE, labels=LABELS)

    critical = rules.route(ticket("Technical", "critical", 0.95))
    gold = rules.route(ticket("Billing", "low", 0.1, metadata={"tier": "gold"}))
    plain = rules.route(ticket("Billing", "high", 0.6))
    legal = rules.route(ticket("Legal", "critical", 0.9))

    assert (critical.team, critical.rule, critical.priority, critical.sla_policy) == (
        "technical", "critical-technical", "P1", "urgent")
    assert critical.why == "category Technical, urgency critical"
    assert (gold.team, gold.rule, gold.destinations) == ("billing", "gold-billing", ("billing-slack", "ops-hook"))
    assert (plain.rule, plain.sla_policy) == ("billing", "relaxed")
    assert (legal.team, legal.rule, legal.why) == ("general", "everything-else", "no other rule matched")


def test_deadlines_and_destinations_follow_the_policy(example_env):
    rules = routing.load(EXAMPLE, labels=LABELS)
    route = rules.route(ticket("Technical", "critical", 0.95))

    record = route.record(created_at=1000.0, routing=rules)

    # the urgent policy has no calendar: its targets run on the wall clock
    assert record["sla"] == {"policy": "urgent", "first_response_due": 1000.0 + 15 * 60,
                             "warning_at": 1000.0 + 0.75 * 15 * 60, "breached": False,
                             "resolution_due": 1000.0 + 240 * 60, "resolution_warning_at": 1000.0 + 0.75 * 240 * 60,
                             "calendar": None, "paused_at": None, "open_s_used": 0}
    # the pager wants urgent tickets, the ops hook too; a non-urgent ticket reaches neither
    assert [d.name for d in rules.deliveries_for(route, urgent=True)] == ["tech-pager", "ops-hook"]
    assert rules.deliveries_for(route, urgent=False) == []
    # billing's Slack channel wants every routed ticket, urgent or not
    billing = rules.route(ticket("Billing"))
    assert [d.name for d in rules.deliveries_for(billing, urgent=False)] == ["billing-slack"]
    assert [d.name for d in rules.sla_destinations(billing.destinations, "ticket.sla_breached")] == ["billing-slack"]
    assert rules.sla_destinations(billing.destinations, "ticket.sla_warning") == []


def test_matches_on_score_range_incident_and_phrases():
    rules = routing.parse({
        "teams": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}],
        "rules": [{"name": "mid", "match": {"score": {"min": 0.4, "max": 0.6}}, "team": "a"},
                  {"name": "outage", "match": {"incident": True}, "team": "b"},
                  {"name": "gdpr", "match": {"phrases": ["GDPR", "data protection"]}, "team": "c"},
                  {"name": "rest", "team": "d"}]}, labels=LABELS)

    assert rules.route(ticket(score=0.5)).team == "a"
    assert rules.route(ticket(score=0.9, in_incident=True)).team == "b"
    route = rules.route(ticket(score=0.9, text="A question about gdpr and our records"))
    assert (route.team, route.why) == ("c", "mentions 'GDPR'")
    assert rules.route(ticket(score=0.9)).team == "d"


def test_without_a_file_each_category_goes_to_its_own_team_and_urgent_ones_to_every_endpoint():
    rules = routing.default_routing(LABELS, ["http://a/hook", "http://b/hook"], SECRET)

    route = rules.route(ticket("Legal", "critical", 0.9))

    assert (route.team, route.sla_policy) == ("Legal", None)
    assert [d.url for d in rules.deliveries_for(route, urgent=True)] == ["http://a/hook", "http://b/hook"]
    assert rules.deliveries_for(route, urgent=False) == []
    assert route.record(created_at=0.0, routing=rules)["sla"] is None


@pytest.mark.parametrize("change, expected", [
    (lambda r: r["rules"][0]["match"].update(category="Techincal"),
     "rules[0] (critical-technical).match.category: unknown category 'Techincal'"),
    (lambda r: r["teams"].append({"name": "nobody-routes-here"}),
     "teams ['nobody-routes-here']: no rule routes to them"),
    (lambda r: r["rules"].insert(1, {"name": "catch-all", "team": "general"}),
     "rules[2] (not-english): can never match: rules[1] (catch-all) before it matches every ticket"),
    (lambda r: r["rules"][0]["match"].update(score={"min": 0.8, "max": 0.2}),
     "rules[0] (critical-technical).match.score: can never match: min 0.8 is above max 0.2"),
    (lambda r: r["destinations"][1].pop("url"), "destinations[1] (tech-pager): needs a url"),
    (lambda r: r["destinations"][2].update(secret="hunter2"), "destinations[2] (ops-hook): needs a secret"),
    (lambda r: r["rules"][0].update(notify=["pagerr"]), "rules[0] (critical-technical): unknown destination 'pagerr'"),
    (lambda r: r["rules"][0].update(sla="urgentt"), "rules[0] (critical-technical): unknown SLA policy 'urgentt'"),
    (lambda r: r["rules"][-1].update(match={"category": "Legal"}), "the last rule must have no match"),
    (lambda r: r["rules"][0]["match"].update(urgency="panic"), "unknown level 'panic'"),
    (lambda r: r.update(helpdesk=["General"]), "helpdesk: a mapping with queues (team: queue) and intake"),
    (lambda r: r.update(helpdesk={"queue": {"billing": "Billing"}}), "helpdesk: a mapping with queues"),
    (lambda r: r.update(helpdesk={"queues": {"billing": ""}}), "helpdesk.queues: a mapping of team names to queue"),
    (lambda r: r.update(helpdesk={"queues": {"biling": "Billing"}}), "helpdesk.queues: no team 'biling'"),
    (lambda r: r.update(helpdesk={"intake": []}), "helpdesk.intake: at least one queue"),
])
def test_a_bad_file_is_refused_naming_the_place(example_env, change, expected):
    raw = raw_example()
    change(raw)

    with pytest.raises(ConfigError) as refused:
        routing.parse(raw, labels=LABELS, source="routing.yaml")

    assert expected in str(refused.value)


def test_every_problem_is_named_at_once(example_env):
    raw = raw_example()
    raw["rules"][0]["team"] = "nope"
    raw["destinations"][0]["format"] = "teams"

    with pytest.raises(ConfigError) as refused:
        routing.parse(raw, labels=LABELS, source="routing.yaml")

    assert "unknown team 'nope'" in str(refused.value) and "format must be one of" in str(refused.value)


def test_an_unset_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("TECH_PAGER_URL", raising=False)
    with pytest.raises(ConfigError, match=r"destinations\[1\] \(tech-pager\).url: the environment variable "
                                          "TECH_PAGER_URL is not set"):
        routing.load(EXAMPLE, labels=LABELS)


def test_a_bad_reload_keeps_the_rules_in_force_and_says_why(tmp_path, example_env):
    path = tmp_path / "routing.yaml"
    path.write_text(EXAMPLE.read_text())
    source = routing.RoutingSource(path, labels=lambda: LABELS, webhook_urls=(), secret=SECRET)
    first = source.current()

    path.write_text(EXAMPLE.read_text().replace("team: technical\n    priority: P1", "team: tech\n    priority: P1"))
    import os
    os.utime(path, (1, 1))
    kept = source.current()

    assert kept is first and "unknown team 'tech'" in source.error
    path.write_text(EXAMPLE.read_text().replace("P1", "P0"))
    os.utime(path, (2, 2))
    assert source.current().rules[0].priority == "P0" and source.error is None


def test_a_destination_may_carry_its_previous_secret_while_rotating(example_env, monkeypatch):
    monkeypatch.setenv("OLD_PAGER_SECRET", "whsec_" + "T2xkUGFnZXJTZWNyZXQxMjM0NTY3ODkw")
    raw = raw_example()
    raw["destinations"][1]["previous_secret"] = "${OLD_PAGER_SECRET}"

    rules = routing.parse(raw, labels=LABELS)

    assert rules.destinations["tech-pager"].previous_secret == "whsec_T2xkUGFnZXJTZWNyZXQxMjM0NTY3ODkw"
    assert rules.destinations["ops-hook"].previous_secret == ""
    raw["destinations"][1]["previous_secret"] = "old-one"
    with pytest.raises(ConfigError, match=r"destinations\[1\] \(tech-pager\).*previous_secret"):
        routing.parse(raw, labels=LABELS)


def test_a_breach_escalates_as_the_rule_says_once():
    rules = routing.parse({
        "teams": [{"name": "desk", "members": ["ann"]}, {"name": "leads", "members": ["lee"]}],
        "sla_policies": {"fast": {"first_response_minutes": 5}},
        "rules": [{"name": "all", "team": "desk", "priority": "P3", "sla": "fast",
                   "escalate": {"team": "leads", "priority": "P1"}}]}, labels=LABELS)
    route = rules.route(ticket()).record(created_at=1000.0, routing=rules)
    route["assignee"] = "ann"

    escalated = rules.escalated(route, now=1400.0, why="first_response deadline breached")

    assert (escalated["team"], escalated["priority"], escalated["assignee"]) == ("leads", "P1", None)
    assert escalated["escalated"] == {"at": 1400.0, "why": "first_response deadline breached", "team": "desk",
                                      "priority": "P3"}
    assert rules.escalated(escalated, now=1500.0, why="resolution deadline breached") is None  # once


@pytest.mark.parametrize("escalate, expected", [
    ({"team": "nobody"}, "rules[0] (all).escalate.team: unknown team 'nobody'"),
    ({"colour": "red"}, "rules[0] (all).escalate: a mapping with a team and/or a priority"),
])
def test_a_bad_escalation_is_refused_naming_the_place(escalate, expected):
    with pytest.raises(ConfigError) as refused:
        routing.parse({"teams": [{"name": "desk"}], "sla_policies": {"fast": {"first_response_minutes": 5}},
                       "rules": [{"name": "all", "team": "desk", "sla": "fast", "escalate": escalate}]},
                      labels=LABELS)
    assert expected in str(refused.value)
