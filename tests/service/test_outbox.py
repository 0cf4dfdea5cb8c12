"""The outbox, against a real Redis and no worker: with a broker other than the store's Redis that is
away, a posted ticket is accepted at once, stored with its outbox entry, and health says so; the
drain queues it once a broker answers. The end-to-end run on a real RabbitMQ, restarted, is
tests/integration/test_rabbitmq.py."""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from smartsupport.store import keys
from smartsupport.ticket import Ticket
from tests.helpers import clear_tickets, free_port, settings_for
from web import create_app
from workers import tasks
from workers.celery import app as celery_app, use_broker


@pytest.fixture
def away(api_redis_url, tmp_path, monkeypatch):
    """An API whose broker is a RabbitMQ URL nothing listens on; the drain runs here with its store."""
    clear_tickets(api_redis_url)
    app = create_app(settings_for(api_redis_url, tmp_path,
                                  SMARTSUPPORT_BROKER_URL=f"amqp://guest:guest@127.0.0.1:{free_port()}//"))
    store = app.extensions["smartsupport"].store
    monkeypatch.setattr(tasks, "store", lambda: store)
    yield app, store
    use_broker(settings_for(api_redis_url, tmp_path))
    clear_tickets(api_redis_url)


def drain() -> int:
    return tasks.drain_outbox.apply().get()


def test_with_the_broker_away_a_ticket_is_accepted_at_once_and_waits_in_the_outbox(away, operator):
    app, store = away
    client = app.test_client()

    # When a ticket is posted while nothing answers on the broker's port
    started = time.monotonic()
    response = client.post("/api/tickets", json={"body": "Our API is down"}, headers=operator)
    took_s = time.monotonic() - started

    # Then it is accepted, stored and in the outbox, without waiting on the broker
    assert response.status_code == 202 and took_s < 1.0, (response.status_code, took_s)
    ticket_id = response.get_json()["id"]
    assert store.tickets.load(ticket_id).text == "Our API is down" and store.outbox.waiting() == [ticket_id]
    # and health names the broker, and the outbox's backlog: how long its oldest ticket has waited
    set_at = time.time()
    store.r.zadd(keys.OUTBOX, {ticket_id: set_at - 42.0})  # as if posted 42 s ago
    health = client.get("/api/health", headers=operator)
    took_s = time.time() - set_at
    report = health.get_json()
    assert health.status_code == 503 and report["broker"] == "down" and "the broker" in report["missing"]
    assert report["outbox"]["waiting"] == 1 and 41.95 <= report["outbox"]["oldest_s_ago"] <= 42.05 + took_s


def test_a_broker_that_never_answers_holds_a_post_about_the_broker_timeout(api_redis_url, tmp_path, operator):
    # Given a "broker" that accepts connections and never says a word (an AMQP handshake that hangs)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"amqp://guest:guest@127.0.0.1:{silent.getsockname()[1]}//"
        app = create_app(settings_for(api_redis_url, tmp_path, SMARTSUPPORT_BROKER_TIMEOUT_S="0.2",
                                      SMARTSUPPORT_BROKER_URL=url))
        try:
            # When a ticket is posted
            started = time.monotonic()
            response = app.test_client().post("/api/tickets", json={"body": "Our API is down"}, headers=operator)
            took_s = time.monotonic() - started

            # Then it is accepted into the outbox after about the timeout, not kombu's retries
            assert response.status_code == 202 and took_s < 1.0, (response.status_code, took_s)
            assert app.extensions["smartsupport"].store.outbox.waiting() == [response.get_json()["id"]]
        finally:
            use_broker(settings_for(api_redis_url, tmp_path))
            clear_tickets(api_redis_url)


def test_the_drain_queues_what_waited_in_the_outbox_once_a_broker_answers(away, operator, monkeypatch):
    app, store = away
    ticket_id = app.test_client().post("/api/tickets", json={"body": "Our API is down"},
                                       headers=operator).get_json()["id"]
    # A drain while the broker is still away sends nothing and keeps the entry
    monkeypatch.setattr(tasks, "OUTBOX_GRACE_S", 0.0)
    assert drain() == 0 and store.outbox.waiting() == [ticket_id]

    # When a broker answers (kombu's in-process transport stands for RabbitMQ back)
    use_broker(dataclasses.replace(app.extensions["smartsupport"].settings, broker="memory://"))

    # Then the drain queues the ticket's first task and empties the outbox
    assert drain() == 1 and store.outbox.waiting() == []
    with celery_app.connection_for_write() as connection:
        message = connection.default_channel.basic_get("model")
    assert message is not None and message.payload[0] == [ticket_id]


def test_the_drain_leaves_young_entries_to_the_api_and_drops_deleted_tickets(away):
    app, store = away
    young, gone, deleted = (Ticket.new(body=f"ticket {i}") for i in range(3))
    for ticket in (young, gone, deleted):
        store.create(ticket, outbox=True)
    store.r.zadd("ss:outbox", {gone.id: time.time() - 60, deleted.id: time.time() - 60})
    store.r.delete(f"ss:ticket:{gone.id}")  # as if retention had deleted it behind the outbox's back
    store.delete_tickets([deleted.id])  # a deletion takes the ticket out of the outbox itself

    assert store.outbox.waiting(older_than_s=tasks.OUTBOX_GRACE_S) == [gone.id]
    use_broker(dataclasses.replace(app.extensions["smartsupport"].settings, broker="memory://"))
    assert drain() == 0 and store.outbox.waiting() == [young.id]


def test_countdowns_are_whole_seconds_on_rabbitmq_only(away, api_redis_url, tmp_path):
    from workers.publishing import countdown_s

    # Celery's native delayed delivery (quorum queues) refuses a countdown under one second
    assert (countdown_s(0.2), countdown_s(0.0), countdown_s(2.5)) == (1.0, 0.0, 3.0)
    use_broker(settings_for(api_redis_url, tmp_path))
    assert countdown_s(0.2) == 0.2


def test_an_operators_retry_while_the_broker_is_away_answers_503_and_the_sweeper_keeps_the_ticket(away, operator):
    app, store = away
    client = app.test_client()
    ticket_id = client.post("/api/tickets", json={"body": "The export fails"}, headers=operator).get_json()["id"]
    store.tickets.fail(ticket_id, "score: a test's failure")

    # When an operator retries the failed ticket while nothing answers on the broker's port
    response = client.post(f"/api/tickets/{ticket_id}/retry", headers=operator)

    # Then the answer says the broker is away (not a 500), and the ticket waits, queued, for the sweeper
    assert response.status_code == 503 and response.get_json()["error"]["code"] == "broker_unavailable"
    assert response.headers["Retry-After"] == "5"
    assert client.get(f"/api/tickets/{ticket_id}", headers=operator).get_json()["status"] == "queued"
