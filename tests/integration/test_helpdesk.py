"""Tickets triaged inside a real Request Tracker 5 (tests/integration/rt.py): created there through
its own REST2 API, taken by the helpdesk process, run through a real worker, written back; agents'
changes made in RT come back as corrections. One RT, one worker and one helpdesk process for the
module, on a Redis database of their own."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from smartsupport.helpdesk.rt import RequestTracker as Connector
from smartsupport.store import TicketStore
from tests.helpers import ROOT, answering_worker, clear_tickets, settings_for, wait_for
from tests.integration.rt import AGENT, AGENT_PASSWORD, CONNECTOR, CONNECTOR_PASSWORD, RequestTracker
from web import create_app
from workers.helpdesk import Connector as Intake

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rt():
    server = RequestTracker()
    yield server
    server.close()


@pytest.fixture(scope="module")
def helpdesk_env(worker_env, redis_server, rt, tmp_path_factory):
    data = tmp_path_factory.mktemp("helpdesk-data")
    (data / "helpdesk_password").write_text(CONNECTOR_PASSWORD + "\n")
    return {**worker_env, "REDIS_URL": redis_server + "/4", "SMARTSUPPORT_DATA_DIR": str(data),
            "SMARTSUPPORT_HELPDESK_URL": f"rt://{CONNECTOR}@127.0.0.1:{rt.port}",
            "SMARTSUPPORT_HELPDESK_POLL_S": "0.5", "SMARTSUPPORT_WEBHOOK_URLS": ""}


@pytest.fixture(scope="module")
def helpdesk(helpdesk_env, tmp_path_factory):
    """A real worker and the helpdesk process, as `make run` starts them."""
    clear_tickets(helpdesk_env["REDIS_URL"])
    log_path = tmp_path_factory.mktemp("helpdesk-logs") / "helpdesk.log"
    with answering_worker(helpdesk_env, tmp_path_factory, "helpdesk worker"):
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([sys.executable, "-m", "workers.helpdesk"], cwd=ROOT, env=helpdesk_env,
                                    stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.fixture
def api(helpdesk, helpdesk_env, tmp_path):
    app = create_app(settings_for(helpdesk_env["REDIS_URL"], tmp_path))
    return app.test_client(), {"Authorization": f"Bearer {app.extensions['smartsupport'].settings.api_keys[0]}"}


def store_of(env) -> TicketStore:
    return TicketStore.from_url(env["REDIS_URL"])


def written_back(rt, store, number: int, *, timeout_s: float = 90) -> dict:
    """The RT ticket once SmartSupport wrote its fields back (and its comment)."""
    def done():
        ticket_id = store.helpdesk.ticket_of(str(number))
        if ticket_id is None or not store.helpdesk.commented(ticket_id):
            return None
        return {**rt.ticket(number), "smartsupport_id": ticket_id}
    return wait_for(done, timeout_s=timeout_s, interval_s=0.5, what=f"RT ticket {number} to be written back")


def test_fifty_tickets_created_in_rt_are_triaged_and_written_back_as_the_api_shows_them(rt, api, helpdesk_env):
    client, headers = api
    store = store_of(helpdesk_env)
    texts = ["Where is the invoice for last month? We were charged twice.",
             "Production is down, every checkout fails with error 500, fix ASAP",
             "Please send me a copy of the data processing agreement (GDPR)",
             "The CSV export is slow since the update",
             "How do I change the billing address on my account?"]
    numbers = [rt.create(f"Ticket {i}", texts[i % len(texts)] + f" (ref {i})") for i in range(50)]

    for number in numbers:
        found = written_back(rt, store, number)
        view = client.get(f"/api/tickets/{found['smartsupport_id']}", headers=headers).get_json()
        assert view["status"] == "done" and view["metadata"]["helpdesk_id"] == str(number)
        assert found["QueueName"] == view["route"]["team"]
        assert int(found["Priority"]) == round(view["urgency"]["score"] * 100)
        assert found["Fields"] == {"Category": view["category"]["label"], "Urgency": view["urgency"]["level"],
                                   "Needs review": "yes" if view["category"]["needs_review"] else "no"}
        [comment] = rt.comments(number)
        assert view["id"] in comment and f"Urgency: {view['urgency']['level']}" in comment


def test_an_rt_ticket_seen_twice_is_one_smartsupport_ticket(rt, helpdesk, helpdesk_env):
    store = store_of(helpdesk_env)
    number = rt.create("Refund", "Please refund the second charge on my card")
    first = written_back(rt, store, number)["smartsupport_id"]

    # When the intake reads RT again from before that ticket (a cursor lost, a crash before it moved)
    store.helpdesk.set_cursor("tickets", number - 1)
    Intake(store, Connector(helpdesk_env["SMARTSUPPORT_HELPDESK_URL"], CONNECTOR_PASSWORD,
                            intake=("General",))).poll()

    # Then it is still the one ticket
    tickets = [v for v in store.views.list(sort="created", limit=500)
               if v["metadata"].get("helpdesk_id") == str(number)]
    assert [t["id"] for t in tickets] == [first]


def test_an_agent_moving_a_ticket_in_rt_moves_the_next_similar_ticket_there(rt, api, helpdesk_env):
    client, headers = api
    store = store_of(helpdesk_env)
    number = rt.create("Company name", "Please update the company name printed on our account page")
    first = written_back(rt, store, number)
    target = next(q for q in ("Legal", "Billing", "Technical") if q != first["QueueName"])

    # When an agent moves it to another queue in RT
    rt.update(number, Queue=target)

    # Then SmartSupport takes it as a correction by that agent, and a similar ticket lands there
    def corrected():
        view = client.get(f"/api/tickets/{first['smartsupport_id']}", headers=headers).get_json()
        return view if view["category"].get("corrected") else None
    view = wait_for(corrected, timeout_s=30, interval_s=0.5, what="the queue move to become a correction")
    assert view["category"]["label"] == target
    assert any(e["action"] == "category_corrected" and AGENT in e["actor"] for e in view["audit"])
    second = rt.create("Company name", "Could you update the company name shown on our account page?")
    assert written_back(rt, store, second)["QueueName"] == target


def test_smartsupport_s_own_write_backs_are_never_read_back_as_corrections(rt, api, helpdesk_env):
    client, headers = api
    store = store_of(helpdesk_env)
    before = max_transaction(rt)
    number = rt.create("Export", "The nightly export failed with a timeout")
    found = written_back(rt, store, number)
    connector = Connector(helpdesk_env["SMARTSUPPORT_HELPDESK_URL"], CONNECTOR_PASSWORD, intake=("General",))

    # The helpdesk process has read past the write-back, and took nothing of it as a correction
    wait_for(lambda: store.helpdesk.cursor("changes") >= max_transaction(rt), timeout_s=30,
             what="the helpdesk process to read past the write-back")
    view = client.get(f"/api/tickets/{found['smartsupport_id']}", headers=headers).get_json()
    assert not view["category"].get("corrected") and not view["urgency"].get("corrected")
    changes, _ = connector.changes_by_people(before, limit=100)
    assert [c for c in changes if c.external_id == str(number)] == []

    # Without the guard (the connector not knowing its own account), the same history reads as changes
    unguarded = Connector(helpdesk_env["SMARTSUPPORT_HELPDESK_URL"], CONNECTOR_PASSWORD, intake=("General",))
    unguarded.user = "someone-else"
    changes, _ = unguarded.changes_by_people(before, limit=100)
    assert any(c.external_id == str(number) and c.author == CONNECTOR for c in changes)


def max_transaction(rt) -> int:
    found = requests.post(f"{rt.url}/REST/2.0/transactions", params={"orderby": "id", "order": "DESC", "per_page": 1},
                          json=[{"field": "ObjectType", "value": "RT::Ticket"}], auth=(AGENT, AGENT_PASSWORD),
                          timeout=30).json()["items"]
    return int(found[0]["id"])


def test_rt_away_then_back_every_ticket_created_before_is_triaged_once(rt, helpdesk, helpdesk_env):
    store = store_of(helpdesk_env)
    # Given tickets the helpdesk process has not taken yet when RT goes away
    numbers = [rt.create(f"Outage {i}", f"Our dashboard shows error 502 since noon (site {i})") for i in range(10)]
    rt.stop()
    try:
        wait_for(lambda: (store.helpdesk.status() or {}).get("state") == "away", timeout_s=30,
                 what="the helpdesk process to notice RT is away")
    finally:
        rt.start()

    # Then once it is back, each is one ticket, triaged and written back
    for number in numbers:
        written_back(rt, store, number, timeout_s=120)
    views = store.views.list(sort="created", limit=500)
    assert sorted(v["metadata"].get("helpdesk_id") for v in views
                  if v["metadata"].get("helpdesk_id") in {str(n) for n in numbers}) == sorted(map(str, numbers))
