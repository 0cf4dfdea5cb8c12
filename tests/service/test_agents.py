"""Agents as people, against a real Redis: each agent's own key (issued, listed, revoked by an
operator), acting only as themselves and only on their teams, and each ticket's audit trail."""

from __future__ import annotations

import pytest

from smartsupport.store.audit import trail_key
from tests.helpers import app_with_routing, routed_ticket

ROUTING = """
teams:
  - name: technical
    members: [{name: carol, capacity: 3}, dave]
  - name: billing
    members: [alice]
rules:
  - name: technical
    match: {category: Technical}
    team: technical
    priority: P3
  - name: everything-else
    team: billing
    priority: P4
"""


@pytest.fixture
def app(api_redis_url, tmp_path):
    yield from app_with_routing(api_redis_url, tmp_path, ROUTING)


def key_for(client, operator, agent: str) -> dict[str, str]:
    response = client.post(f"/api/agents/{agent}/keys", headers=operator)
    assert response.status_code == 201, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['key']}"}


def routed(app, team: str, body: str = "The export fails with error 500") -> str:
    """A stored ticket, classified and routed to ``team``, waiting in its queue (as notify leaves it)."""
    rules = app.extensions["smartsupport"].routing.current()
    rule = next(r for r in rules.rules if r.team == team)
    return routed_ticket(app.extensions["smartsupport"].store, team, body=body, rule=rule.name, priority=rule.priority,
                         category={"technical": "Technical", "billing": "Billing"}[team])


def test_an_operator_issues_lists_and_revokes_an_agents_key_kept_only_as_a_digest(app, client, operator, store):
    issued = client.post("/api/agents/carol/keys", headers=operator).get_json()
    carol = {"Authorization": f"Bearer {issued['key']}"}

    me = client.get("/api/me", headers=carol).get_json()
    assert me == {"role": "agent", "agent": "carol", "teams": ["technical"]}
    listed = client.get("/api/agents/carol/keys", headers=operator).get_json()["keys"]
    assert [k["fingerprint"] for k in listed] == [issued["fingerprint"]]
    assert issued["key"] not in str(store.r.hgetall("ss:agents:keys"))  # only its digest is kept

    revoked = client.delete(f"/api/agents/carol/keys/{issued['fingerprint']}", headers=operator)
    assert revoked.status_code == 200
    assert client.get("/api/me", headers=carol).status_code == 401
    assert client.delete(f"/api/agents/carol/keys/{issued['fingerprint']}", headers=operator).status_code == 404


def test_a_key_only_for_an_agent_the_routing_lists(client, operator):
    response = client.post("/api/agents/mallory/keys", headers=operator)
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_agent"


def test_an_unknown_key_gets_401(client):
    response = client.post("/api/teams/technical/next", json={}, headers={"Authorization": "Bearer ssk_nobody"})
    assert response.status_code == 401


def test_an_agent_takes_acknowledges_and_resolves_as_themselves_without_naming_anyone(app, client, operator):
    carol = key_for(client, operator, "carol")
    tid = routed(app, "technical")

    taken = client.post("/api/teams/technical/next", headers=carol)
    assert taken.status_code == 200 and taken.get_json()["id"] == tid
    assert taken.get_json()["route"]["assignee"] == "carol"
    acked = client.post(f"/api/tickets/{tid}/ack", json={"agent": "carol"}, headers=carol)  # naming themselves
    assert acked.status_code == 200 and acked.get_json()["route"]["acknowledged_by"] == "carol"
    assert client.post(f"/api/tickets/{tid}/resolve", headers=carol).get_json()["route"]["resolved_at"]


@pytest.mark.parametrize("call", [
    lambda c, tid, h: c.post("/api/teams/technical/next", json={"agent": "dave"}, headers=h),
    lambda c, tid, h: c.post(f"/api/tickets/{tid}/ack", json={"agent": "dave"}, headers=h),
    lambda c, tid, h: c.post(f"/api/tickets/{tid}/resolve", json={"agent": "dave"}, headers=h),
])
def test_an_agent_cannot_act_as_another_agent(app, client, operator, store, call):
    carol = key_for(client, operator, "carol")
    tid = routed(app, "technical")

    response = call(client, tid, carol)

    assert response.status_code == 403 and response.get_json()["error"]["code"] == "other_agent"
    route = store.routes.route_of(tid)
    assert (route["assignee"], route["acknowledged_at"], route["resolved_at"]) == (None, None, None)
    assert store.audit.trail(tid) == []


@pytest.mark.parametrize("call", [
    lambda c, tid, h: c.post("/api/teams/billing/next", headers=h),
    lambda c, tid, h: c.post(f"/api/tickets/{tid}/ack", headers=h),
    lambda c, tid, h: c.post(f"/api/tickets/{tid}/resolve", headers=h),
    lambda c, tid, h: c.post(f"/api/tickets/{tid}/category", json={"label": "Legal"}, headers=h),
    lambda c, tid, h: c.post(f"/api/tickets/{tid}/urgency", json={"level": "critical"}, headers=h),
    lambda c, tid, h: c.get(f"/api/tickets/{tid}", headers=h),
    lambda c, tid, h: c.get("/api/tickets?team=billing", headers=h),
])
def test_an_agent_cannot_act_on_a_team_they_are_not_in(app, client, operator, store, call):
    carol = key_for(client, operator, "carol")
    tid = routed(app, "billing")

    response = call(client, tid, carol)

    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_a_member"
    view = client.get(f"/api/tickets/{tid}", headers=operator).get_json()
    assert view["route"]["assignee"] is None and view["route"]["acknowledged_at"] is None
    assert not view["category"]["corrected"] and view["urgency"] is None and view["audit"] == []


@pytest.mark.parametrize("method, path", [
    ("get", "/api/webhooks"), ("get", "/api/webhooks/dead"), ("post", "/api/webhooks/dead/replay"),
    ("get", "/api/incidents"), ("get", "/api/stats"), ("post", "/api/agents/carol/keys"),
    ("get", "/api/agents/carol/keys"), ("post", "/api/tickets/{tid}/retry"),
    ("post", "/api/tickets/{tid}/webhooks/redeliver"),
])
def test_an_agents_key_is_refused_operator_only_calls(app, client, operator, method, path):
    carol = key_for(client, operator, "carol")
    tid = routed(app, "technical")
    response = getattr(client, method)(path.format(tid=tid), headers=carol, json={} if method == "post" else None)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_an_agent_sees_only_their_teams_queues_and_tickets(app, client, operator):
    carol = key_for(client, operator, "carol")
    mine, theirs = routed(app, "technical"), routed(app, "billing")

    assert [t["team"] for t in client.get("/api/teams", headers=carol).get_json()["teams"]] == ["technical"]
    listed = client.get("/api/tickets?team=technical", headers=carol).get_json()["tickets"]
    assert [t["id"] for t in listed] == [mine]
    assert client.get(f"/api/tickets/{mine}", headers=carol).status_code == 200
    assert client.get(f"/api/tickets/{theirs}", headers=carol).status_code == 403


def test_an_operator_still_names_the_agent_who_takes_a_ticket(app, client, operator):
    routed(app, "technical")
    response = client.post("/api/teams/technical/next", json={}, headers=operator)
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "agent_not_named"
    assert client.post("/api/teams/technical/next", json={"agent": "dave"}, headers=operator).status_code == 200


def test_the_audit_trail_names_who_did_each_thing(app, client, operator):
    carol, dave = key_for(client, operator, "carol"), key_for(client, operator, "dave")
    tid = routed(app, "technical")
    fingerprint = app.extensions["smartsupport"].keys.identify(operator["Authorization"]).fingerprint

    # When carol takes it, dave corrects its urgency, an operator acknowledges it for carol,
    # carol resolves it, and an operator moves it to another team by correcting its category
    assert client.post("/api/teams/technical/next", headers=carol).status_code == 200
    assert client.post(f"/api/tickets/{tid}/urgency", json={"level": "high"}, headers=dave).status_code == 200
    assert client.post(f"/api/tickets/{tid}/ack", json={"agent": "carol"}, headers=operator).status_code == 200
    assert client.post(f"/api/tickets/{tid}/ack", headers=carol).status_code == 200  # again: changes nothing
    assert client.post(f"/api/tickets/{tid}/resolve", headers=carol).status_code == 200
    assert client.post(f"/api/tickets/{tid}/category", json={"label": "Billing"}, headers=operator).status_code == 200

    # Then the trail names each actor, oldest first
    trail = client.get(f"/api/tickets/{tid}", headers=operator).get_json()["audit"]
    operator_actor = f"operator:{fingerprint[:8]}"
    assert [(e["actor"], e["role"], e["action"]) for e in trail] == [
        ("carol", "agent", "assigned"), ("dave", "agent", "urgency_corrected"),
        (operator_actor, "operator", "acknowledged"), ("carol", "agent", "resolved"),
        (operator_actor, "operator", "category_corrected"), (operator_actor, "operator", "rerouted")]
    assert trail[0]["detail"] == {"agent": "carol", "team": "technical"}
    assert trail[1]["detail"] == {"level": "high", "previous_level": None}
    assert trail[2]["detail"] == {"agent": "carol"}
    assert trail[5]["detail"]["team"] == "billing" and trail[5]["detail"]["previous_team"] == "technical"
    assert all(e["at"] > 0 for e in trail)


def test_a_submit_key_sees_no_audit_trail(app, client, operator, submitter):
    response = client.post("/api/tickets", json={"body": "Where is my invoice?"}, headers=submitter)
    tid = response.get_json()["id"]
    store = app.extensions["smartsupport"].store
    store.audit.record(tid, "acknowledged", actor="carol", role="agent")
    assert "audit" not in client.get(f"/api/tickets/{tid}", headers=submitter).get_json()
    assert len(client.get(f"/api/tickets/{tid}", headers=operator).get_json()["audit"]) == 1


def test_the_audit_trail_is_deleted_with_its_ticket(app, client, operator, store):
    carol = key_for(client, operator, "carol")
    tid = routed(app, "technical")
    client.post("/api/teams/technical/next", headers=carol)
    assert store.r.llen(trail_key(tid)) == 1

    store.delete_tickets([tid])

    assert store.r.exists(trail_key(tid)) == 0
    assert store.audit.record(tid, "resolved", actor="carol", role="agent") is False  # none left behind
    assert store.r.exists(trail_key(tid)) == 0
