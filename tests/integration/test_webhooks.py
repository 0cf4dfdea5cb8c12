"""Webhook delivery against a real HTTP server on loopback, through a real worker.

The worker runs with a fast schedule (base 0.2 s, x2, capped at 2 s, 4 attempts, 1 s timeout).
"""

import json

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import WEBHOOK_SECRET, wait_for
from tests.helpers import AUTH, finished, submit

pytestmark = pytest.mark.integration
OUTAGE = "Total outage: the site is down for everyone"


def verified_ids(calls) -> set[str]:
    return {Webhook(WEBHOOK_SECRET).verify(c.get_data(as_text=True), dict(c.headers))["id"] for c in calls}


def test_retries_back_off_and_keep_one_event_id(client, receiver):
    ticket_id = submit(client, OUTAGE + " [respond 500 502 503 200]")

    view = finished(client, ticket_id, webhook=True)

    assert view["webhook"]["status"] == "delivered" and view["webhook"]["attempts"] == 4
    log = view["webhook"]["log"]
    # Each failed attempt scheduled the next after 0.2 s, 0.4 s, 0.8 s (+/-20 % jitter): the waits double
    scheduled = [a["retry_at"] - a["at"] for a in log[:3]]
    for wait, expected in zip(scheduled, (0.2, 0.4, 0.8)):
        assert 0.8 * expected <= wait <= 1.2 * expected, scheduled
    # and no attempt ran before its time
    assert all(b["at"] >= a["retry_at"] - 0.01 for a, b in zip(log, log[1:])), log
    assert "retry_at" not in log[3]
    assert verified_ids(receiver.calls[ticket_id]) == {f"evt_{ticket_id}"}


def test_429_is_retried_after_the_time_the_endpoint_asked_for(client, receiver):
    ticket_id = submit(client, OUTAGE + " [respond 429:2 200]")

    view = finished(client, ticket_id, webhook=True)

    first, second = view["webhook"]["log"]
    assert (first["status_code"], second["status_code"]) == (429, 200)
    assert second["at"] - first["at"] >= 1.9


def test_a_timeout_is_retried(client, receiver):
    ticket_id = submit(client, OUTAGE + " [respond sleep 200]")

    view = finished(client, ticket_id, webhook=True)

    first, second = view["webhook"]["log"]
    assert "timeout" in first["error"] and second["status_code"] == 200
    assert view["webhook"]["status"] == "delivered"


def test_an_event_whose_attempts_run_out_is_dead_lettered_and_can_be_replayed(client, receiver):
    ticket_id = submit(client, OUTAGE + " [respond 503]")
    view = finished(client, ticket_id, webhook=True)
    assert view["webhook"]["status"] == "failed" and view["webhook"]["attempts"] == 4

    dead = client.get("/api/webhooks/dead", headers=AUTH).get_json()["events"]
    assert [e["ticket_id"] for e in dead] == [ticket_id] and dead[0]["event_id"] == f"evt_{ticket_id}"

    # When an operator replays it, it is attempted again (a fresh budget of 4) with the same id
    assert client.post("/api/webhooks/dead/replay", json={"ticket_id": ticket_id}, headers=AUTH).status_code == 202
    wait_for(lambda: len(receiver.calls[ticket_id]) == 8, timeout_s=30, what="the replayed attempts")
    assert verified_ids(receiver.calls[ticket_id]) == {f"evt_{ticket_id}"}


def test_410_gone_disables_the_endpoint_until_an_operator_enables_it(client, receiver):
    ticket_id = submit(client, OUTAGE + " [respond 410]")
    view = finished(client, ticket_id, webhook=True)
    assert view["webhook"]["status"] == "failed" and view["webhook"]["attempts"] == 1
    endpoint = client.get("/api/webhooks", headers=AUTH).get_json()["endpoints"][0]
    assert endpoint["disabled"] is True and endpoint["recent"][0]["status_code"] == 410

    # While disabled, a new urgent ticket is not sent to it
    skipped = finished(client, submit(client, OUTAGE), webhook=True)
    assert skipped["webhook"]["status"] == "failed" and "disabled" in skipped["webhook"]["log"][0]["error"]
    assert receiver.calls[skipped["id"]] == []

    # Once enabled again, the operator's redeliver reaches it
    url = endpoint["url"]
    assert client.post("/api/webhooks/endpoints/enable", json={"url": url}, headers=AUTH).status_code == 200
    assert client.post(f"/api/tickets/{skipped['id']}/webhooks/redeliver", headers=AUTH).status_code == 202
    delivered = wait_for(lambda: (v := client.get(f"/api/tickets/{skipped['id']}", headers=AUTH).get_json())
                         ["webhook"]["status"] == "delivered" and v, timeout_s=30, what="the redelivery")
    assert delivered["webhook"]["event_id"] == f"evt_{skipped['id']}"


def test_personal_data_is_masked_in_the_event_and_kept_for_the_operator(client, receiver):
    text = (OUTAGE + ". Reach me at dana.whitfield@customer.example or +44 20 7946 0958; we paid with "
            "4111 1111 1111 1111 and our IBAN is GB82 WEST 1234 5698 7654 32.")
    ticket_id = submit(client, text, customer={"name": "Dana", "email": "dana.whitfield@customer.example"})

    view = finished(client, ticket_id, webhook=True)

    [call] = receiver.calls[ticket_id]
    data = json.loads(call.get_data())["data"]
    for original in ("dana.whitfield@customer.example", "4111 1111 1111 1111", "+44 20 7946 0958",
                     "GB82 WEST 1234 5698 7654 32"):
        assert original not in call.get_data(as_text=True)
    assert "[email]" in data["body"] and "[card]" in data["body"] and "[iban]" in data["body"]
    assert data["customer"]["email"] == "[email]" and data["id"] == ticket_id
    # the model read the original, and the operator's view still has it
    assert view["body"] == text and view["customer"]["email"] == "dana.whitfield@customer.example"
