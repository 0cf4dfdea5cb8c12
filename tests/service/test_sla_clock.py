"""The SLA clock in the API's tickets, on a real Redis: open time left of each deadline in the policy's
business hours, counted at a given instant (web/clocks.py, smartsupport.routing.sla.sla_clock)."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from smartsupport import routing
from tests.helpers import app_with_routing, routed_ticket
from web.clocks import with_clock

HOUR = 3600.0
ROUTING = """
teams:
  - name: desk
    members: [ann]
calendars:
  berlin:
    timezone: Europe/Berlin
    hours: {mon-fri: ["09:00-12:30", "13:30-18:00"]}
    holidays: {country: DE, subdivision: BE}
sla_policies:
  desk: {calendar: berlin, first_response_minutes: 240, resolution_minutes: 960}
  only-resolution: {calendar: berlin, resolution_minutes: 960}
  wall: {first_response_minutes: 30}
rules:
  - name: all
    team: desk
    sla: desk
"""


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


# Mon 23 Nov 2026 09:00 CET: the first response due Mon 14:00 CET, the resolution Tue 24 Nov 18:00 CET
CREATED = utc("2026-11-23 08:00")


@pytest.fixture
def desk(api_redis_url, tmp_path):
    yield from app_with_routing(api_redis_url, tmp_path, ROUTING)


def routed(app, policy: str = "desk", *, created_at: float = CREATED) -> str:
    """A ticket routed to desk at ``created_at`` with the deadlines of ``policy``, stored in Redis."""
    rules = app.extensions["smartsupport"].routing.current()
    record = routing.Route("desk", "all", "", "normal", policy, ()).record(created_at=created_at, routing=rules)
    return routed_ticket(app.extensions["smartsupport"].store, "desk", sla=record["sla"], now=created_at)


def sla_at(app, ticket_id: str, now: float) -> dict:
    with app.app_context():
        return with_clock(app.extensions["smartsupport"].store.views.get(ticket_id), now=now)["route"]["sla"]


def test_open_time_left_counts_only_business_hours(desk):
    ticket_id = routed(desk)

    # Mon 10:00 CET: 1 open hour used; the desk open until its lunch break at 12:30 CET
    sla = sla_at(desk, ticket_id, utc("2026-11-23 09:00"))
    assert sla["open_s_left"] == {"first_response": 3 * HOUR, "resolution": 15 * HOUR}
    assert sla["clock"] == {"at": utc("2026-11-23 09:00"), "running": True, "opens_at": None,
                            "closes_at": utc("2026-11-23 11:30")}

    # Mon 19:00 CET, closed: the first response 4 open hours late (14:00-18:00), 8 h of the resolution's left,
    # and the clock stands still until Tue 09:00 CET
    sla = sla_at(desk, ticket_id, utc("2026-11-23 18:00"))
    assert sla["open_s_left"] == {"first_response": -4 * HOUR, "resolution": 8 * HOUR}
    assert sla["clock"] == {"at": utc("2026-11-23 18:00"), "running": False, "opens_at": utc("2026-11-24 08:00"),
                            "closes_at": None}
    assert sla_at(desk, ticket_id, utc("2026-11-24 07:59"))["open_s_left"] == sla["open_s_left"]


def test_while_the_ticket_waits_on_the_customer_the_time_left_is_frozen_at_the_pause(desk):
    ticket_id = routed(desk)
    store = desk.extensions["smartsupport"].store

    # Given a wait on the customer from Mon 10:00 CET
    store.routes.wait(ticket_id, now=utc("2026-11-23 09:00"))

    # Then on Wednesday what is left is what was left at the pause, and the clock does not run
    sla = sla_at(desk, ticket_id, utc("2026-11-25 10:00"))
    assert sla["open_s_left"] == {"first_response": 3 * HOUR, "resolution": 15 * HOUR}
    assert sla["clock"] == {"at": utc("2026-11-23 09:00"), "running": False, "opens_at": None, "closes_at": None}


def test_a_target_met_or_not_set_has_no_time_left(desk):
    store = desk.extensions["smartsupport"].store
    acknowledged, only_resolution = routed(desk), routed(desk, "only-resolution")

    store.routes.close_route(acknowledged, "ack", agent="ann", now=utc("2026-11-23 09:00"))
    assert sla_at(desk, acknowledged, utc("2026-11-23 10:00"))["open_s_left"] == {
        "first_response": None, "resolution": 14 * HOUR}
    assert sla_at(desk, only_resolution, utc("2026-11-23 10:00"))["open_s_left"] == {
        "first_response": None, "resolution": 14 * HOUR}

    store.routes.close_route(acknowledged, "resolve", agent="ann", now=utc("2026-11-23 10:00"))
    assert sla_at(desk, acknowledged, utc("2026-11-23 11:00"))["open_s_left"] == {
        "first_response": None, "resolution": None}


def test_on_the_wall_clock_every_second_counts(desk):
    ticket_id = routed(desk, "wall", created_at=1_790_000_000.0)

    sla = sla_at(desk, ticket_id, 1_790_000_600.0)

    assert sla["open_s_left"] == {"first_response": 1200.0, "resolution": None}
    assert sla["clock"] == {"at": 1_790_000_600.0, "running": True, "opens_at": None, "closes_at": None}


def test_the_ticket_and_the_team_queue_answer_the_open_time_left_at_the_request(desk, operator):
    client, rules = desk.test_client(), desk.extensions["smartsupport"].routing.current()
    ticket_id = routed(desk, created_at=time.time())
    berlin = rules.calendars["berlin"]

    before = time.time()
    one = client.get(f"/api/tickets/{ticket_id}", headers=operator).get_json()["route"]["sla"]
    (listed,) = client.get("/api/tickets?team=desk", headers=operator).get_json()["tickets"]
    after = time.time()

    for sla in (one, listed["route"]["sla"]):
        for target, due in (("first_response", sla["first_response_due"]), ("resolution", sla["resolution_due"])):
            left = sla["open_s_left"][target]
            assert berlin.open_seconds_between(after, due) - 1e-3 <= left <= berlin.open_seconds_between(before, due)
        assert before - 1e-3 <= sla["clock"]["at"] <= after + 1e-3
        assert sla["clock"]["running"] == (sla["clock"]["opens_at"] is None)
