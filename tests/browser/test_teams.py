"""The dashboard's team queues in headless Chromium against the real stack, routed by the example routing
file: an operator takes a ticket for an agent, its SLA countdown runs, they acknowledge it and the clock stops."""

import math
import os
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import ROOT, running_stack, sign_in, submitted_and_routed

pytestmark = pytest.mark.browser

TEXT = "Production is down: every API call fails with 500 errors for all our users, fix ASAP"
EXAMPLE = ROOT / "examples" / "routing.yaml"
SCREENSHOT = ROOT / "test-artifacts" / "teams.png"
COUNTDOWN = re.compile(r"^due in \d+m \d{2}s$")


def countdown(seconds_left: float) -> str:
    """What the dashboard shows with this long (under an hour) to the deadline."""
    whole = math.floor(seconds_left)
    return f"due in {whole // 60}m {whole % 60:02d}s"


@pytest.fixture(scope="module")
def routing_file(tmp_path_factory):
    """A copy of examples/routing.yaml, which the banner test breaks and mends (the API re-reads it)."""
    path = tmp_path_factory.mktemp("routing") / "routing.yaml"
    path.write_text(EXAMPLE.read_text())
    return path


@pytest.fixture(scope="module")
def routed_stack(tmp_path_factory, destination_env, routing_file):
    """The stack with the example routing: teams billing, technical (carol, dave) and general; a P1
    critical Technical ticket is due a first response within 15 minutes."""
    with running_stack(tmp_path_factory, SMARTSUPPORT_ROUTING_FILE=str(routing_file), **destination_env) as stack:
        yield stack


def _routed_critical_ticket(base: str, auth: dict) -> tuple[str, dict]:
    """A critical Technical ticket, routed by the file to team technical as P1 with a deadline."""
    ticket_id, route = submitted_and_routed(base, auth, TEXT)
    assert (route["team"], route["priority"], route["rule"]["name"]) == ("technical", "P1", "critical-technical")
    assert route["sla"]["policy"] == "urgent" and route["assignee"] is None and route["acknowledged_at"] is None
    return ticket_id, route


def _the_detail_shows_the_route(page, row) -> None:
    """The ticket's detail shows its route: team, rule and why, assignee, and the stopped clock."""
    row.locator(".ticket-text").click()
    detail = page.get_by_role("complementary", name="Ticket detail")
    expect(detail.get_by_test_id("detail-team")).to_contain_text("technical")
    expect(detail.get_by_test_id("detail-route")).to_contain_text("critical-technical")
    expect(detail.get_by_test_id("detail-assignee")).to_contain_text("carol")
    expect(detail.get_by_test_id("detail-sla")).to_have_text("acknowledged")


def test_an_operator_takes_a_ticket_for_an_agent_acknowledges_it_and_the_countdown_stops(routed_stack, page):
    base, auth = routed_stack.base, {"Authorization": f"Bearer {routed_stack.key}"}
    ticket_id, route = _routed_critical_ticket(base, auth)

    # When the operator opens the dashboard (its clock is the test's to move: installed, it runs on as usual)
    page.clock.install()
    page.goto(base)
    sign_in(page, routed_stack.key)

    # Then the teams panel shows the file's three teams, the ticket waiting in technical's queue
    panel = page.get_by_test_id("teams-panel")
    for team in ("billing", "technical", "general"):
        expect(panel.get_by_test_id(f"team-{team}")).to_be_visible()
    technical = panel.get_by_test_id("team-technical")
    expect(technical.get_by_test_id("waiting-technical")).to_have_text("1")
    row = technical.get_by_test_id(f"ticket-{ticket_id}")
    expect(row).to_contain_text("P1")
    expect(row).to_contain_text("Technical")
    expect(row.get_by_test_id(f"assignee-{ticket_id}")).to_have_text("unassigned")

    # When they choose carol and click Take next
    technical.get_by_test_id("agent-technical").select_option("carol")
    technical.get_by_test_id("take-next-technical").click()

    # Then carol holds the ticket, nothing waits, and its countdown runs, changing from second to second
    expect(technical.get_by_test_id("take-message-technical")).to_contain_text(f"carol took ticket {ticket_id[:8]}")
    expect(row.get_by_test_id(f"assignee-{ticket_id}")).to_have_text("assigned to carol")
    expect(technical.get_by_test_id("waiting-technical")).to_have_text("0")
    sla = row.get_by_test_id(f"sla-{ticket_id}")
    expect(sla).to_have_text(COUNTDOWN)
    expect(sla).to_have_attribute("data-state", "running")
    due = route["sla"]["first_response_due"]
    paused_at = math.ceil(page.evaluate("Date.now()") / 1000) + 1
    page.clock.pause_at(paused_at)
    expect(sla).to_have_text(countdown(due - paused_at))
    page.clock.run_for(2000)
    expect(sla).to_have_text(countdown(due - paused_at - 2))
    page.clock.resume()

    # When they acknowledge it
    row.get_by_test_id(f"ack-{ticket_id}").click()

    # Then the countdown says acknowledged and stops ticking, and the API kept the acknowledgement
    expect(sla).to_have_text("acknowledged")
    expect(sla).to_have_attribute("data-state", "acknowledged")
    expect(row.get_by_test_id(f"ack-{ticket_id}")).to_be_disabled()
    page.clock.pause_at(math.ceil(page.evaluate("Date.now()") / 1000) + 1)
    page.clock.run_for(2000)
    expect(sla).to_have_text("acknowledged")
    page.clock.resume()
    view = requests.get(f"{base}/api/tickets/{ticket_id}", headers=auth, timeout=5).json()
    assert view["route"]["assignee"] == "carol"
    assert view["route"]["acknowledged_at"] is not None
    assert view["route"]["acknowledged_at"] < view["route"]["sla"]["first_response_due"]
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)

    # And the ticket's detail shows its route
    _the_detail_shows_the_route(page, row)


def test_a_routing_file_that_fails_to_reload_shows_as_a_warning_in_the_teams_panel(routed_stack, routing_file, page):
    # Given a signed-in operator and the routing in force, with no warning
    page.goto(routed_stack.base)
    sign_in(page, routed_stack.key)
    panel = page.get_by_test_id("teams-panel")
    expect(panel.get_by_test_id("team-technical")).to_be_visible()
    expect(panel.get_by_test_id("routing-error")).to_have_count(0)
    good = routing_file.read_text()
    try:
        # When the file changes to name an SLA policy it does not define
        routing_file.write_text(good.replace("sla: urgent", "sla: instant", 1))

        # Then the panel warns, saying why, and the teams of the rules still in force stay
        expect(panel.get_by_test_id("routing-error")).to_contain_text("instant")
        expect(panel.get_by_test_id("team-technical")).to_be_visible()
    finally:
        # And once the file is mended, the warning goes
        routing_file.write_text(good)
        os.utime(routing_file)
    expect(panel.get_by_test_id("routing-error")).to_have_count(0)
