"""Kill real processes mid-load: no accepted ticket is lost or processed into two outcomes.

Each test has its own Redis (append-only file on) and its own worker, with a short visibility
timeout (10 s), but the one that shows the worker leases (workers/leases.py) giving a dead worker's
messages back long before the default's 300 s.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from standardwebhooks.webhooks import Webhook

from deploy import redis_server
from tests.helpers import OPERATOR_KEY, WEBHOOK_SECRET, all_done, free_port, settings_for, start_worker, wait_for
from web import create_app

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}
TEXTS = ["Our API is down for all users, fix ASAP", "Please send the March invoice with our VAT number",
         "I want my personal data deleted under GDPR", "The export fails with an error"]


@pytest.fixture
def system(request, tmp_path, worker_env, receiver):
    """An own Redis, an own worker (restartable) and an API client against them; the visibility
    timeout is 10 s unless the test says otherwise (``indirect`` parametrisation)."""
    port, data = free_port(), tmp_path / "redis"
    redis_proc = redis_server.start(port=port, data_dir=data)
    url = f"redis://127.0.0.1:{port}/0"
    visibility_s = getattr(request, "param", 10)
    env = {**worker_env, "REDIS_URL": url, "SMARTSUPPORT_VISIBILITY_TIMEOUT_S": str(visibility_s),
           "SMARTSUPPORT_STUCK_AFTER_S": str(max(30, visibility_s + 1))}
    state = {"redis": redis_proc, "workers": []}

    def new_worker():
        proc = start_worker(env, tmp_path / "worker.log", name=f"crash{len(state['workers'])}", beat=True)
        state["workers"].append(proc)
        return proc

    def restart_redis():
        state["redis"] = redis_server.start(port=port, data_dir=data)

    client = create_app(settings_for(url, tmp_path / "api", SMARTSUPPORT_WEBHOOK_URLS=receiver.url,
                                     SMARTSUPPORT_RATE_LIMIT="10000/second")).test_client()
    yield client, new_worker, state, restart_redis, tmp_path
    for proc in state["workers"]:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    state["redis"].kill()
    state["redis"].wait(timeout=10)


def assert_one_outcome_each(views, receiver):
    """One category and one urgency each; each urgent ticket's event arrived under one event id, with
    a valid signature (maybe more than once: a redelivered message may send it again), and no other
    ticket's did. The urgent quarter of the load (TEXTS[0]) makes sure there were events to check."""
    delivered = 0
    for view in views:
        assert view["category"]["label"] and view["urgency"]["level"], view["id"]
        ids = verified_event_ids(receiver.calls[view["id"]])
        if view["webhook"]["status"] == "delivered":
            assert ids == {f"evt_{view['id']}"}, (view["id"], ids)
            delivered += 1
        else:
            assert ids == set(), (view["id"], ids)
    assert delivered >= len(views) // 8, f"only {delivered} of {len(views)} tickets had a webhook"


def verified_event_ids(calls):
    """The event ids of the calls, each checked against its Standard Webhooks signature."""
    return {Webhook(WEBHOOK_SECRET).verify(c.get_data(as_text=True), dict(c.headers))["id"] for c in calls}


def unfinished(client, ids) -> int:
    return sum(client.get(f"/api/tickets/{i}", headers=AUTH).get_json()["status"] != "done" for i in ids)


def kill_mid_load(client, new_worker, tickets: int) -> tuple[list[str], int, float]:
    """Post ``tickets``; once some are done and most are still in flight, SIGKILL the worker's main
    process and its children (as the OOM killer would) and start a new one. The ids, how many were
    unfinished at the kill, and when it was (time.monotonic)."""
    worker = new_worker()
    ids = [client.post("/api/tickets", json={"body": f"{TEXTS[i % 4]} (#{i})"}, headers=AUTH).get_json()["id"]
           for i in range(tickets)]
    wait_for(lambda: client.get("/api/tickets?status=done&limit=500", headers=AUTH).get_json()["tickets"],
             timeout_s=120, interval_s=0.05, what="the first tickets to be done")
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    killed_at = time.monotonic()
    in_flight = unfinished(client, ids)
    assert in_flight >= 20, f"only {in_flight} tickets were unfinished at the kill: nothing proves work was lost"
    new_worker()
    return ids, in_flight, killed_at


def test_killing_every_worker_process_mid_load_loses_no_ticket(system, receiver):
    client, new_worker, state, _, tmp_path = system
    # When the worker's main process and its children are SIGKILLed mid-load
    ids, in_flight, killed_at = kill_mid_load(client, new_worker, 200)

    # Then every accepted ticket reaches done, with one category, one urgency and one event id
    views = all_done(client, ids, timeout_s=180)
    assert_one_outcome_each(views, receiver)
    print(f"\n{len(ids)} tickets, worker killed (main + children) with {in_flight} unfinished, 0 lost, "
          f"recovered {time.monotonic() - killed_at:.1f} s after the kill")


@pytest.mark.parametrize("system", [300], indirect=True)  # the default: what the leases spare a ticket
def test_a_killed_worker_s_messages_are_taken_again_within_seconds_not_the_visibility_timeout(system, receiver):
    client, new_worker, state, _, tmp_path = system
    # When the worker is SIGKILLed while it holds messages it took, and is started again
    ids, in_flight, _ = kill_mid_load(client, new_worker, 120)
    restarted_at = time.monotonic()

    # Then every ticket is done well within the 300 s visibility timeout: the dead worker's lease
    # expired (15 s) and its messages went back on their queues
    views = all_done(client, ids, timeout_s=90)
    assert_one_outcome_each(views, receiver)
    print(f"\n{len(ids)} tickets, worker killed with {in_flight} unfinished, all done "
          f"{time.monotonic() - restarted_at:.1f} s after the restart (visibility timeout 300 s)")


def test_killing_redis_mid_load_loses_no_accepted_ticket_and_the_api_says_503(system, receiver):
    client, new_worker, state, restart_redis, _ = system
    new_worker()
    accepted, statuses, slowest = [], [], [0.0]
    stop = threading.Event()

    def submit_continuously():
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            response = client.post("/api/tickets", json={"body": f"{TEXTS[i % 4]} [{i}]"}, headers=AUTH)
            slowest[0] = max(slowest[0], time.monotonic() - started)
            statuses.append(response.status_code)
            if response.status_code == 202:
                accepted.append(response.get_json()["id"])
            i += 1
            time.sleep(0.02)

    thread = threading.Thread(target=submit_continuously)
    thread.start()
    try:
        wait_for(lambda: len(accepted) >= 30, timeout_s=60, what="load before the crash")
        state["redis"].send_signal(signal.SIGKILL)  # kill -9: no shutdown save
        state["redis"].wait(timeout=10)
        wait_for(lambda: statuses.count(503) >= 5, timeout_s=30, what="503s while Redis is away")
        restart_redis()  # from its append-only file
        count = len(accepted)
        wait_for(lambda: len(accepted) >= count + 30, timeout_s=60, what="load after the restart")
    finally:
        stop.set()
        thread.join(timeout=30)

    # Then the API said 503 (never 500, never hung) while Redis was away, and every 202 finishes
    assert set(statuses) <= {202, 503} and slowest[0] < 10, (sorted(set(statuses)), slowest)
    views = all_done(client, accepted, timeout_s=240)
    assert_one_outcome_each(views, receiver)
    print(f"\n{len(accepted)} tickets accepted around a Redis kill -9, {statuses.count(503)} answered 503, 0 lost")
