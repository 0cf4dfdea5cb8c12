"""Redis Sentinel: a primary, a replica and three sentinels (the same Debian redis-server binary),
the store, the broker and the rate limiter on `REDIS_URL=sentinel://...`; the primary is killed
three times under load and no ticket that got a 202 is lost (real Redis, real worker)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from deploy.sentinel_group import RedisGroup
from tests.helpers import AUTH, answering_worker, settings_for, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    group = RedisGroup(tmp_path_factory.mktemp("sentinel")).start()
    yield group
    group.stop()


class Load:
    """Clients posting tickets until stopped; each retries with its Idempotency-Key until a 202, as
    a client should while the API answers 503 (a failover takes seconds)."""

    def __init__(self, app, clients: int = 2) -> None:
        self.app, self.accepted, self.refused = app, [], 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._post, args=(i,), daemon=True) for i in range(clients)]

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _post(self, n: int) -> None:
        client = self.app.test_client()
        i = 0
        while not self.stopping.is_set():
            key, body = uuid.uuid4().hex, f"Client {n} ticket {i}: the export fails with an error since this morning"
            while not self.stopping.is_set():
                answer = client.post("/api/tickets", json={"body": body}, headers={**AUTH, "Idempotency-Key": key})
                if answer.status_code == 202:
                    self.accepted.append(answer.get_json()["id"])
                    break
                self.refused += 1
                time.sleep(0.2)
            i += 1
            time.sleep(0.05)


def test_a_ticket_no_replica_confirms_gets_a_503_and_is_taken_back(group, tmp_path):
    from web import create_app

    # Given the API on the group, and its only replica frozen
    app = create_app(settings_for(group.url, tmp_path, SMARTSUPPORT_REPLICA_WAIT_MS="300"))
    client = app.test_client()
    replica = group.replica()
    group.pause(replica)
    try:
        # When a ticket arrives
        answer = client.post("/api/tickets", json={"body": "Our invoices page is blank"}, headers=AUTH)
    finally:
        group.resume(replica)

    # Then the API does not answer 202 for a ticket only the primary holds: it takes it back
    assert answer.status_code == 503 and "replicas" in answer.get_json()["error"]["message"]
    assert answer.headers["Retry-After"]
    assert client.get("/api/tickets", headers=AUTH).get_json()["tickets"] == []
    # and once the replica is back, the same request is accepted (retried as its Retry-After says while
    # the replica catches up: on a busy host a WAIT may still time out just after it is in sync)
    wait_for(lambda: group.replicas_in_sync() >= 1, timeout_s=30, what="the replica in sync again")
    wait_for(lambda: client.post("/api/tickets", json={"body": "Our invoices page is blank"},
                                 headers=AUTH).status_code == 202, timeout_s=30, interval_s=1,
             what="the request accepted once the replica is back")
    assert len(client.get("/api/tickets", headers=AUTH).get_json()["tickets"]) == 1  # the refused ones taken back


def test_three_failovers_under_load_lose_no_accepted_ticket(group, worker_env, tmp_path_factory, tmp_path):
    from web import create_app

    # Given the API and a worker on the Sentinel group, the worker's sweeper re-queueing a stage
    # whose message a failover lost (async replication) after 30 s
    env = {**worker_env, "REDIS_URL": group.url, "SMARTSUPPORT_VISIBILITY_TIMEOUT_S": "15",
           "SMARTSUPPORT_STUCK_AFTER_S": "30", "SMARTSUPPORT_DATA_DIR": str(tmp_path_factory.mktemp("sentinel-w"))}
    with answering_worker(env, tmp_path_factory, "sentinel worker"):
        app = create_app(settings_for(group.url, tmp_path, SMARTSUPPORT_RATE_LIMIT="10000/second"))
        client = app.test_client()

        # When the primary is killed three times while clients keep posting
        failovers = []
        with Load(app) as load:
            for _ in range(3):
                wait_for(lambda: len(load.accepted) >= 20 * (len(failovers) + 1), timeout_s=120, what="tickets")
                failovers.append(group.fail_over())
            wait_for(lambda: len(load.accepted) >= 20 * (len(failovers) + 1), timeout_s=120, what="tickets after")

        # Then every ticket that got a 202 is done: none lost, the pipeline resumed by itself
        accepted = list(load.accepted)

        states: dict[str, int] = {}

        def all_done():
            views = [client.get(f"/api/tickets/{tid}", headers=AUTH) for tid in accepted]
            states.clear()
            for v in views:
                state = v.get_json()["status"] if v.status_code == 200 else f"HTTP {v.status_code}"
                states[state] = states.get(state, 0) + 1
            return set(states) == {"done"}
        try:
            wait_for(all_done, timeout_s=180, what="every accepted ticket done")
        except pytest.fail.Exception:
            raise AssertionError(f"{len(accepted)} accepted tickets, now {states}") from None
    print(f"\n{len(accepted)} tickets accepted, 0 lost, {load.refused} answers 503 during "
          f"{len(failovers)} failovers of {', '.join(f'{s:.1f} s' for _, s in failovers)}")
    assert len(failovers) == 3 and len({port for port, _ in failovers}) == 2
