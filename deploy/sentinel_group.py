"""A Redis Sentinel group on loopback for tests and benchmarks: a primary, a replica and three
sentinels, all Debian's redis-server, each with its password in a 0600 config file."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

import redis

from .redis_server import server_binary

SERVICE = "ssgroup"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


class RedisGroup:
    """Two Redis servers (one primary, one replica) and three sentinels watching them, on loopback."""

    def __init__(self, root: Path) -> None:
        self.root, self.binary, self.password = Path(root), server_binary(), secrets.token_hex(16)
        self.ports = [_free_port(), _free_port()]
        self.sentinel_ports = [_free_port() for _ in range(3)]
        self.procs: dict[int, subprocess.Popen] = {}
        self.primary_port = self.ports[0]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"sentinel://:{self.password}@{hosts}/{SERVICE}/0"

    def _write(self, name: str, lines: list[str]) -> Path:
        path = self.root / name / "redis.conf"
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.write_text("\n".join(["bind 127.0.0.1", "daemonize no", "loglevel warning",
                                   f'logfile "{path.parent / "log"}"', f'dir "{path.parent}"',
                                   f'requirepass "{self.password}"', *lines]) + "\n")
        path.chmod(0o600)
        return path

    def _run(self, port: int, conf: Path, *extra: str) -> None:
        self.procs[port] = subprocess.Popen([self.binary, str(conf), *extra], stdout=subprocess.DEVNULL,
                                            preexec_fn=lambda: os.umask(0o077))

    def start(self) -> "RedisGroup":
        for port in self.ports:
            replica = [] if port == self.primary_port else [f"replicaof 127.0.0.1 {self.primary_port}"]
            self._run(port, self._write(f"redis-{port}", [
                f"port {port}", f'masterauth "{self.password}"', "appendonly yes", "appendfsync everysec",
                "maxmemory-policy noeviction", *replica]))
        for port in self.sentinel_ports:
            self._run(port, self._write(f"sentinel-{port}", [
                f"port {port}", f'sentinel sentinel-pass "{self.password}"',
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} 2",
                f'sentinel auth-pass {SERVICE} "{self.password}"',
                f"sentinel down-after-milliseconds {SERVICE} 1000",
                f"sentinel failover-timeout {SERVICE} 4000"]), "--sentinel")
        _wait(lambda: self.replicas_in_sync() >= 1, timeout_s=30, what="the replica in sync")
        _wait(lambda: all(self.sentinel(p).sentinel_sentinels(SERVICE) for p in self.sentinel_ports),
              timeout_s=30, what="the sentinels to find each other")
        _wait(self.sentinels_see_a_replica, timeout_s=30, what="the sentinels to see the replica")
        return self

    def client(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=2)

    def sentinel(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, password=self.password, socket_timeout=2)

    def primary(self) -> int:
        """The primary's port, as a sentinel sees it."""
        return int(self.sentinel(self.sentinel_ports[0]).sentinel_get_master_addr_by_name(SERVICE)[1])

    def sentinels_see_a_replica(self) -> bool:
        """Whether every sentinel knows a replica it could promote (they learn of replicas from the
        primary's INFO, every 10 s: a failover before that finds "no good slave")."""
        def good(port: int) -> bool:
            replicas = self.sentinel(port).sentinel_slaves(SERVICE)
            return any(not {"s_down", "o_down", "disconnected"} & set(str(r.get("flags", "")).split(","))
                       and r.get("master-link-status") == "ok" for r in replicas)
        try:
            return all(good(port) for port in self.sentinel_ports)
        except redis.RedisError:
            return False

    def replicas_in_sync(self) -> int:
        try:
            info = self.client(self.primary()).info("replication")
        except redis.RedisError:
            return 0
        return sum(1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online")

    def fail_over(self) -> tuple[int, float]:
        """Kill the primary (SIGKILL), wait for the sentinels to promote the replica, then start the
        old primary again, which they turn into a replica. Returns (the new primary, seconds)."""
        _wait(self.sentinels_see_a_replica, timeout_s=60, what="the sentinels to see a replica")
        old, started = self.primary(), time.monotonic()
        self.procs[old].send_signal(signal.SIGKILL)
        self.procs[old].wait(timeout=10)
        _wait(lambda: self.primary() != old, timeout_s=60, what="the sentinels to promote the replica")
        took = time.monotonic() - started
        self._run(old, self.root / f"redis-{old}" / "redis.conf")
        _wait(lambda: self.replicas_in_sync() >= 1, timeout_s=60, what="the old primary back as a replica")
        return self.primary(), took

    def replica(self) -> int:
        """A replica's port."""
        return next(port for port in self.ports if port != self.primary())

    def pause(self, port: int) -> None:
        """Freeze a server (SIGSTOP): it holds its connections and answers nothing."""
        self.procs[port].send_signal(signal.SIGSTOP)

    def resume(self, port: int) -> None:
        self.procs[port].send_signal(signal.SIGCONT)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            proc.wait(timeout=10)
