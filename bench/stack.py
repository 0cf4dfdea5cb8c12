"""The whole SmartSupport system as ``make run`` starts it, on free ports and a fresh data dir."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests

from .procs import OwnedProcess

#: Variables that would point the benchmark at someone else's installation or endpoints.
DROPPED_ENV = ("REDIS_URL", "SMARTSUPPORT_WEBHOOK_URLS", "SMARTSUPPORT_API_KEYS", "SMARTSUPPORT_SUBMIT_KEYS",
               "SMARTSUPPORT_HOST", "SMARTSUPPORT_PORT", "FLOWER_PORT", "SMARTSUPPORT_REDIS_PORT",
               "SMARTSUPPORT_DATA_DIR")
#: The default 100/second per key would turn most of the 200/s phase into 429s: lift it, so the
#: benchmark measures the pipeline (the limiter's own Redis round trip per request still runs).
RATE_LIMIT = "1000000/second"


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that are free right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@contextlib.contextmanager
def own_redis(prefix: str) -> Iterator[str]:
    """A Redis of its own, as ``make run`` configures it (deploy.redis_server), in a temporary data
    dir: its URL; stopped and removed on the way out."""
    from deploy import redis_server

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        [port] = free_ports(1)
        proc = redis_server.start(port=port, data_dir=Path(tmp) / "redis")
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.kill()
            proc.wait(timeout=10)


def stack_env(data_dir: Path) -> dict[str, str]:
    """The environment of the stack: ours, minus installation-specific settings, plus fresh ports."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    port, flower, redis_port = free_ports(3)
    env.update(SMARTSUPPORT_PORT=str(port), FLOWER_PORT=str(flower), SMARTSUPPORT_REDIS_PORT=str(redis_port),
               SMARTSUPPORT_DATA_DIR=str(data_dir), SMARTSUPPORT_RATE_LIMIT=RATE_LIMIT, PYTHONUNBUFFERED="1")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


@dataclass
class Stack:
    """A started stack: its process group, where the API is, and an operator key."""

    proc: OwnedProcess
    env: dict[str, str]
    base_url: str
    redis_url: str
    api_key: str = ""

    @classmethod
    def start(cls, data_dir: Path, *, extra_env: dict[str, str] | None = None) -> "Stack":
        """Start ``python -m deploy run`` in its own process group, output to data_dir/stack.log."""
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**stack_env(data_dir), **(extra_env or {})}
        proc = OwnedProcess("stack", [sys.executable, "-m", "deploy", "run"], env=env,
                            log_path=str(data_dir / "stack.log"))
        return cls(proc, env, f"http://127.0.0.1:{env['SMARTSUPPORT_PORT']}",
                   f"redis://127.0.0.1:{env['SMARTSUPPORT_REDIS_PORT']}")

    def wait_healthy(self, timeout_s: float = 120.0) -> float:
        """Block until GET /api/health answers 200; return the seconds it took. Reads the API key."""
        started = time.monotonic()
        while True:
            if self.proc.exited():
                raise RuntimeError(f"the stack exited during start-up:\n{self.proc.log_tail()}")
            try:
                if requests.get(self.base_url + "/api/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"/api/health not 200 after {timeout_s:.0f}s:\n{self.proc.log_tail()}")
            time.sleep(0.5)
        data = Path(self.env["SMARTSUPPORT_DATA_DIR"])
        self.api_key = (data / "api_key").read_text().strip()
        # The embedded Redis takes the installation's generated password (deploy/redis_server.py).
        password = (data / "redis_password").read_text().strip()
        self.redis_url = f"redis://:{password}@127.0.0.1:{self.env['SMARTSUPPORT_REDIS_PORT']}"
        return time.monotonic() - started
