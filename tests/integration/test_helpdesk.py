"""Tickets triaged inside a real Request Tracker 5 (deploy/rt_instance.py): created there through
its own REST2 API, taken by the helpdesk process, run through a real worker, written back; agents'
changes made in RT come back as corrections. One RT, one worker and one helpdesk process for the
module, on a Redis database of their own; the helpdesk process and the worker reach RT through a
gate (tests/integration/gate.py) that a test closes to cut them off while RT keeps taking tickets."""

from __future__ import annotations

import time

import pytest
import requests

from deploy.rt_instance import AGENT, AGENT_PASSWORD, CONNECTOR, CONNECTOR_PASSWORD, RequestTracker
from smartsupport.helpdesk.rt import RequestTracker as Connector
from smartsupport.store import TicketStore
from tests.helpers import missing, settings_for, wait_for, worker_with_program
from tests.integration.gate import Gate
from web import create_app
from workers.helpdesk import Connector as Intake

pytestmark = pytest.mark.integration

#: How long the helpdesk process is cut off from RT in the outage test (the issue's 30 s).
OUTAGE_S = 30.0
#: Seconds between two tickets created in RT meanwhile.
OUTAGE_TICKET_EVERY_S = 1.5


@pytest.fixture(scope="module")
def rt():
    try:
        server = RequestTracker()
    except FileNotFoundError as exc:
        missing(str(exc))
    yield server
    server.close()


@pytest.fixture(scope="module")
def gate(rt):
    between = Gate(rt.port)
    yield between
    between.close()


@pytest.fixture(scope="module")
def helpdesk_env(worker_env, redis_server, gate, tmp_path_factory):
    data = tmp_path_factory.mktemp("helpdesk-data")
    (data / "helpdesk_password").write_text(CONNECTOR_PASSWORD + "\n")
    return {**worker_env, "REDIS_URL": redis_server + "/4", "SMARTSUPPORT_DATA_DIR": str(data),
            "SMARTSUPPORT_HELPDESK_URL": f"rt://{CONNECTOR}@127.0.0.1:{gate.port}",
            "SMARTSUPPORT_HELPDESK_POLL_S": "0.5", "SMARTSUPPORT_HELPDESK_BACKOFF_MAX_S": "2",
            "SMARTSUPPORT_WEBHOOK_URLS": ""}


@pytest.fixture(scope="module")
def helpdesk(helpdesk_env, tmp_path_factory):
    """A real worker and the helpdesk process, as `make run` starts them."""
    with worker_with_program(helpdesk_env, tmp_path_factory, "workers.helpdesk", "helpdesk") as running:
        yield running


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


def test_reply_added_in_rt_joins_its_ticket_and_scores_it_again(rt, api, helpdesk_env):
    client, headers = api
    store = store_of(helpdesk_env)
    number = rt.create("Invoices as PDF", "Could you tell me how to download my invoices as PDF files?")
    first = written_back(rt, store, number)
    before = client.get(f"/api/tickets/{first['smartsupport_id']}", headers=headers).get_json()["urgency"]

    # When the customer's correspondence on the RT ticket says it became urgent
    rt.correspond(number, "This is urgent now: production is down and every checkout fails, fix it ASAP")

    # Then it joins the SmartSupport ticket (no ticket of its own), which is scored again and written back
    def rescored():
        view = client.get(f"/api/tickets/{first['smartsupport_id']}", headers=headers).get_json()
        return view if view["replies"] and view["urgency"]["score"] > before["score"] else None
    view = wait_for(rescored, timeout_s=60, interval_s=0.5, what="the reply to join and the ticket to be scored anew")
    assert [r["body"].strip() for r in view["replies"]] == [
        "This is urgent now: production is down and every checkout fails, fix it ASAP"]
    wait_for(lambda: int(rt.ticket(number)["Priority"]) == round(view["urgency"]["score"] * 100), timeout_s=60,
             interval_s=0.5, what="the new priority to be written back")
    assert [v["id"] for v in store.views.list(sort="created", limit=500)
            if v["metadata"].get("helpdesk_id") == str(number)] == [first["smartsupport_id"]]


def test_a_ticket_deleted_in_rt_ends_its_smartsupport_ticket_with_nothing_left(rt, api, helpdesk_env):
    client, headers = api
    store = store_of(helpdesk_env)
    number = rt.create("Wrong address", "Please ignore my last message, it was sent by mistake")
    ticket_id = written_back(rt, store, number)["smartsupport_id"]

    # When an agent deletes it in RT
    rt.delete(number)

    # Then the SmartSupport ticket is gone, with nothing kept about it, and nothing is dead-lettered
    wait_for(lambda: client.get(f"/api/tickets/{ticket_id}", headers=headers).status_code == 404, timeout_s=30,
             interval_s=0.5, what="the SmartSupport ticket to be deleted")
    assert store.helpdesk.ticket_of(str(number)) is None
    assert [key for key in store.helpdesk.r.scan_iter(match="*") if ticket_id in key] == []
    assert not store.helpdesk.r.exists(f"ss:helpdesk:ticket:{number}")
    assert not store.helpdesk.commented(ticket_id)
    assert ticket_id not in [d["ticket_id"] for d in store.helpdesk.dead_letters()]
    assert ticket_id not in [v["id"] for v in store.views.list(sort="created", limit=500)]


def test_rt_out_of_reach_for_30_s_under_load_every_ticket_created_meanwhile_is_triaged_once(
        rt, gate, helpdesk, helpdesk_env):
    store = store_of(helpdesk_env)
    # Given the helpdesk process (and the worker's write-backs) cut off from RT, RT still taking tickets
    gate.close()
    try:
        back_at = time.monotonic() + OUTAGE_S
        wait_for(lambda: (store.helpdesk.status() or {}).get("state") == "away", timeout_s=OUTAGE_S,
                 interval_s=0.2, what="the helpdesk process to say RT is away")
        away_since = store.helpdesk.status()["since"]

        # When customers keep writing to RT meanwhile, at a steady rate
        numbers = created_steadily(rt, until=back_at, every_s=OUTAGE_TICKET_EVERY_S)
        status = store.helpdesk.status()
        assert status["state"] == "away" and status["since"] == away_since  # away all along
        time.sleep(max(0.0, back_at - time.monotonic()))  # the outage itself lasts OUTAGE_S, not a wait for state
    finally:
        gate.open()

    # Then once RT is within reach again, each is one SmartSupport ticket, triaged and written back once
    for number in numbers:
        written_back(rt, store, number, timeout_s=120)
    by_rt_ticket = {}
    for view in store.views.list(sort="created", limit=1000):
        by_rt_ticket.setdefault(view["metadata"].get("helpdesk_id"), []).append(view["status"])
    assert {str(n): by_rt_ticket.get(str(n)) for n in numbers} == {str(n): ["done"] for n in numbers}
    assert all(len(rt.comments(number)) == 1 for number in numbers)
    assert wait_for(lambda: (store.helpdesk.status() or {}).get("state") == "ok", timeout_s=30,
                    what="the helpdesk process to say ok")


def created_steadily(rt, *, until: float, every_s: float) -> list[int]:
    """Tickets created in RT directly, one every ``every_s`` seconds until ``until`` (monotonic)."""
    numbers, next_at = [], time.monotonic()
    while next_at < until:
        time.sleep(max(0.0, next_at - time.monotonic()))  # the rate of the load, not a wait for state
        numbers.append(rt.create(f"Outage {len(numbers)}", f"Our dashboard shows error 502 since noon "
                                                           f"(site {len(numbers)})"))
        next_at += every_s
    return numbers
