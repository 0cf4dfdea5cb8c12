"""Incidents end to end: the scripted burst through the API and a real worker (incidents on, its own
Redis database), one signed incident.opened at the receiver, and the operator's API."""

from __future__ import annotations

import json
import random

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import OPERATOR_KEY, ROOT, WEBHOOK_SECRET, clear_tickets, settings_for, wait_for
from web import create_app

from tests.helpers import answering_worker

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}
BURST = json.loads((ROOT / "eval" / "data" / "incident_burst.json").read_text())


@pytest.fixture(scope="module")
def incident_env(worker_env, redis_server):
    return {**worker_env, "REDIS_URL": redis_server + "/2", "SMARTSUPPORT_INCIDENTS": "on"}


@pytest.fixture(scope="module")
def incident_worker(incident_env, tmp_path_factory):
    clear_tickets(incident_env["REDIS_URL"])
    with answering_worker(incident_env, tmp_path_factory, "incident worker") as proc:
        yield proc


@pytest.fixture
def client(incident_worker, incident_env, tmp_path):
    app = create_app(settings_for(incident_env["REDIS_URL"], tmp_path,
                                  SMARTSUPPORT_WEBHOOK_URLS=incident_env["SMARTSUPPORT_WEBHOOK_URLS"],
                                  SMARTSUPPORT_RATE_LIMIT="10000/second"))
    return app.test_client()


def test_thirty_paraphrases_among_a_hundred_unrelated_tickets_open_one_incident(client, receiver):
    # Given the scripted burst: 30 paraphrases of one outage shuffled among 100 unrelated tickets
    texts = [(text, True) for text in BURST["outage"]] + [(text, False) for text in BURST["unrelated"]]
    random.Random(7).shuffle(texts)
    receiver.incident_events.clear()

    # When they are all submitted through the API and processed by the worker
    ids = {}
    for text, in_burst in texts:
        response = client.post("/api/tickets", json={"body": text}, headers=AUTH)
        assert response.status_code == 202
        ids[response.get_json()["id"]] = in_burst

    def all_done():
        listed = client.get("/api/tickets?status=done&limit=500", headers=AUTH).get_json()["tickets"]
        return len(listed) == len(ids)

    wait_for(all_done, timeout_s=180, interval_s=1, what="all 130 tickets to be done")

    # Then exactly one incident opened, with >= 90% of the burst and none of the unrelated tickets
    [incident] = client.get("/api/incidents", headers=AUTH).get_json()["incidents"]
    detail = client.get(f"/api/incidents/{incident['id']}", headers=AUTH).get_json()
    members = set(detail["ticket_ids"])
    burst = {tid for tid, in_burst in ids.items() if in_burst}
    recall = len(members & burst) / len(burst)
    print(f"incident {incident['title']!r}: {len(members)} members, recall {recall:.2f}, "
          f"unrelated members {len(members - burst)}")
    assert recall >= 0.9 and members <= burst
    assert {t["incident"] for t in detail["tickets"]} == {incident["id"]}
    assert all(t["urgency"] is not None for t in detail["tickets"])  # members keep their own urgency

    # And the receiver got one incident.opened, signed, for this incident (and no ticket event from members
    # that joined after it opened)
    wait_for(lambda: detail_events_delivered(client, incident["id"]), timeout_s=30, what="incident events delivered")
    events = [json.loads(r.get_data()) for r in receiver.incident_events]
    assert [e["type"] for e in events].count("incident.opened") == 1
    opened = next(r for r in receiver.incident_events if json.loads(r.get_data())["type"] == "incident.opened")
    verified = Webhook(WEBHOOK_SECRET).verify(opened.get_data(as_text=True), dict(opened.headers))
    assert verified["data"]["id"] == incident["id"] and verified["id"] == opened.headers["webhook-id"]
    covered = [t for t in detail["tickets"] if t["webhook"].get("covered_by_incident")]
    assert covered and all(not receiver.calls.get(t["id"]) for t in covered)

    # When the operator closes it, then it is closed and a second close is a conflict
    closed = client.post(f"/api/incidents/{incident['id']}/close", headers=AUTH)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert client.post(f"/api/incidents/{incident['id']}/close", headers=AUTH).status_code == 409


def detail_events_delivered(client, incident_id: str) -> bool:
    events = client.get(f"/api/incidents/{incident_id}", headers=AUTH).get_json()["events"]
    return bool(events) and all(d["status"] == "delivered" for e in events for d in e["deliveries"])
