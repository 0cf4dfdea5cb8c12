"""The embedded Redis: Debian's redis-server (7.x, kept up to date by the distribution), run as a
process of ``make run`` with its data in the data dir.

Only this installation's user can reach it or read it: it listens on loopback with a generated
password (``requirepass``, in a 0600 config file, never on a command line), its directory is 0700
and the files it writes 0600 (umask 077). Redis 7 refuses ``CONFIG SET dir`` and other protected
settings at run time. Append-only file on, fsync ``always`` by default: every write is on disk
before Redis replies. With ``everysec`` Redis may hold written commands in memory for up to 2 s
while a slow background fsync runs, replying meanwhile, so a killed process or a crashed machine can
lose acknowledged tickets. ``maxmemory`` with ``noeviction``: past it Redis refuses writes (the API answers
503) rather than dropping keys.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import redis

from smartsupport.store import connect

MIN_VERSION = (7, 0)
INSTALL_HINT = "run scripts/install-redis.sh (make run and make test do) or set REDIS_URL"


def server_binary() -> str:
    """The redis-server on PATH, if it is 7.0 or newer."""
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"no redis-server found: {INSTALL_HINT}")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"v=(\d+)\.(\d+)", out)
    if not found or tuple(map(int, found.groups())) < MIN_VERSION:
        raise RuntimeError(f"{path} is {out.strip()!r}; SmartSupport needs Redis 7 or newer: {INSTALL_HINT}")
    return path


def private_dir(path: Path) -> Path:
    """``path`` created if need be, readable by its owner only (0700)."""
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_config(*, port: int, data_dir: Path, appendfsync: str = "always", password: str = "",
                 maxmemory_mb: int = 0) -> Path:
    """The server's config file in the data dir (mode 0600: it holds the password)."""
    data_dir = private_dir(data_dir)
    lines = [
        f"port {port}", "bind 127.0.0.1", "protected-mode yes", f'dir "{data_dir}"',
        "appendonly yes", f"appendfsync {appendfsync}", 'appenddirname "appendonlydir"',
        'dbfilename "dump.rdb"', 'save "300 1"', "daemonize no", "loglevel warning", 'logfile ""',
        "enable-protected-configs no", "enable-debug-command no", "enable-module-command no",
        "maxmemory-policy noeviction",
    ]
    if maxmemory_mb:
        lines.append(f"maxmemory {maxmemory_mb}mb")
    if password:
        lines.append(f'requirepass "{password}"')
    path = data_dir / "redis.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def server_args(**config) -> list[str]:
    """The command that runs the embedded Redis (settings in its config file, see write_config)."""
    return [server_binary(), str(write_config(**config))]


def start(*, port: int, data_dir: Path, appendfsync: str = "always", password: str = "",
          timeout_s: float = 10.0) -> subprocess.Popen:
    """Start a redis-server child process (as tests and benchmarks do) and wait until it answers PING."""
    proc = subprocess.Popen(server_args(port=port, data_dir=data_dir, appendfsync=appendfsync, password=password),
                            stdout=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0o077))
    auth = f":{password}@" if password else ""
    try:
        wait_until_ready(f"redis://{auth}127.0.0.1:{port}/0", timeout_s=timeout_s, proc=proc)
    except Exception:
        proc.kill()
        raise
    return proc


def wait_until_ready(url: str, *, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Block until Redis at ``url`` answers PING (and has loaded its data), or raise TimeoutError."""
    client = connect.client(url, socket_connect_timeout=1, socket_timeout=1)
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
            raise TimeoutError(f"Redis did not answer within {timeout_s:.0f}s")
        time.sleep(0.05)
