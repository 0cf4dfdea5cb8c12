"""An agent's day on the dashboard in headless Chromium against the real stack, routed by
examples/routing.yaml: alice signs in with her own key, says she is available, a Billing ticket is
pushed to her, she sees its deadlines in Berlin business hours, waits on the customer and resolves it.

The assertions hold whether or not the Berlin desk is open while the test runs: the countdown then
shows the same open time left, standing still, and says until when the office is closed."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import ROOT, running_stack, sign_in, submitted_and_routed

pytestmark = pytest.mark.browser

TEXT = "I was charged twice for my subscription this month, please refund the duplicate invoice"
EXAMPLE = ROOT / "examples" / "routing.yaml"
SCREENSHOT = ROOT / "test-artifacts" / "agent-day.png"
PAUSED = "paused (waiting on the customer)"
# The relaxed policy: 8 open hours to a first response, 40 to a resolution, less the few minutes the
# test takes while the desk is open
FIRST_RESPONSE = re.compile(r"^(8h 00m|7h [0-5]\dm) open time left$")
RESOLUTION = re.compile(r"^(40h 00m|39h [0-5]\dm) open time left to resolve$")
DUE = re.compile(r"^(clock stopped: office closed until \w{3} \d{2}:\d{2} · )?due \w{3} \d{2}:\d{2}$")


@pytest.fixture(scope="module")
def day_stack(tmp_path_factory, destination_env):
    with running_stack(tmp_path_factory, SMARTSUPPORT_ROUTING_FILE=str(EXAMPLE), **destination_env) as stack:
        yield stack


def _alice_signs_in_with_her_own_key(page, base: str, auth: dict):
    """alice of team billing (round robin) signs in with a key of her own, issued by an operator: her
    page, her teams, and her presence (she never said: her calendar). Her presence and billing's card."""
    issued = requests.post(f"{base}/api/agents/alice/keys", headers=auth, timeout=5)
    assert issued.status_code == 201, issued.text
    page.goto(base)
    sign_in(page, issued.json()["key"])
    expect(page.get_by_test_id("signed-in-as")).to_have_text("signed in as alice")
    presence = page.get_by_test_id("presence")
    expect(presence.get_by_test_id("presence-status")).to_have_text("follows calendar")
    expect(presence).to_contain_text("no work is pushed to you now")  # she follows no calendar of the file
    billing = page.get_by_test_id("team-billing")
    expect(billing.get_by_test_id("assignment-billing")).to_have_text("pushed in turn to who is available")
    expect(page.get_by_test_id("team-technical")).to_have_count(0)
    return presence, billing


def _a_billing_ticket(base: str, auth: dict) -> str:
    """A Billing ticket, routed by the file's billing rule: P3, the relaxed policy in Berlin hours."""
    ticket_id, route = submitted_and_routed(base, auth, TEXT)
    assert (route["team"], route["rule"]["name"], route["priority"]) == ("billing", "billing", "P3")
    assert (route["sla"]["policy"], route["sla"]["calendar"]) == ("relaxed", "berlin")
    return ticket_id


def _she_sets_it_waiting(detail, row, ticket_id: str) -> None:
    """She sets it waiting on the customer: both clocks say paused, in the detail and in her queue, and
    what is left stays for the customer's reply."""
    first, resolution = detail.get_by_test_id("detail-sla"), detail.get_by_test_id("detail-sla-resolution")
    detail.get_by_test_id("wait-on-customer").click()
    expect(first).to_have_text(PAUSED)
    expect(first).to_have_attribute("data-state", "paused")
    expect(resolution).to_have_text(PAUSED)
    expect(detail.get_by_test_id("detail-sla-note")).to_have_text(re.compile(r"^\d+h \d{2}m left when the customer"))
    expect(detail.get_by_test_id("detail-waiting")).to_contain_text("on the customer since")
    expect(detail.get_by_test_id("wait-on-customer")).to_have_count(0)
    expect(row.get_by_test_id(f"sla-{ticket_id}")).to_have_text(PAUSED)


def test_an_available_agent_gets_billing_work_pushed_counts_business_hours_waits_and_resolves(day_stack, page):
    base, auth = day_stack.base, {"Authorization": f"Bearer {day_stack.key}"}
    presence, billing = _alice_signs_in_with_her_own_key(page, base, auth)

    # And switches herself available
    presence.get_by_test_id("presence-available").click()
    expect(presence.get_by_test_id("presence-status")).to_have_text("available")
    expect(presence.get_by_test_id("presence-available")).to_have_attribute("aria-pressed", "true")
    expect(presence).to_contain_text("work comes to you")
    expect(billing.get_by_test_id("member-billing-alice")).to_have_text("alice available · 0/5 open")

    # And a Billing ticket comes in
    ticket_id = _a_billing_ticket(base, auth)

    # Then it is hers at once, without taking it
    row = billing.get_by_test_id(f"ticket-{ticket_id}")
    expect(row.get_by_test_id(f"assignee-{ticket_id}")).to_have_text("assigned to alice")
    expect(billing.get_by_test_id("filter-billing-mine")).to_have_text("Mine 1")
    expect(billing.get_by_test_id("member-billing-alice")).to_have_text("alice available · 1/5 open")

    # And its deadlines count open time in Berlin: what is left of both, and when each is due (or until when
    # the office is closed, the clock standing still meanwhile)
    expect(row.get_by_test_id(f"sla-{ticket_id}")).to_have_text(FIRST_RESPONSE)
    row.locator(".ticket-text").click()
    detail = page.get_by_role("complementary", name="Ticket detail")
    expect(detail.get_by_test_id("detail-policy")).to_have_text("relaxed · berlin business hours")
    first, resolution = detail.get_by_test_id("detail-sla"), detail.get_by_test_id("detail-sla-resolution")
    expect(first).to_have_text(FIRST_RESPONSE)
    expect(first).to_have_attribute("data-state", re.compile("^(running|stopped)$"))
    expect(detail.get_by_test_id("detail-sla-note")).to_have_text(DUE)
    expect(resolution).to_have_text(RESOLUTION)
    expect(detail.get_by_test_id("detail-sla-resolution-note")).to_have_text(DUE)
    expect(detail.get_by_test_id("detail-audit")).to_contain_text("assignment assigned it · to alice (round robin)")

    # When she sets it waiting on the customer, both clocks say paused, here and in her queue
    _she_sets_it_waiting(detail, row, ticket_id)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)

    # When she resolves it
    row.get_by_test_id(f"resolve-{ticket_id}").click()

    # Then it leaves her queue, both clocks say resolved, and the trail names her
    expect(row).to_have_count(0)
    expect(billing.get_by_test_id("member-billing-alice")).to_have_text("alice available · 0/5 open")
    expect(first).to_have_text("resolved")
    expect(resolution).to_have_text("resolved")
    audit = detail.get_by_test_id("detail-audit")
    expect(audit).to_contain_text("alice set it waiting on the customer")
    expect(audit).to_contain_text("alice resolved it")
    route = requests.get(f"{base}/api/tickets/{ticket_id}", headers=auth, timeout=5).json()["route"]
    assert (route["resolved_at"] is not None, route["assignee"], route["sla"]["open_s_left"]) == (
        True, "alice", {"first_response": None, "resolution": None})
