"""Per-team SLA figures in /metrics on a real Redis: breaches by target, the time to first response
counted in the open time of the ticket's SLA calendar, and the agents there (web/metrics.py,
smartsupport/store/routes.py)."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from smartsupport import routing
from smartsupport.store import RoutePlan
from smartsupport.ticket import Category, Ticket
from tests.helpers import app_with_routing

ROUTING = """
teams:
  - name: billing
    members: [alice, bob]
  - name: general
    members: [erin]
calendars:
  berlin:
    timezone: Europe/Berlin
    hours: {mon-fri: ["09:00-18:00"]}
sla_policies:
  business: {calendar: berlin, first_response_minutes: 60, resolution_minutes: 120}
  around-the-clock: {first_response_minutes: 60}
rules:
  - name: billing
    match: {category: Billing}
    team: billing
    priority: P3
    sla: business
  - name: rest
    team: general
    priority: P4
    sla: around-the-clock
"""
BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0) -> float:
    """An instant of March 2026 in Berlin: the 6th is a Friday, the 7th and 8th the weekend."""
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN).timestamp()


@pytest.fixture
def app(api_redis_url, tmp_path):
    yield from app_with_routing(api_redis_url, tmp_path, ROUTING)


@pytest.fixture
def rules(app) -> routing.Routing:
    return app.extensions["smartsupport"].routing.current()


def routed(store, rules: routing.Routing, category: str, *, created_at: float) -> str:
    """A ticket created at ``created_at`` and routed by ``rules`` as notify would, SLA clock running."""
    ticket = Ticket.new(body=f"A {category} question", now=created_at)
    store.create(ticket)
    store.tickets.save_categories([(ticket.id, Category(category, 0.9, {category: 0.9}, False), None)])
    record = rules.route(routing.RoutedTicket(category, "low", 0.2)).record(created_at=created_at, routing=rules)
    with store.transaction() as tx:
        store.routes.stage(tx, ticket.id, RoutePlan(record, 0.2, created_at))
    return ticket.id


def fire_due(store, *, now: float) -> list[str]:
    """The SLA events due at ``now``, fired as the scheduler's task fires them (no destinations)."""
    due = store.routes.due_sla_events(now=now)
    for ticket_id, event in due:
        store.fire_sla_event(ticket_id, event, {"id": f"evt_{ticket_id}_{event}"}, [])
    return [event for _, event in due]


def scrape(client) -> dict[str, float]:
    """The /metrics series this file checks, by their name and labels as written."""
    text = client.get("/metrics").get_data(as_text=True)
    return {m[1]: float(m[2]) for m in re.finditer(
        r"^((?:smartsupport_sla_breaches_total|smartsupport_first_response_open_seconds_\w+|"
        r"smartsupport_agents_available)\{[^}]*\}) (\S+)$", text, re.M)}


def test_a_friday_evening_ticket_acked_monday_morning_took_an_hour_and_a_half_of_open_time(client, store, rules):
    # Given a billing ticket (Berlin hours, mon-fri 09:00-18:00) created on Friday at 17:00
    ticket_id = routed(store, rules, "Billing", created_at=berlin(6, 17))

    # When it is acknowledged on Monday at 09:30, and resolved later
    store.routes.close_route(ticket_id, "ack", agent="alice", now=berlin(9, 9, 30), calendars=rules.calendars)
    store.routes.close_route(ticket_id, "resolve", agent="alice", now=berlin(9, 9, 45), calendars=rules.calendars)

    # Then 17:00-18:00 and 09:00-09:30 count: 1.5 h, in the 2 h bucket, once (the resolve adds nothing)
    series = scrape(client)
    bucket = 'smartsupport_first_response_open_seconds_bucket{le="%s",team="billing"}'
    assert series[bucket % "3600"] == 0.0
    assert series[bucket % "7200"] == series[bucket % "+Inf"] == 1.0
    assert series['smartsupport_first_response_open_seconds_sum{team="billing"}'] == 5400.0
    assert series['smartsupport_first_response_open_seconds_count{team="billing"}'] == 1.0
    assert series['smartsupport_first_response_open_seconds_count{team="general"}'] == 0.0
    # while the wall clock saw 64.5 h (the mean time to acknowledge of /api/teams)
    assert store.routes.teams_summary(["billing"])[0]["mean_time_to_ack_s"] == 64.5 * 3600


def test_a_ticket_whose_policy_has_no_calendar_counts_on_the_wall_clock(client, store, rules):
    # Given a general ticket (its policy on the wall clock) created on a Saturday, when Berlin is closed
    ticket_id = routed(store, rules, "Other", created_at=berlin(7, 11))

    store.routes.close_route(ticket_id, "ack", now=berlin(7, 11, 10), calendars=rules.calendars)

    series = scrape(client)
    assert series['smartsupport_first_response_open_seconds_sum{team="general"}'] == 600.0
    assert series['smartsupport_first_response_open_seconds_bucket{le="900",team="general"}'] == 1.0
    assert series['smartsupport_first_response_open_seconds_bucket{le="300",team="general"}'] == 0.0


def test_breaches_are_counted_per_team_by_target(client, store, rules):
    # Given a billing ticket of Friday 17:00: first response due Friday 18:00, resolution Monday 10:00
    ticket_id = routed(store, rules, "Billing", created_at=berlin(6, 17))
    breaches = 'smartsupport_sla_breaches_total{target="%s",team="billing"}'

    # When the clock fires what is due on Monday at 09:20 (the first response's warning and breach)
    assert sorted(fire_due(store, now=berlin(9, 9, 20))) == ["ticket.sla_breached", "ticket.sla_warning"]

    series = scrape(client)
    assert (series[breaches % "first_response"], series[breaches % "resolution"]) == (1.0, 0.0)

    # When it is acknowledged, but not resolved by 10:00 (the resolution's warning and breach fire)
    store.routes.close_route(ticket_id, "ack", now=berlin(9, 9, 30), calendars=rules.calendars)
    assert sorted(fire_due(store, now=berlin(9, 10, 30))) == ["ticket.sla_breached:resolution",
                                                              "ticket.sla_warning:resolution"]

    series = scrape(client)
    assert (series[breaches % "first_response"], series[breaches % "resolution"]) == (1.0, 1.0)
    assert series['smartsupport_sla_breaches_total{target="first_response",team="general"}'] == 0.0


def test_acknowledging_over_the_api_counts_the_open_time_of_the_tickets_calendar(client, operator, store, rules):
    # Given a billing ticket created a week ago: 45 open hours since, against 168 on the wall clock
    created_at = time.time() - 7 * 86400
    ticket_id = routed(store, rules, "Billing", created_at=created_at)
    calendar = rules.calendars["berlin"]

    before = time.time()
    response = client.post(f"/api/tickets/{ticket_id}/ack", json={"agent": "alice"}, headers=operator)
    after = time.time()

    assert response.status_code == 200
    series = scrape(client)
    assert series['smartsupport_first_response_open_seconds_count{team="billing"}'] == 1.0
    open_s = series['smartsupport_first_response_open_seconds_sum{team="billing"}']
    lowest, highest = (calendar.open_seconds_between(created_at, at) for at in (before, after))
    assert lowest <= open_s <= highest < 100 * 3600


def test_agents_available_counts_the_members_there_per_team(client, store):
    store.assignment.set_presence("alice", "available")
    store.assignment.set_presence("bob", "away")

    series = scrape(client)

    assert series['smartsupport_agents_available{team="billing"}'] == 1.0
    assert series['smartsupport_agents_available{team="general"}'] == 0.0  # erin never said, follows no calendar
