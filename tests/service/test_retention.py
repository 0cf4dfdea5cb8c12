"""Retention on a real Redis: done and failed tickets leave with their logs once their time has passed
(the clock is moved, not waited for), exported first when asked; memory stays flat."""

from __future__ import annotations

import json
import time

import pytest

from deploy import redis_server
from smartsupport.delivery import DeadLetter
from smartsupport.store import FinishPlan, TicketStore
from smartsupport.ticket import Ticket, Urgency, UrgencyLevel
from tests.helpers import OPERATOR_KEY, free_port, settings_for
from workers import tasks

DAY = 86400.0
HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test's own, so that its memory is this test's alone."""
    port = free_port()
    proc = redis_server.start(port=port, data_dir=tmp_path / "redis")
    yield f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait(timeout=10)


def use(monkeypatch, store, cfg):
    monkeypatch.setattr(tasks, "store", lambda: store)
    monkeypatch.setattr(tasks, "settings", lambda: cfg)


def finished_ticket(store, at: float, *, body: str = "The export fails with an error", urgent: bool = False) -> str:
    """A ticket that arrived and was done at ``at``, its webhook dead-lettered when ``urgent``."""
    ticket = Ticket.new(body=body, submitter="fp1", now=at)
    store.create(ticket)
    store.tickets.save_urgencies([(ticket.id, Urgency(score=0.8 if urgent else 0.1, level=UrgencyLevel.LOW))],
                                 started=at)
    store.finish_tickets([FinishPlan(ticket.id, f"evt_{ticket.id}", (HOOK,) if urgent else ())], started=at, now=at)
    if urgent:
        store.deliveries.record_attempt(ticket.id, HOOK, {"at": at, "status_code": 503, "error": "HTTP 503"},
                                        DeadLetter("HTTP 503"))
    return ticket.id


def test_tickets_past_retention_are_exported_then_deleted_with_their_logs(own_redis, tmp_path, monkeypatch):
    cfg = settings_for(own_redis, tmp_path, SMARTSUPPORT_RETENTION_DAYS="30",
                       SMARTSUPPORT_EXPORT_DIR=str(tmp_path / "export"))
    store = TicketStore.from_url(own_redis)
    use(monkeypatch, store, cfg)
    now = time.time()
    old, urgent_old = finished_ticket(store, now - 31 * DAY), finished_ticket(store, now - 40 * DAY, urgent=True)
    young = finished_ticket(store, now - 29 * DAY)
    open_ticket = Ticket.new(body="Still being worked on", now=now - 60 * DAY)
    store.create(open_ticket)

    assert tasks.expire_tickets.apply(kwargs={"now": now}).get() == 2

    # Then the two old ones are gone from everywhere: their hashes, logs, dead letters and lists
    assert not store.tickets.exists(old) and not store.tickets.exists(urgent_old)
    assert store.r.keys(f"ss:ticket:{urgent_old}*") == [] and store.deliveries.dead_letters() == []
    assert {t["id"] for t in store.views.list(sort="created", limit=50)} == {young, open_ticket.id}
    assert {t["id"] for t in store.views.list(status="done", limit=50)} == {young}
    assert {t["id"] for t in store.views.list(submitter="fp1", limit=50)} == {young}
    assert store.r.zscore("ss:webhooks:pending", f"{urgent_old} {HOOK}") is None
    # And each was written, in full, to the day's JSONL file first
    [export] = list((tmp_path / "export").iterdir())
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert {v["id"] for v in lines} == {old, urgent_old}
    assert next(v for v in lines if v["id"] == urgent_old)["webhook"]["log"][0]["status_code"] == 503


def test_a_simulated_week_at_steady_traffic_keeps_memory_flat_once_retention_has_passed(
        own_redis, tmp_path, monkeypatch):
    # Given two days of retention and 400 tickets a day (a tenth urgent, with a dead-lettered webhook)
    cfg = settings_for(own_redis, tmp_path, SMARTSUPPORT_RETENTION_DAYS="2")
    store = TicketStore.from_url(own_redis)
    use(monkeypatch, store, cfg)
    start, per_day, memory, stored = time.time() - 7 * DAY, 400, [], []

    # When a week passes, the retention task running at the end of each day
    for day in range(7):
        for i in range(per_day):
            finished_ticket(store, start + day * DAY + i * (DAY / per_day), urgent=i % 10 == 0)
        tasks.expire_tickets.apply(kwargs={"now": start + (day + 1) * DAY}).get()
        memory.append(store.r.info("memory")["used_memory"])
        stored.append(store.r.zcard("ss:tickets:created"))

    # Then from the third day on the store holds two days of tickets, and its memory stops growing
    print(f"\nused_memory by day (KB): {[m // 1024 for m in memory]}, tickets stored: {stored}, "
          f"≈ {(memory[2] - memory[0]) / (stored[2] - stored[0]):.0f} bytes per ticket")
    # (a ticket exactly two days old at the run is due: "more than" is to the second)
    assert all(2 * per_day - 1 <= n <= 2 * per_day for n in stored[2:]), stored
    assert max(memory[3:]) <= 1.1 * memory[2]


def test_a_store_written_with_the_older_indexes_is_indexed_again_once(own_redis):
    # Given a done ticket as the previous version stored it: status sets, no submitter or finished index
    store = TicketStore.from_url(own_redis)
    ticket = Ticket.new(body="Refund please", submitter="fp9", now=1000.0)
    store.r.hset(f"ss:ticket:{ticket.id}", mapping={
        "ticket": json.dumps(ticket.to_dict()), "status": "done", "t:done": "1010.0",
        "urgency": json.dumps({"score": 0.42, "level": "medium", "signals": [], "sentiment": 0.0})})
    store.r.zadd("ss:tickets:created", {ticket.id: 1000.0})
    store.r.zadd("ss:tickets:urgency", {ticket.id: 0.42})
    store.r.sadd("ss:tickets:status:done", ticket.id)

    # When the API starts (it migrates), then every list finds it, and a second start does nothing
    assert store.ops.migrate_indexes() == 1
    for query in ({"status": "done"}, {"submitter": "fp9"}, {"status": "done", "sort": "created"}, {}):
        assert [t["id"] for t in store.views.list(**query)] == [ticket.id], query
    assert store.r.zscore("ss:tickets:finished", ticket.id) == 1010.0
    assert store.r.zscore("ss:tickets:status:done:urgency", ticket.id) == 0.42
    assert store.ops.migrate_indexes() == 0


def test_when_redis_refuses_writes_past_maxmemory_a_post_is_a_clear_503_and_stores_nothing(own_redis, tmp_path):
    # Given a Redis at its memory limit (noeviction: it refuses writes rather than dropping keys)
    from web import create_app

    client = create_app(settings_for(own_redis, tmp_path)).test_client()
    store = client.application.extensions["smartsupport"].store
    store.r.config_set("maxmemory-policy", "noeviction")
    store.r.config_set("maxmemory", store.r.info("memory")["used_memory"] + 64 * 1024)
    auth = {"Authorization": f"Bearer {OPERATOR_KEY}"}

    # When tickets keep arriving, then at the limit the API answers 503 store_full, saying why
    statuses = [client.post("/api/tickets", json={"body": "x" * 19_000}, headers=auth) for _ in range(40)]
    refused = [r for r in statuses if r.status_code != 202]
    assert refused and {r.status_code for r in refused} == {503}
    assert refused[0].get_json()["error"]["code"] == "store_full" and refused[0].headers["Retry-After"]
    # and nothing half-written: every ticket in the index exists, and every existing one is indexed
    store.r.config_set("maxmemory", 0)
    created = set(store.r.zrange("ss:tickets:created", 0, -1))
    assert created == {k.split(":")[2] for k in store.r.keys("ss:ticket:*")}
    assert len(created) == len(statuses) - len(refused)
