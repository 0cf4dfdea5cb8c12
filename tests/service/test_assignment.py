"""Work pushed to agents on a real Redis: round robin and least loaded, skills, capacity, agents who
come and go, and two dispatchers at once (smartsupport/assignment.py, smartsupport/store/assignment.py)."""

from __future__ import annotations

import random
import threading

import pytest

from smartsupport import routing
from smartsupport.assignment import dispatch
from smartsupport.store.routes import agent_key
from tests.helpers import app_with_routing, routed_ticket

LABELS = ("Billing", "Technical", "Legal", "Other")
NOW = 1_790_000_000.0


def rules(assignment: str, members: list) -> routing.Routing:
    office = {"timezone": "Europe/Berlin", "hours": {"mon-fri": ["09:00-17:00"]}}
    return routing.parse({"teams": [{"name": "desk", "assignment": assignment, "members": members}],
                          "calendars": {"office": office}, "rules": [{"name": "all", "team": "desk"}]},
                         labels=LABELS)


def routed(store, *, score: float, category: str = "Billing") -> str:
    return routed_ticket(store, "desk", category=category, score=score, body=f"{category} question", now=NOW)


def holders(store, agents) -> dict[str, set[str]]:
    return {a: set(store.r.zrange(agent_key(a, "open"), 0, -1)) for a in agents}


def test_round_robin_hands_tickets_in_turn_to_those_available_within_capacity(store):
    desk = rules("round_robin", [{"name": "ann", "capacity": 2}, "ben", {"name": "cat", "capacity": 1}])
    for agent in ("ann", "ben", "cat"):
        store.assignment.set_presence(agent, "available")
    ids = [routed(store, score=1 - i / 10) for i in range(6)]  # most urgent first

    handed = dispatch(store, desk, now=NOW)

    assert [(h.ticket_id, h.agent) for h in handed] == [
        (ids[0], "ann"), (ids[1], "ben"), (ids[2], "cat"), (ids[3], "ann"), (ids[4], "ben"), (ids[5], "ben")]
    assert store.routes.route_of(ids[2])["assignee"] == "cat"


def test_least_loaded_gives_the_emptiest_member_whose_skills_allow_the_ticket(store):
    desk = rules("least_loaded", [{"name": "ann", "skills": {"categories": ["Billing"]}},
                                  {"name": "ben", "skills": {"categories": ["Billing", "Technical"]}}])
    for agent in ("ann", "ben"):
        store.assignment.set_presence(agent, "available")
    technical = [routed(store, score=0.9, category="Technical") for _ in range(2)]
    billing = [routed(store, score=s) for s in (0.5, 0.4, 0.3)]

    dispatch(store, desk, now=NOW)

    # ben takes both Technical ones (ann may not); then ann is emptiest twice; at 2 each, ben is next in turn
    assert holders(store, ["ann", "ben"]) == {"ann": set(billing[:2]), "ben": {*technical, billing[2]}}


def test_nobody_there_nothing_handed_and_the_first_to_come_back_gets_the_work(store):
    desk = rules("round_robin", [{"name": "ann", "capacity": 1}, "ben"])
    store.assignment.set_presence("ben", "away")
    first, second = routed(store, score=0.9), routed(store, score=0.1)

    assert dispatch(store, desk, now=NOW) == []  # ann never said, follows no calendar: not there

    store.assignment.set_presence("ann", "available")
    assert [(h.ticket_id, h.agent) for h in dispatch(store, desk, now=NOW)] == [(first, "ann")]

    store.routes.close_route(first, "resolve", agent="ann", now=NOW)  # ann frees up
    assert [(h.ticket_id, h.agent) for h in dispatch(store, desk, now=NOW)] == [(second, "ann")]


def test_an_agent_who_goes_away_leaves_unacknowledged_tickets_to_be_handed_out_again(store):
    desk = rules("round_robin", ["ann", "ben"])
    store.assignment.set_presence("ann", "available")
    acked, left = routed(store, score=0.9), routed(store, score=0.5)
    dispatch(store, desk, now=NOW)
    store.routes.close_route(acked, "ack", agent="ann", now=NOW)

    store.assignment.set_presence("ann", "away")
    assert store.assignment.release("ann") == ["desk"]
    store.assignment.set_presence("ben", "available")
    dispatch(store, desk, now=NOW)

    assert holders(store, ["ann", "ben"]) == {"ann": {acked}, "ben": {left}}
    assert store.routes.route_of(left)["assignee"] == "ben"
    trail = [(e["action"], e["detail"]["agent"], e["actor"]) for e in store.audit.trail(left)]
    assert trail == [("assigned", "ann", "assignment"), ("released", "ann", "assignment"),
                     ("assigned", "ben", "assignment")]


def test_a_calendar_follower_is_there_only_while_it_is_open(store):
    desk = rules("round_robin", [{"name": "ann", "calendar": "office"}])
    ticket = routed(store, score=0.5)

    assert dispatch(store, desk, now=NOW, calendar_open=lambda name, now: False) == []
    assert [h.agent for h in dispatch(store, desk, now=NOW, calendar_open=lambda name, now: name == "office")] == [
        "ann"]
    assert store.routes.route_of(ticket)["assignee"] == "ann"


@pytest.mark.parametrize("assignment", ["round_robin", "least_loaded"])
def test_300_tickets_while_agents_come_and_go_each_go_to_one_eligible_agent(store, assignment):
    """Tickets arrive in bursts while agents go available or away and resolve work, with two
    dispatchers running at once after each step: every ticket is held by at most one agent, whose
    skills allow it and who is within capacity, and after every dispatch no ticket waits that an
    agent who is there could take."""
    members = [{"name": "ann", "capacity": 3, "skills": {"categories": ["Billing"]}},
               {"name": "ben", "capacity": 2},
               {"name": "cat", "capacity": 4, "skills": {"categories": ["Technical", "Legal"]}},
               {"name": "dan", "capacity": 1, "skills": {"categories": ["Legal"]}}]
    desk = rules(assignment, members)
    capacity = {m["name"]: m["capacity"] for m in members}
    allowed = {m["name"]: set((m.get("skills") or {}).get("categories") or LABELS) for m in members}
    rng = random.Random(7)
    category: dict[str, str] = {}
    handed: list = []
    for step in range(60):
        for _ in range(5):
            label = rng.choice(LABELS[:3])
            category[routed(store, score=rng.random(), category=label)] = label
        for agent in capacity:
            if rng.random() < 0.3:
                going = rng.choice(["available", "away"])
                store.assignment.set_presence(agent, going)
                if going == "away":
                    store.assignment.release(agent)
        for agent, tickets in holders(store, capacity).items():  # agents acknowledge and resolve work
            for tid in sorted(tickets):
                if rng.random() < 0.5:
                    store.routes.close_route(tid, rng.choice(["ack", "resolve"]), agent=agent, now=NOW)
        both = [threading.Thread(target=lambda: handed.extend(dispatch(store, desk, now=NOW))) for _ in range(2)]
        for t in both:
            t.start()
        for t in both:
            t.join()

        held = holders(store, capacity)
        for agent, tickets in held.items():
            assert len(tickets) <= capacity[agent], (step, agent)
            assert all(category[t] in allowed[agent] for t in tickets), (step, agent)
            assert all(store.routes.route_of(t)["assignee"] == agent for t in tickets)
        every = [t for tickets in held.values() for t in tickets]
        assert len(every) == len(set(every)), f"step {step}: a ticket held twice"
        presence = store.assignment.presence(capacity)
        for waiting in store.assignment.waiting("desk"):
            able = [a for a in capacity if presence[a]["status"] == "available"
                    and presence[a]["open"] < capacity[a] and waiting.category in allowed[a]]
            assert not able, f"step {step}: {waiting.ticket_id} waits while {able} could take it"
    assert len(category) == 300 and len(handed) > 100


PUSHING = """
teams:
  - name: desk
    assignment: round_robin
    members: [{name: ann, capacity: 1}, ben]
rules:
  - name: all
    team: desk
"""


@pytest.fixture
def pushing(api_redis_url, tmp_path):
    yield from app_with_routing(api_redis_url, tmp_path, PUSHING)


def test_over_the_api_an_agent_who_comes_gets_work_and_one_who_leaves_hands_it_on(pushing, operator):
    client, store = pushing.test_client(), pushing.extensions["smartsupport"].store
    ann = {"Authorization": f"Bearer {client.post('/api/agents/ann/keys', headers=operator).get_json()['key']}"}
    first, second = (routed_ticket(store, "desk", score=s) for s in (0.9, 0.5))

    came = client.put("/api/agents/ann/presence", json={"status": "available"}, headers=ann)
    assert came.status_code == 200
    assert {k: came.get_json()[k] for k in ("agent", "status", "there", "open")} == {
        "agent": "ann", "status": "available", "there": True, "open": 1}
    assert client.get(f"/api/tickets/{first}", headers=ann).get_json()["route"]["assignee"] == "ann"

    client.post(f"/api/tickets/{first}/resolve", headers=ann)  # room again: the next is pushed at once
    assert store.routes.route_of(second)["assignee"] == "ann"

    assert client.put("/api/agents/ben/presence", json={"status": "available"}, headers=ann).status_code == 403
    client.put("/api/agents/ann/presence", json={"status": "away"}, headers=ann)
    assert store.routes.route_of(second)["assignee"] is None  # nobody there to take it
    client.put("/api/agents/ben/presence", json={"status": "available"}, headers=operator)

    assert store.routes.route_of(second)["assignee"] == "ben"
    (desk,) = client.get("/api/teams", headers=operator).get_json()["teams"]
    assert desk["assignment"] == "round_robin" and desk["available"] == ["ben"]
    assert [(m["name"], m["status"], m["load"]) for m in desk["members"]] == [
        ("ann", "away", 0), ("ben", "available", 1)]
    trail = client.get(f"/api/tickets/{second}", headers=operator).get_json()["audit"]
    actions = [(e["action"], e["actor"]) for e in trail]
    assert actions == [("assigned", "assignment"), ("released", "assignment"), ("assigned", "assignment")]


def test_a_presence_that_is_not_one_of_the_three_is_refused(pushing, operator):
    response = pushing.test_client().put("/api/agents/ann/presence", json={"status": "busy"}, headers=operator)
    assert response.status_code == 422
