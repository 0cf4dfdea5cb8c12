"""The dashboard's webhooks panel in headless Chromium: a disabled endpoint, a dead letter, replay and enable."""

import pytest
import requests
from playwright.sync_api import expect
from pytest_httpserver import HTTPServer

from tests.helpers import sign_in
from tests.helpers import free_port

from tests.helpers import running_stack

pytestmark = pytest.mark.browser

TEXT = "Total outage: the payment service is down for all customers, fix immediately"


@pytest.fixture(scope="module")
def receiver():
    server = HTTPServer(host="127.0.0.1", port=free_port())
    server.start()
    yield server
    server.clear()
    server.stop()


@pytest.fixture(scope="module")
def failing_stack(tmp_path_factory, receiver):
    """Two endpoints: /gone answers 410, /flaky 503; one attempt each, so the 503 is a dead letter at once."""
    urls = f"{receiver.url_for('/gone')},{receiver.url_for('/flaky')}"
    env = {"SMARTSUPPORT_WEBHOOK_URLS": urls, "SMARTSUPPORT_WEBHOOK_MAX_ATTEMPTS": "1"}
    with running_stack(tmp_path_factory, **env) as stack:
        yield stack


def test_an_operator_sees_a_dead_letter_replays_it_and_enables_a_gone_endpoint(failing_stack, receiver, page):
    # Given endpoints that answer 410 and 503, and an urgent ticket
    receiver.expect_request("/gone", method="POST").respond_with_data("gone", status=410)
    receiver.expect_request("/flaky", method="POST").respond_with_data("busy", status=503)
    response = requests.post(f"{failing_stack.base}/api/tickets", json={"body": TEXT},
                             headers={"Authorization": f"Bearer {failing_stack.key}"}, timeout=5)
    assert response.status_code == 202
    ticket_id = response.json()["id"]

    # When the operator opens the dashboard
    page.goto(failing_stack.base)
    sign_in(page, failing_stack.key)
    panel = page.get_by_role("region", name="Webhooks")

    # Then the panel shows /gone disabled by its 410, and the 503 to /flaky as a dead letter
    gone = panel.locator(".endpoint").filter(has_text="/gone")
    flaky = panel.locator(".endpoint").filter(has_text="/flaky")
    expect(gone).to_contain_text("disabled", timeout=60_000)
    expect(gone.locator(".endpoint-log tbody tr")).to_have_count(1)
    expect(gone.locator(".endpoint-log")).to_contain_text("410")
    expect(flaky.locator(".endpoint-log")).to_contain_text("503")
    dead = panel.locator(".dead-letters")
    expect(dead.locator("li")).to_have_count(1)
    expect(dead.locator("li")).to_contain_text(ticket_id[:8])
    expect(dead.locator("li")).to_contain_text("/flaky")

    # When /flaky recovers and the operator replays the dead letter
    [failed_id] = {request.headers["webhook-id"] for request, _ in receiver.log if request.path == "/flaky"}
    receiver.clear()
    receiver.expect_request("/flaky", method="POST").respond_with_data("ok")
    dead.get_by_role("button", name="Replay", exact=True).click()

    # Then the list empties and /flaky's log shows the 200, with the same event id the 503 had
    expect(dead.get_by_role("status")).to_contain_text("Replayed 1 event")
    expect(dead.locator("li")).to_have_count(0)
    expect(flaky.locator(".endpoint-log tbody tr").first).to_contain_text("200")
    assert [request.headers["webhook-id"] for request, _ in receiver.log] == [failed_id]

    # When the operator enables /gone again, then the panel shows it enabled and the API agrees
    gone.get_by_role("button", name="Enable").click()
    expect(gone).to_contain_text("enabled")
    state = requests.get(f"{failing_stack.base}/api/webhooks", timeout=5,
                         headers={"Authorization": f"Bearer {failing_stack.key}"}).json()
    assert [e["disabled"] for e in state["endpoints"]] == [False, False]
