"""RabbitMQ as Celery's broker, the store on Redis: a real RabbitMQ node (Debian's rabbitmq-server,
started here as a node of its own), a real Redis database (7) and a real worker (every queue, with
the scheduler), the API in this process. Tickets go through the whole pipeline over quorum queues;
the broker is stopped and started again while tickets are in flight and more are posted: every 202
ends done, and the outbox they waited in drains."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import redis
from kombu import Queue

from tests.helpers import (AUTH, all_done, answering_worker, clear_queues, clear_tickets, free_port, missing,
                           settings_for, start_stack, submit, wait_for)
from web import create_app

pytestmark = pytest.mark.integration
#: Debian's scripts themselves: /usr/sbin/rabbitmq-server is a wrapper that runs them as the rabbitmq user.
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
TEXTS = ["Our API is down for all users, fix ASAP", "Please send the March invoice with our VAT number",
         "I want my personal data deleted under GDPR", "The export fails with an error"]


class RabbitMQ:
    """A private RabbitMQ node: its own node name, AMQP, distribution and epmd ports, data and log
    dirs, configuration and Erlang cookie (in its HOME), all under one temporary dir; stop() and
    start() keep its data (the quorum queues' logs), as a restart of the broker would."""

    def __init__(self) -> None:
        if not (RABBITMQ_BIN / "rabbitmq-server").is_file():
            missing("rabbitmq-server is not installed: `make test` installs it (scripts/install-rabbitmq.sh)")
        self.dir = Path(tempfile.mkdtemp(prefix="smartsupport-rabbitmq-"))
        self.port, dist_port, epmd_port = free_port(), free_port(), free_port()
        self.node = f"smartsupport-test-{self.port}@localhost"
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (self.dir / "enabled_plugins").write_text("[].\n")
        self.env = {
            **os.environ, "HOME": str(self.dir), "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port), "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"), "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            # An epmd of its own, on loopback, and the distribution port on loopback too.
            "ERL_EPMD_PORT": str(epmd_port), "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        }
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.dir / "server.out", "ab")
        self.proc = subprocess.Popen([str(RABBITMQ_BIN / "rabbitmq-server")], env=self.env, cwd=self.dir,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_for(self._answers, timeout_s=60, interval_s=0.2, what="RabbitMQ to accept AMQP connections")

    def _answers(self) -> bool:
        from kombu import Connection

        assert self.proc.poll() is None, (self.dir / "server.out").read_text()[-3000:]
        try:
            with Connection(self.url, connect_timeout=1) as conn:
                conn.ensure_connection(max_retries=1)
                return True
        except Exception:  # not listening yet, or still booting
            return False

    def stop(self) -> None:
        """A clean shutdown: the script's SIGTERM handler stops the node."""
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)

    def kill(self) -> None:
        """kill -9 of the node (and its script): no shutdown, what it confirmed must be on disk."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def _epmd_killed(self) -> bool:
        done = subprocess.run(["epmd", "-kill"], env=self.env, capture_output=True, text=True, timeout=30)
        return done.stdout.startswith("Killed") or "Cannot connect" in done.stderr

    def ctl(self, *args: str) -> str:
        return subprocess.run([str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.node, "--quiet", *args], env=self.env,
                              capture_output=True, text=True, timeout=60, check=True).stdout

    def close(self) -> None:
        """Stop the node, then its epmd (which refuses while the node is still registered)."""
        if self.proc and self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.kill()
        wait_for(self._epmd_killed, timeout_s=10, interval_s=0.2, what="the node's epmd to stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def rabbitmq():
    server = RabbitMQ()
    yield server
    server.close()


@pytest.fixture(scope="module")
def rabbit_env(worker_env, redis_server, rabbitmq):
    return {**worker_env, "REDIS_URL": redis_server + "/7", "SMARTSUPPORT_BROKER_URL": rabbitmq.url}


@pytest.fixture(scope="module")
def rabbit_worker(rabbit_env, tmp_path_factory):
    clear_queues(rabbit_env["REDIS_URL"])  # the Redis lists checked empty below start empty
    with answering_worker(rabbit_env, tmp_path_factory, "rabbitmq-worker") as proc:
        yield proc


@pytest.fixture
def client(rabbit_worker, rabbit_env, tmp_path):
    clear_tickets(rabbit_env["REDIS_URL"])
    app = create_app(settings_for(rabbit_env["REDIS_URL"], tmp_path, SMARTSUPPORT_BROKER_URL=rabbit_env[
        "SMARTSUPPORT_BROKER_URL"], SMARTSUPPORT_WEBHOOK_URLS=rabbit_env["SMARTSUPPORT_WEBHOOK_URLS"],
        SMARTSUPPORT_RATE_LIMIT="10000/second"))
    assert app.extensions["smartsupport"].celery.conf.broker_url == rabbit_env["SMARTSUPPORT_BROKER_URL"]
    yield app.test_client()
    clear_tickets(rabbit_env["REDIS_URL"])


def outbox(rabbit_env) -> int:
    return redis.Redis.from_url(rabbit_env["REDIS_URL"]).zcard("ss:outbox")


def health(client) -> tuple[int, dict]:
    response = client.get("/api/health", headers=AUTH)
    return response.status_code, response.get_json()


def test_tickets_posted_to_the_api_go_through_the_whole_pipeline_over_rabbitmq_quorum_queues(client, rabbitmq,
                                                                                             rabbit_env, receiver):
    # When tickets are posted, one of them urgent with an endpoint that fails once (its retry waits
    # in RabbitMQ's delayed-delivery queues: a quorum queue holds no per-message delay)
    ids = [submit(client, f"{TEXTS[i % 4]} (#{i})") for i in range(12)]
    retried = submit(client, "Production is down for every customer, fix ASAP [respond 503 200]")

    # Then each is done, with its webhook delivered or not needed; none waited in the outbox
    views = all_done(client, [*ids, retried], timeout_s=120)
    assert all(v["category"]["label"] and v["urgency"]["level"] for v in views)
    assert views[-1]["webhook"]["status"] == "delivered" and len(receiver.calls[retried]) == 2
    assert outbox(rabbit_env) == 0
    # over RabbitMQ's quorum queues, nothing on the Redis lists kombu's Redis transport would use
    queues = dict(line.split("\t") for line in rabbitmq.ctl("list_queues", "name", "type").split("\n")[1:] if line)
    assert {queues[q] for q in ("model", "tickets", "webhooks")} == {"quorum"}, queues
    assert redis.Redis.from_url(rabbit_env["REDIS_URL"]).exists("model", "tickets", "webhooks") == 0
    # (health pings the workers: under a loaded machine one ping may come late, so it may take a second look)
    status, report = wait_for(lambda: (h := health(client))[0] == 200 and h, timeout_s=30, what="health 200")
    assert report["broker"] == "ok" and report["outbox"]["waiting"] == 0, report


@pytest.mark.parametrize("queues, first", [("priority", "urgent"), ("quorum", "calm")])
def test_priority_queues_hand_out_urgent_looking_tickets_first_and_quorum_queues_in_arrival_order(
        queues, first, rabbitmq, rabbit_env, tmp_path):
    # Given a virtual host of its own, with that kind of queues, where no worker takes messages
    vhost = f"idle-{queues}"
    rabbitmq.ctl("add_vhost", vhost)
    rabbitmq.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    app = create_app(settings_for(rabbit_env["REDIS_URL"], tmp_path, SMARTSUPPORT_BROKER_QUEUES=queues,
                                  SMARTSUPPORT_BROKER_URL=rabbitmq.url.removesuffix("/") + vhost))
    client = app.test_client()

    # When a calm ticket is posted, then an urgent-looking one
    calm = submit(client, "How do I change my avatar?")
    urgent = submit(client, "Our API is down for all users, fix ASAP")

    # Then the model queue hands out the urgent one first on classic priority queues; a quorum
    # queue on RabbitMQ 3.10 ignores message priorities and hands them out as they came
    with app.extensions["smartsupport"].celery.connection_for_read() as connection:
        model = Queue("model").bind(connection.default_channel)
        order = [model.get(no_ack=True).payload[0][0] for _ in range(2)]
    assert order == ([urgent, calm] if first == "urgent" else [calm, urgent])
    clear_tickets(rabbit_env["REDIS_URL"])


@pytest.mark.parametrize("stop_broker", ["stop", "kill"])
def test_a_broker_restart_with_tickets_in_flight_loses_none_and_the_outbox_drains(stop_broker, client, rabbitmq,
                                                                                  rabbit_env):
    accepted, statuses, slowest, during = [], [], [0.0], []
    stop, broker_down = threading.Event(), threading.Event()

    def submit_continuously():
        i = 0
        while not stop.is_set():
            started, sent_while_down = time.monotonic(), broker_down.is_set()
            response = client.post("/api/tickets", json={"body": f"{TEXTS[i % 4]} [{i}]"}, headers=AUTH)
            slowest[0] = max(slowest[0], time.monotonic() - started)
            statuses.append(response.status_code)
            if response.status_code == 202:
                accepted.append(response.get_json()["id"])
                if sent_while_down:  # one sent before the broker went may have been published
                    during.append(accepted[-1])
            i += 1
            time.sleep(0.02)

    # Given tickets posted continuously, some done and more in flight
    thread = threading.Thread(target=submit_continuously)
    thread.start()
    try:
        wait_for(lambda: client.get("/api/tickets?status=done&limit=1", headers=AUTH).get_json()["tickets"],
                 timeout_s=120, what="the first tickets to be done")
        wait_for(lambda: len(accepted) >= 40, timeout_s=60, what="load before the restart")

        # When, right after a burst, RabbitMQ stops (cleanly, or kill -9) while the posting goes on
        accepted.extend(submit(client, f"{TEXTS[i % 4]} (burst {i})") for i in range(60))
        getattr(rabbitmq, stop_broker)()
        broker_down.set()
        in_flight = sum(client.get(f"/api/tickets/{i}", headers=AUTH).get_json()["status"] != "done"
                        for i in list(accepted))
        assert in_flight >= 10, f"only {in_flight} tickets were unfinished: nothing proves tickets were in flight"
        wait_for(lambda: len(during) >= 20, timeout_s=60, what="tickets accepted while the broker is away")
        # Then the API still accepts them, each stored with its entry in the outbox, and health names the broker
        status, report = health(client)
        assert status == 503 and report["broker"] == "down" and "the broker" in report["missing"], report
        away = len(during)
        waiting = outbox(rabbit_env)  # read second: nothing leaves the outbox while the broker is away
        assert waiting >= away, (waiting, away)

        # When it starts again
        rabbitmq.start()
        broker_down.clear()
        count = len(accepted)
        wait_for(lambda: len(accepted) >= count + 40, timeout_s=60, what="load after the restart")
    finally:
        stop.set()
        thread.join(timeout=30)

    # Then every 202 ends done, the outbox is empty, and no POST waited long on the broker
    started = time.monotonic()
    all_done(client, accepted, timeout_s=120)
    wait_for(lambda: outbox(rabbit_env) == 0, timeout_s=30, what="the outbox to drain")
    assert set(statuses) == {202} and slowest[0] < 2.0, (sorted(set(statuses)), slowest)
    print(f"\n{len(accepted)} tickets accepted around a RabbitMQ {stop_broker} and start ({in_flight} unfinished at "
          f"the {stop_broker}, {len(during)} accepted while it was away), 0 lost; all done "
          f"{time.monotonic() - started:.1f} s after the posting stopped; slowest POST {slowest[0] * 1000:.0f} ms")


def test_make_run_on_rabbitmq_passes_the_broker_to_every_program(rabbitmq, tmp_path):
    import requests

    # Given `python -m deploy run` (what `make run` starts) with the broker on a virtual host of its own
    rabbitmq.ctl("add_vhost", "stack")
    rabbitmq.ctl("set_permissions", "-p", "stack", "guest", ".*", ".*", ".*")
    proc, base, ports = start_stack(tmp_path, SMARTSUPPORT_BROKER_URL=rabbitmq.url.removesuffix("/") + "stack")
    try:
        key = (tmp_path / "data" / "api_key").read_text().strip()
        auth, flower = {"Authorization": f"Bearer {key}"}, f"http://127.0.0.1:{ports['FLOWER_PORT']}/"
        # Then it is healthy with the broker up (every queue consumed, the scheduler ticking), the
        # banner names the broker without its password, and the workers consume from RabbitMQ
        report = requests.get(base + "/api/health", headers=auth, timeout=10).json()
        assert report["status"] == "ok" and report["broker"] == "ok", report
        banner = f"Broker          : amqp://guest:**@127.0.0.1:{rabbitmq.port}/stack"
        assert banner in (tmp_path / "run.log").read_text()
        consumed = set(rabbitmq.ctl("list_consumers", "-p", "stack", "queue_name").split("\n")[1:])
        assert {"model", "tickets", "webhooks"} <= consumed, consumed

        def seen_by_flower(*names: str) -> bool:
            tasks = requests.get(flower + "api/tasks", auth=("operator", key), timeout=5).json()
            done = {t["name"] for t in tasks.values() if t.get("state") == "SUCCESS"}
            return {f"workers.tasks.{n}" for n in names} <= done

        # Flower, listening to the workers' events on RabbitMQ, sees the scheduler's outbox drain (sent
        # through RabbitMQ every 5 s); it starts last and at the lowest priority, so only then is it
        # known to be listening
        wait_for(lambda: seen_by_flower("drain_outbox"), timeout_s=90, interval_s=1,
                 what="Flower to show the outbox's drain")
        # When a ticket is posted over HTTP, it is done, and Flower saw its stages run
        response = requests.post(base + "/api/tickets", json={"body": "Our API is down, fix ASAP"}, headers=auth,
                                 timeout=10)
        status_url = base + response.json()["status_url"]
        wait_for(lambda: requests.get(status_url, headers=auth, timeout=5).json()["status"] == "done",
                 timeout_s=60, interval_s=0.2, what="the ticket to be done")
        wait_for(lambda: seen_by_flower("classify_ticket", "route_and_notify"), timeout_s=60, interval_s=1,
                 what="Flower to show the stages")
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
