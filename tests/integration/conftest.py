"""A real Celery worker (a separate process) against the session's real Redis, and a webhook receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from contextlib import contextmanager

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import ROOT, WEBHOOK_SECRET, clear_tickets, free_port, settings_for, wait_for
from web import create_app


class Receiver:
    """Webhook endpoint on loopback; a ticket body containing ``[respond 503 503 200]`` scripts its answers.

    Each word is a status code, ``429:N`` answers 429 with ``Retry-After: N``, and ``sleep`` answers
    200 only after the sender's timeout has passed. The last word repeats.
    """

    def __init__(self) -> None:
        self.server = HTTPServer(host="127.0.0.1", port=free_port())
        self.calls: dict[str, list[Request]] = defaultdict(list)
        self.incident_events: list[Request] = []
        self._lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        event = json.loads(request.get_data())
        if event["type"].startswith("incident."):
            with self._lock:
                self.incident_events.append(request)
            return Response("ok")
        body = event["data"]["body"]
        with self._lock:
            calls = self.calls[event["data"]["id"]]
            calls.append(request)
            script = body.split("[respond ", 1)[1].split("]", 1)[0].split() if "[respond " in body else ["200"]
            word = script[min(len(calls), len(script)) - 1]
        if word == "sleep":
            time.sleep(1.5)
            return Response("late", status=200)
        status, _, retry_after = word.partition(":")
        headers = {"Retry-After": retry_after} if retry_after else {}
        return Response("ok" if int(status) < 300 else "nope", status=int(status), headers=headers)

    @property
    def url(self) -> str:
        return self.server.url_for("/hook")


@pytest.fixture(scope="session")
def receiver():
    receiver = Receiver()
    receiver.server.start()
    receiver.server.expect_request("/hook", method="POST").respond_with_handler(receiver.handle)
    yield receiver
    receiver.server.clear()
    receiver.server.stop()


@pytest.fixture(scope="session")
def worker_env(redis_server, receiver, tmp_path_factory):
    return {
        **os.environ,
        "REDIS_URL": redis_server + "/0",
        "SMARTSUPPORT_DATA_DIR": str(tmp_path_factory.mktemp("worker-data")),
        "SMARTSUPPORT_WEBHOOK_URLS": receiver.url,
        "SMARTSUPPORT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SMARTSUPPORT_WEBHOOK_BACKOFF_BASE_S": "0.2",
        "SMARTSUPPORT_WEBHOOK_BACKOFF_FACTOR": "2",
        "SMARTSUPPORT_WEBHOOK_BACKOFF_MAX_S": "1",
        "SMARTSUPPORT_WEBHOOK_MAX_ATTEMPTS": "4",
        "SMARTSUPPORT_WEBHOOK_TIMEOUT_S": "1",
        "SMARTSUPPORT_WORKER_CONCURRENCY": "1",
        "SMARTSUPPORT_TORCH_THREADS": "2",
        # These tests send many similar tickets: as incidents, their own webhooks would not fire.
        # tests/integration/test_incidents.py runs a worker with incidents on, on its own database.
        "SMARTSUPPORT_INCIDENTS": "off",
        "PYTHONUNBUFFERED": "1",
    }


def start_worker(env: dict[str, str], log_path, *, name: str | None = None, beat: bool = False) -> subprocess.Popen:
    """A real worker for every queue; with ``beat``, it also runs the sweeper's schedule."""
    name = name or f"test-{uuid.uuid4().hex[:6]}"
    log = open(log_path, "ab")
    extra = ["--beat", "--schedule", str(log_path.with_suffix(f".{name}.beat"))] if beat else []
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "--loglevel", "INFO", "--queues",
         "model,tickets,webhooks", "--prefetch-multiplier", "64", "--hostname", f"{name}@%h",
         "--concurrency", env["SMARTSUPPORT_WORKER_CONCURRENCY"], *extra],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def answering_worker(env: dict[str, str], tmp_path_factory, name: str):
    """A real worker (``start_worker``), once it answers a ping; its log is shown if it died."""
    log_path = tmp_path_factory.mktemp("logs") / f"{name}.log"
    proc = start_worker(env, log_path)
    app = create_app(settings_for(env["REDIS_URL"], tmp_path_factory.mktemp("api")))
    celery = app.extensions["smartsupport"].celery

    def answers():
        assert proc.poll() is None, log_path.read_text()[-3000:]
        return celery.control.ping(timeout=0.5)

    wait_for(answers, timeout_s=120, what=f"the {name} to answer a ping")
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="session")
def worker(worker_env, tmp_path_factory):
    """One real Celery worker for the integration tests; its log is printed if a test fails."""
    with answering_worker(worker_env, tmp_path_factory, "worker") as proc:
        yield proc


@pytest.fixture
def client(worker, worker_env, tmp_path):
    clear_tickets(worker_env["REDIS_URL"])
    app = create_app(settings_for(worker_env["REDIS_URL"], tmp_path,
                                  SMARTSUPPORT_WEBHOOK_URLS=worker_env["SMARTSUPPORT_WEBHOOK_URLS"]))
    yield app.test_client()
