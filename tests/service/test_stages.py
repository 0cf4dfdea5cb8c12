"""The batched stages' reads and writes on a real Redis: each batch is safe to run twice, as a
message redelivered after a crash runs it again."""

from __future__ import annotations

import time

from smartsupport.delivery import Delivered
from smartsupport.store import FinishPlan
from smartsupport.ticket import Urgency, UrgencyLevel

HOOK = "http://127.0.0.1:9/hook"


def submit(client, operator, body: str) -> str:
    response = client.post("/api/tickets", json={"body": body}, headers=operator)
    assert response.status_code == 202
    return response.get_json()["id"]


def total_count(store) -> int:
    return int(store.metrics.snapshot([])["stages"]["total"].get("count", 0))


def test_scoring_skips_tickets_already_scored_and_tickets_deleted_meanwhile(client, operator, store):
    scored, fresh, deleted = (submit(client, operator, f"ticket {i}") for i in range(3))
    store.tickets.save_urgencies([(scored, Urgency(score=0.9, level=UrgencyLevel.CRITICAL, signals=()))],
                                 started=time.time())
    store.delete_tickets([deleted])

    ids, todo = store.tickets.to_score([scored, fresh, deleted])

    assert ids == [scored, fresh]
    assert [ticket.id for ticket, _ in todo] == [fresh]
    view = store.views.get(scored)
    assert view["urgency"]["score"] == 0.9 and "score_finished" in view["timestamps"]


def test_finishing_a_batch_twice_opens_each_delivery_once_and_counts_each_ticket_once(client, operator, store):
    urgent, calm, member = (submit(client, operator, f"ticket {i}") for i in range(3))
    plans = [FinishPlan(urgent, "evt_urgent", (HOOK,)), FinishPlan(calm, "evt_calm"),
             FinishPlan(member, "evt_member", covering_incident="inc_1")]
    before = total_count(store)

    started = time.time()
    first = store.finish_tickets(plans, started=started, worker="w1", now=started + 0.25)
    # A redelivered batch before the delivery was attempted: it is still to be sent, once more.
    second = store.finish_tickets(plans, started=started + 1, worker="w2", now=started + 3)
    store.deliveries.record_attempt(urgent, HOOK, {"at": started + 4, "status_code": 200}, Delivered())
    # After the attempt: nothing more to send.
    third = store.finish_tickets(plans, started=started + 5, worker="w3", now=started + 8)

    assert first == second == [(urgent, HOOK)] and third == []
    assert total_count(store) == before + 3  # each ticket's timings counted once
    views = {tid: store.views.get(tid) for tid in (urgent, calm, member)}
    # the first run's 250 ms: a run again keeps the stamps it found
    assert all(v["status"] == "done" and v["timings_ms"]["notify"] == 250.0 for v in views.values())
    assert views[urgent]["webhook"]["status"] == "delivered" and views[urgent]["webhook"]["event_id"] == "evt_urgent"
    assert views[calm]["webhook"]["status"] == "not_needed"
    assert views[member]["webhook"]["covered_by_incident"] == "inc_1"
    assert views[urgent]["workers"]["notify"] == "w3"  # the last run names itself; the first stamps stay
    assert store.finish_tickets([], started=time.time()) == []
    # A later error in a redelivered batch leaves a finished ticket finished
    store.tickets.fail(calm, "notify: KeyError")
    assert store.views.get(calm)["status"] == "done" and store.views.get(calm)["error"] is None
