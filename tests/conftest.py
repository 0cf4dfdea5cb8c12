"""Shared fixtures: a real Redis (the embedded redis-server binary) on a free port, and settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, TypeVar

import pytest

# Before anything reads settings: keep generated keys out of the checkout.
os.environ.setdefault("SMARTSUPPORT_DATA_DIR", tempfile.mkdtemp(prefix="smartsupport-test-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("REDIS_URL", None)

from smartsupport import embedded_redis  # noqa: E402
from smartsupport.config import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_KEY = "test-operator-key"
SUBMIT_KEY = "test-submit-key"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], T], *, timeout_s: float = 30.0, interval_s: float = 0.1, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what or check.__name__}")
        time.sleep(interval_s)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server with the append-only file on, for this test session only."""
    port = free_port()
    proc = embedded_redis.start(port=port, data_dir=tmp_path_factory.mktemp("redis"))
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def settings_for(redis_url: str, data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({
        "REDIS_URL": redis_url,
        "SMARTSUPPORT_DATA_DIR": str(data_dir),
        "SMARTSUPPORT_API_KEYS": OPERATOR_KEY,
        "SMARTSUPPORT_SUBMIT_KEYS": SUBMIT_KEY,
        "SMARTSUPPORT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        **env,
    })


def clear_tickets(redis_url: str) -> None:
    """Delete SmartSupport's keys only: Celery's queue bindings must survive between tests."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter("ss:*", count=1000))
    if keys:
        client.delete(*keys)


def start_stack(tmp_path: Path, **env: str) -> tuple[subprocess.Popen, str, dict[str, int]]:
    """`python -m smartsupport.cli run` (what `make run` starts) on free ports and a fresh data dir
    under ``tmp_path``, in its own process group; returns once /api/health answers 200."""
    import requests

    ports = {"SMARTSUPPORT_PORT": free_port(), "FLOWER_PORT": free_port(), "SMARTSUPPORT_REDIS_PORT": free_port()}
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTSUPPORT_", "REDIS_URL"))}
    full_env.update({k: str(v) for k, v in ports.items()}, SMARTSUPPORT_DATA_DIR=str(tmp_path / "data"),
                    SMARTSUPPORT_WORKER_CONCURRENCY="1", SMARTSUPPORT_TORCH_THREADS="2", **env)
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "smartsupport.cli", "run"], cwd=ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{ports['SMARTSUPPORT_PORT']}"

    def healthy() -> bool:
        assert proc.poll() is None, log_path.read_text()[-4000:]
        try:
            return requests.get(base + "/api/health", timeout=3).status_code == 200
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
            return False

    try:
        wait_for(healthy, timeout_s=120, interval_s=0.5, what="the stack to become healthy")
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc, base, ports
