"""A real Celery worker (a separate process) against the session's real Redis, and a webhook receiver."""

from __future__ import annotations

import os

import pytest

from tests.helpers import WEBHOOK_SECRET, Receiver, answering_worker, clear_tickets, settings_for
from web import create_app


@pytest.fixture(scope="session")
def receiver():
    receiver = Receiver()
    receiver.server.start()
    receiver.server.expect_request("/hook", method="POST").respond_with_handler(receiver.handle)
    yield receiver
    receiver.server.clear()
    receiver.server.stop()
    assert receiver.leaks == [], "personal data in webhook bodies"


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
        "SMARTSUPPORT_WEBHOOK_BACKOFF_MAX_S": "2",
        "SMARTSUPPORT_WEBHOOK_MAX_ATTEMPTS": "4",
        "SMARTSUPPORT_WEBHOOK_TIMEOUT_S": "1",
        "SMARTSUPPORT_WORKER_CONCURRENCY": "1",
        "SMARTSUPPORT_TORCH_THREADS": "2",
        # These tests send many similar tickets: as incidents, their own webhooks would not fire.
        # tests/integration/test_incidents.py runs a worker with incidents on, on its own database.
        "SMARTSUPPORT_INCIDENTS": "off",
        "PYTHONUNBUFFERED": "1",
    }


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
