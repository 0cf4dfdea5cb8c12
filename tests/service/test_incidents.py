"""Incident detection against a real Redis with the real embedding model: a burst of paraphrases of
one outage among unrelated tickets opens one incident, with the right members."""

from __future__ import annotations

import json
import random

import pytest

from smartsupport.incidents import IncidentRegistry, IncidentTracker, Policy, Seen, title_of
from smartsupport.incidents.state import MILESTONES
from smartsupport.models import embedding_model
from tests.helpers import ROOT

BURST = json.loads((ROOT / "eval" / "data" / "incident_burst.json").read_text())


@pytest.fixture(scope="module")
def vectors():
    model = embedding_model()
    texts = BURST["outage"] + BURST["unrelated"]
    return dict(zip(texts, model.embed(texts)))


def _seen(texts, vectors, *, start=1_000.0, prefix="t"):
    return [Seen(f"{prefix}{i:03d}", text, vectors[text], "Technical", start + i) for i, text in enumerate(texts)]


def _tracker(store, clock=lambda: 1_200.0, **policy):
    return IncidentTracker(store, Policy(**policy), webhook_urls=["http://127.0.0.1:9/hook"], clock=clock)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_burst_among_unrelated_tickets_opens_one_incident_with_the_right_members(store, vectors, seed):
    # Given 30 paraphrases of one outage shuffled among 100 unrelated tickets, in batches of 8
    texts = BURST["outage"] + BURST["unrelated"]
    random.Random(seed).shuffle(texts)
    seen = _seen(texts, vectors)
    tracker = _tracker(store)

    # When the tracker observes them batch by batch
    events = []
    for i in range(0, len(seen), 8):
        events += tracker.observe(seen[i:i + 8])[1]

    # Then exactly one incident opened, holding >= 90% of the burst and none of the others
    [incident] = IncidentRegistry(store).list()
    members = set(IncidentRegistry(store).get(incident["id"], with_tickets=False)["ticket_ids"])
    burst_ids = {s.ticket_id for s in seen if s.text in BURST["outage"]}
    recall, precision = len(members & burst_ids) / 30, len(members & burst_ids) / len(members)
    print(f"seed {seed}: {len(members)} members, recall {recall:.2f}, precision {precision:.2f}")
    assert recall >= 0.9 and precision == 1.0
    assert incident["size"] == len(members) and incident["status"] == "open"
    assert "upload" in incident["title"].lower() or "attach" in incident["title"].lower(), incident["title"]
    # And one incident.opened event was recorded, then one incident.updated per milestone crossed (10, 25)
    payloads = [store.deliveries.event_payload(subject) for subject in events]
    assert [p["type"] for p in payloads].count("incident.opened") == 1
    updated = [(int(subject.rsplit("-", 1)[1]), p["data"]["size"]) for subject, p in zip(events, payloads)
               if p["type"] == "incident.updated"]
    reached = [m for m in MILESTONES if m <= len(members)]
    assert reached == [10, 25]
    # (one event may stand for two milestones when a sweep crosses both at once)
    assert [m for m, _ in updated] == sorted({m for m, _ in updated}) and updated[-1][0] == reached[-1]
    assert all(size >= milestone for milestone, size in updated)
    opened = next(p for p in payloads if p["type"] == "incident.opened")
    assert opened["data"]["id"] == incident["id"] and set(opened["data"]["ticket_ids"]) <= members


def test_unrelated_tickets_alone_open_nothing(store, vectors):
    tracker = _tracker(store)
    for i in range(0, 100, 8):
        tracker.observe(_seen(BURST["unrelated"], vectors)[i:i + 8])
    assert IncidentRegistry(store).list() == []


def test_a_second_worker_sees_the_first_ones_incident_and_joins_it(store, vectors):
    # Given worker A opened an incident from the first 10 paraphrases
    seen = _seen(BURST["outage"], vectors)
    first, second = _tracker(store), _tracker(store)
    first.observe(seen[:10])
    [incident] = IncidentRegistry(store).list()

    # When worker B (another process: its own memory) observes the rest
    second.observe(seen[10:])

    # Then they join that incident: no second incident opens
    assert [i["id"] for i in IncidentRegistry(store).list()] == [incident["id"]]
    assert IncidentRegistry(store).get(incident["id"])["size"] >= 27


def test_redelivered_tickets_are_not_counted_twice(store, vectors):
    seen = _seen(BURST["outage"][:12], vectors)
    first, _ = _tracker(store).observe(seen)
    before = IncidentRegistry(store).list()
    assert len(before) == 1
    again, events = _tracker(store).observe(seen)  # a fresh process after a crash: same batch again
    assert events == [] and IncidentRegistry(store).list() == before and again == first


def test_tickets_older_than_the_window_do_not_count(store, vectors):
    # Four paraphrases two hours ago, then one now: five, but not within the one-hour window
    old = _seen(BURST["outage"][:4], vectors, start=0.0)
    now = _seen(BURST["outage"][4:5], vectors, start=7_200.0)
    clock = iter([10.0, 7_201.0])
    tracker = _tracker(store, clock=lambda: next(clock, 7_201.0), window_s=3600)
    tracker.observe(old)
    tracker.observe(now)
    assert IncidentRegistry(store).list() == []


def test_operators_close_and_merge_incidents(store, vectors):
    tracker = _tracker(store)
    tracker.observe(_seen(BURST["outage"][:6], vectors))
    [a] = IncidentRegistry(store).list()
    registry = IncidentRegistry(store)

    closed = registry.close(a["id"])
    assert closed["status"] == "closed"
    # A closed incident takes no new members: five more paraphrases open a second one
    tracker.observe(_seen(BURST["outage"][6:12], vectors, start=1_100.0, prefix="u"))
    b = next(i for i in registry.list() if i["id"] != a["id"])
    merged_into = registry.merge(a["id"], b["id"])
    assert merged_into["size"] == 12
    assert registry.get(a["id"])["status"] == "merged" and registry.get(a["id"])["merged_into"] == b["id"]
    assert store.r.hget("ss:ticket:t000", "incident") == b["id"]


def test_titles_are_one_line():
    assert title_of("Uploads fail. Since 9am nothing works.\nmore") == "Uploads fail."
    assert len(title_of("x" * 300)) == 90


def test_the_incidents_api_lists_reads_closes_and_merges(client, store, operator, submitter, vectors):
    _tracker(store).observe(_seen(BURST["outage"][:6], vectors))
    [incident] = client.get("/api/incidents", headers=operator).get_json()["incidents"]
    assert incident["size"] == 6 and incident["status"] == "open"

    detail = client.get(f"/api/incidents/{incident['id']}", headers=operator).get_json()
    assert len(detail["ticket_ids"]) == 6
    [event] = detail["events"]
    assert event["type"] == "incident.opened" and event["deliveries"][0]["status"] == "pending"

    # Submit-only keys see no incidents; unknown ids are 404; bad input is a 4xx
    assert client.get("/api/incidents", headers=submitter).status_code == 403
    assert client.get("/api/incidents/inc_nope", headers=operator).status_code == 404
    assert client.get("/api/incidents?status=sideways", headers=operator).status_code == 400
    merge = client.post(f"/api/incidents/{incident['id']}/merge", json={"into": incident["id"]}, headers=operator)
    assert merge.status_code == 409
    merge = client.post(f"/api/incidents/{incident['id']}/merge", json={"into": "inc_nope"}, headers=operator)
    assert merge.status_code == 404 and merge.get_json()["error"]["message"] == "no incident inc_nope"
    assert client.post(f"/api/incidents/{incident['id']}/merge", json={}, headers=operator).status_code == 422

    closed = client.post(f"/api/incidents/{incident['id']}/close", headers=operator)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert client.get("/api/incidents?status=open", headers=operator).get_json()["incidents"] == []


def test_an_operator_merges_one_incident_into_another_through_the_api(client, store, operator, vectors):
    # Given two open incidents: the first closed after 6 members, then 6 more paraphrases opened a second
    tracker = _tracker(store)
    tracker.observe(_seen(BURST["outage"][:6], vectors))
    [first] = IncidentRegistry(store).list()
    assert client.post(f"/api/incidents/{first['id']}/close", headers=operator).status_code == 200
    tracker.observe(_seen(BURST["outage"][6:12], vectors, start=1_100.0, prefix="u"))
    second = next(i for i in IncidentRegistry(store).list() if i["id"] != first["id"])

    # When the operator merges the first into the second
    response = client.post(f"/api/incidents/{first['id']}/merge", json={"into": second["id"]}, headers=operator)

    # Then the second holds all twelve tickets, the first ends merged, and merging it again is a conflict
    assert response.status_code == 200
    merged = client.get(f"/api/incidents/{second['id']}", headers=operator).get_json()
    assert merged["size"] == 12 and len(merged["ticket_ids"]) == 12
    gone = client.get(f"/api/incidents/{first['id']}", headers=operator).get_json()
    assert gone["status"] == "merged" and gone["merged_into"] == second["id"] and gone["ticket_ids"] == []
    again = client.post(f"/api/incidents/{first['id']}/merge", json={"into": second["id"]}, headers=operator)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "merged"
