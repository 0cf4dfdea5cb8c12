"""The sweeper task itself, run in this process against a real Redis (no worker consumes what it queues):
tickets whose message was lost are queued again, three times at most, one sweeper at a time, and an
overdue webhook delivery is sent again."""

from __future__ import annotations

import time

import pytest

from smartsupport.store import FinishPlan, keys
from smartsupport.ticket import Ticket
from tests.helpers import queued_messages, settings_for
from workers import tasks


@pytest.fixture
def sweep(app, store, tmp_path, monkeypatch, api_redis_url):
    """``sweep()`` runs workers.tasks.sweep_stuck_tickets with this test's store and settings."""
    cfg = settings_for(api_redis_url, tmp_path, SMARTSUPPORT_STUCK_AFTER_S="60",
                       SMARTSUPPORT_VISIBILITY_TIMEOUT_S="30", SMARTSUPPORT_WEBHOOK_TIMEOUT_S="1")
    monkeypatch.setattr(tasks, "store", lambda: store)
    monkeypatch.setattr(tasks, "settings", lambda: cfg)

    def run() -> int:
        store.r.delete(keys.SWEEP_LOCK)  # as if the lock's time had run out since the last sweep
        return tasks.sweep_stuck_tickets.apply().get()
    return run


def stored_long_ago(store, seconds: float) -> Ticket:
    ticket = Ticket.new(body="A ticket whose message was lost", now=time.time() - seconds)
    store.create(ticket)  # stored, but no message queued: as if the broker had lost it
    return ticket


def test_a_ticket_unfinished_past_stuck_after_is_queued_again_and_a_fresh_one_is_not(sweep, store):
    stuck, fresh = stored_long_ago(store, 120), stored_long_ago(store, 10)

    assert sweep() == 1

    assert queued_messages(store.r, "model") == [[stuck.id]]
    assert store.views.get(fresh.id)["status"] == "queued"
    # Re-queued just now, it gets another stuck_after_s before the next re-queue
    assert sweep() == 0 and queued_messages(store.r, "model") == [[stuck.id]]


def test_after_three_re_queues_a_stuck_ticket_is_failed_with_the_reason(sweep, store):
    ticket = stored_long_ago(store, 120)
    for _ in range(3):
        store.r.hset(keys.ticket(ticket.id), "swept_at", repr(time.time() - 120))  # each re-queue went stale
        assert sweep() == 1

    store.r.hset(keys.ticket(ticket.id), "swept_at", repr(time.time() - 120))
    assert sweep() == 0

    view = store.views.get(ticket.id)
    assert view["status"] == "failed" and view["error"] == "stuck: still unfinished after 3 re-queues"
    assert len(queued_messages(store.r, "model")) == 3


def test_only_one_sweeper_runs_at_a_time(sweep, store):
    stored_long_ago(store, 120)
    store.r.set(keys.SWEEP_LOCK, "1", ex=60)  # another worker is sweeping

    assert tasks.sweep_stuck_tickets.apply().get() == 0
    assert queued_messages(store.r, "model") == []


def test_an_overdue_delivery_is_sent_again_and_is_due_now(sweep, store):
    # Given a pending delivery that should have made progress two minutes ago (its message was lost)
    ticket = stored_long_ago(store, 10)
    url = "http://127.0.0.1:9/hook"
    store.finish_tickets([FinishPlan(ticket.id, f"evt_{ticket.id}", (url,))], started=time.time())
    store.deliveries.expect(ticket.id, url, at=time.time() - 120)

    assert sweep() == 1

    assert queued_messages(store.r, "webhooks") == [[ticket.id, url]]
    due = store.r.zscore(keys.PENDING_DELIVERIES, keys.pending(ticket.id, url))
    assert abs(due - time.time()) < 5
