"""The operator dashboard in headless Chromium against the real stack: the journey of one ticket."""

import json
import re

import pytest
import requests
from playwright.sync_api import expect

from tests.helpers import ROOT, sign_in

pytestmark = pytest.mark.browser

TEXT = "Our production API is down and every checkout fails, fix ASAP"
SCREENSHOT = ROOT / "test-artifacts" / "dashboard.png"


def test_an_operator_watches_a_ticket_get_routed_and_corrects_its_category(stack, page):
    # Given an operator signed in with the key the stack generated, and an empty queue
    page.goto(stack.base)
    sign_in(page, stack.key)
    expect(page.get_by_text("No tickets yet — submit one")).to_be_visible()

    # When they submit a ticket
    page.get_by_label("Message").fill(TEXT)
    page.get_by_role("button", name="Submit ticket").click()
    expect(page.get_by_role("status")).to_contain_text("Queued as ticket")

    # Then the queue shows it done, Technical and critical, with its webhook delivered, without a reload
    row = page.get_by_role("row").filter(has_text=TEXT)
    expect(row).to_contain_text("done", timeout=60_000)
    expect(row.locator(".category")).to_contain_text("Technical")
    expect(row.locator(".urgency")).to_contain_text("critical")
    expect(row).to_contain_text("delivered")
    row.locator(".urgency").hover()
    expect(row.get_by_role("tooltip")).to_contain_text("is down")

    # When they open it and correct the category to Legal
    row.locator(".ticket-text").click()
    detail = page.get_by_role("complementary", name="Ticket detail")
    expect(detail).to_contain_text(TEXT)
    expect(detail.locator(".log tbody tr")).to_have_count(1)
    detail.get_by_label("Correct the category").select_option("Legal")
    detail.get_by_role("button", name="Save the category").click()

    # Then the detail and the queue show Legal, marked corrected, and the API kept it
    expect(detail.locator(".category")).to_contain_text("Legal")
    expect(detail).to_contain_text("the model said Technical")
    expect(row.locator(".category")).to_contain_text("Legal")
    expect(row.locator(".category")).to_contain_text("corrected")
    [ticket] = requests.get(f"{stack.base}/api/tickets", headers={"Authorization": f"Bearer {stack.key}"},
                            timeout=5).json()["tickets"]
    assert ticket["category"]["label"] == "Legal" and ticket["category"]["corrected"] is True

    # When they also say its urgency is only medium, next to the signals that fired
    detail.get_by_label("Correct the urgency").select_option("medium")
    detail.get_by_role("button", name="Save the urgency").click()

    # Then the detail and the queue show medium, and the detail says what the score had said
    expect(detail.locator(".urgency .badge")).to_have_text("medium")
    expect(detail).to_contain_text("the score said critical")
    expect(row.locator(".urgency .badge")).to_have_text("medium")

    # And Redeliver sends the webhook once more, logged as a second attempt
    detail.get_by_role("button", name="Redeliver").click()
    expect(detail.get_by_role("status")).to_contain_text("Queued for 1 endpoint")
    expect(detail.locator(".log tbody tr")).to_have_count(2)
    expect(row).to_contain_text("2 attempts")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_a_wrong_key_is_rejected_at_sign_in_and_when_it_stops_working(stack, page):
    # When an operator signs in with a key the API does not know
    page.goto(stack.base)
    sign_in(page, "ssk_not-a-real-key")

    # Then they are told, and stay at sign-in
    expect(page.get_by_text("Key rejected")).to_be_visible()
    expect(page.get_by_label("API key")).to_be_visible()

    # And a kept key that the API no longer accepts sends them back to sign-in, saying why
    page.evaluate("() => sessionStorage.setItem('smartsupport.apiKey', 'ssk_revoked')")
    page.reload()
    expect(page.get_by_text("Key rejected")).to_be_visible()
    expect(page.get_by_label("API key")).to_be_visible()


def test_three_submitted_tickets_appear_ordered_by_urgency_without_a_reload(stack, page):
    # Given a signed-in operator
    page.goto(stack.base)
    sign_in(page, stack.key)
    texts = ["How do I change my avatar? No rush.",
             "The CSV export is slow and sometimes fails with an error",
             "Our whole site is down for every customer, outage since 9am, fix ASAP"]

    # When three tickets are submitted through the form, each once the form took the one before
    for text in texts:
        page.get_by_label("Message").fill(text)
        page.get_by_role("button", name="Submit ticket").click()
        expect(page.get_by_label("Message")).to_have_value("")
        expect(page.get_by_role("status")).to_contain_text("Queued as ticket")

    # Then, without a reload, all three are done, each with a category and a latency, most urgent first
    rows = [page.get_by_role("row").filter(has_text=text) for text in texts]
    for row in rows:
        expect(row).to_contain_text("done", timeout=60_000)
        # (any label of the set: the first test corrected a similar outage ticket to Legal, which
        # can leave this one unsure, given the fallback label Other and flagged for review)
        expect(row.locator(".category")).to_contain_text(re.compile("Billing|Technical|Legal|Other"))
        expect(row).to_contain_text(re.compile(r"\d+(\.\d+)? ?(ms|s)\b"))
    order = page.locator("tbody tr .ticket-text").all_inner_texts()
    positions = [next(i for i, shown in enumerate(order) if text[:30] in shown) for text in texts]
    assert positions[2] < positions[1] < positions[0], order


def test_a_burst_of_similar_tickets_shows_as_one_incident_above_the_queue(stack, page):
    # Given a signed-in operator
    page.goto(stack.base)
    sign_in(page, stack.key)
    expect(page.get_by_text("Live queue")).to_be_visible()

    # When eight customers report the same outage in their own words
    burst = json.loads((ROOT / "eval" / "data" / "incident_burst.json").read_text())["outage"][:8]
    for text in burst:
        response = requests.post(f"{stack.base}/api/tickets", json={"body": text}, timeout=5,
                                 headers={"Authorization": f"Bearer {stack.key}"})
        assert response.status_code == 202

    # Then one incident appears above the queue, titled from its tickets, counting them, without a reload
    strip = page.get_by_role("region", name="Open incidents")
    incident = strip.get_by_role("article")
    expect(incident).to_have_count(1, timeout=60_000)
    expect(incident.locator(".incident-title")).to_contain_text(re.compile("upload|attach", re.IGNORECASE))
    expect(incident.locator(".incident-size")).to_contain_text(re.compile(r"^[5-8] tickets$"))

    # And a member's detail says which incident it belongs to
    auth = {"Authorization": f"Bearer {stack.key}"}
    [listed] = requests.get(f"{stack.base}/api/incidents", headers=auth, timeout=5).json()["incidents"]
    member = requests.get(f"{stack.base}/api/incidents/{listed['id']}", headers=auth, timeout=5).json()["tickets"][0]
    page.get_by_role("row").filter(has_text=member["body"][:40]).locator(".ticket-text").click()
    detail = page.get_by_role("complementary", name="Ticket detail")
    expect(detail.locator(".incident-member")).to_contain_text(listed["id"])
    detail.get_by_role("button", name="Close").click()

    # When the operator closes it, then the strip is empty and the API says closed
    incident.get_by_role("button", name="Close").click()
    expect(strip).to_have_count(0)
    listed = requests.get(f"{stack.base}/api/incidents", headers={"Authorization": f"Bearer {stack.key}"},
                          timeout=5).json()["incidents"]
    assert [i["status"] for i in listed] == ["closed"]
