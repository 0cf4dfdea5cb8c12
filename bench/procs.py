"""Processes the benchmark starts: owning them (stopped on any exit) and measuring them (CPU%, RSS).

Every process of a group is remembered as soon as it is seen, so that stopping the group also
reaches children that sit in sessions of their own (honcho starts each of its processes so).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


class OwnedProcess:
    """A subprocess started in its own session, with every descendant it ever had."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_path: str) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
        self.root = psutil.Process(self.popen.pid)
        self.known: dict[int, psutil.Process] = {self.root.pid: self.root}
        self.stopped = False

    def tree(self) -> list[psutil.Process]:
        """The live processes of the group (and remember them for stop())."""
        try:
            for child in self.root.children(recursive=True):
                self.known.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass
        return [p for p in self.known.values() if _alive(p)]

    def exited(self) -> bool:
        """Whether the root process has ended."""
        return self.popen.poll() is not None

    def log_tail(self, lines: int = 30) -> str:
        """The end of the group's output, for error messages."""
        with open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])

    def stop(self, grace_s: float = 20.0) -> None:
        """SIGTERM to the root (a warm shutdown), then SIGKILL to whatever of the group is left."""
        self.stopped = True
        procs = self.tree()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
        for proc in alive:
            try:
                proc.kill()  # psutil checks the pid still names the process it saw
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        try:
            self.popen.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def role(cmdline: list[str]) -> str:
    """What a process of the stack is, from its command line."""
    line = " ".join(cmdline)
    if "redis-server" in line or line.startswith("redis-"):  # and its forks (redis-aof-rewrite, ...)
        return "redis"
    if "gunicorn" in line:
        return "gunicorn"
    if "celery" in line and "flower" in cmdline:
        return "flower"
    if "celery" in line and "worker" in cmdline:
        app = cmdline[cmdline.index("-A") + 1] if "-A" in cmdline else "?"
        queues = cmdline[cmdline.index("--queues") + 1] if "--queues" in cmdline else ""
        return "bare worker" if app == "bench.bare" else "model worker" if "model" in queues else "io worker"
    if "smartsupport.cli" in line:
        return "honcho"
    return os.path.basename(cmdline[0]) if cmdline else "?"


def label(pid: int, parents: dict[int, int], roles: dict[int, str]) -> str:
    """The role, plus 'main' or 'child' where a process and its child share a role (prefork, gunicorn)."""
    mine = roles[pid]
    if roles.get(parents.get(pid)) == mine:
        return f"{mine} child"
    if any(parents.get(other) == pid and r == mine for other, r in roles.items()):
        return f"{mine} main"
    return mine


@dataclass
class _Track:
    label: str
    cpu0: float
    t0: float
    cpu: float = 0.0
    t: float = 0.0
    rss_max: int = 0


@dataclass
class Usage:
    """CPU% (100 = one core) and peak RSS per process over one measured window, and the machine's busy %."""

    rows: list[dict] = field(default_factory=list)
    system_cpu_pct: float = 0.0
    #: CPU (100 = one core) that processes other than the measured ones took meanwhile: the noise.
    other_cpu_pct: float = 0.0


class Sampler:
    """Samples the processes of some groups (plus this one) every ``interval_s`` while a window is open."""

    def __init__(self, groups: list[OwnedProcess], interval_s: float = 0.5) -> None:
        self.groups = groups
        self.interval_s = interval_s
        self._tracks: dict[int, _Track] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sys0 = None

    def start(self) -> None:
        """Open a window: forget earlier samples, take the first one, sample in the background."""
        self._tracks, self._stop = {}, threading.Event()
        self._sys0 = psutil.cpu_times()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Usage:
        """Close the window: CPU% over it and peak RSS per process, and the machine's load."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        rows = [{"label": t.label, "pid": pid, "cpu_pct": round(100.0 * (t.cpu - t.cpu0) / max(t.t - t.t0, 1e-3), 1),
                 "rss_mib": round(t.rss_max / MIB, 1)} for pid, t in self._tracks.items()]
        busy = _busy_pct(self._sys0, psutil.cpu_times())
        other = busy * (psutil.cpu_count() or 1) - sum(r["cpu_pct"] for r in rows)
        return Usage(sorted(rows, key=lambda r: (r["label"], r["pid"])), busy, round(max(other, 0.0), 1))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def _sample(self) -> None:
        procs = {p.pid: p for g in self.groups for p in g.tree()}
        procs[os.getpid()] = psutil.Process()
        roles, parents = {}, {}
        for pid, proc in procs.items():
            try:
                roles[pid], parents[pid] = role(proc.cmdline()), proc.ppid()
            except psutil.Error:
                continue
        roles[os.getpid()] = "bench client"
        for pid in roles:
            self._record(procs[pid], label(pid, parents, roles))

    def _record(self, proc: psutil.Process, name: str) -> None:
        try:
            with proc.oneshot():
                times, rss, now = proc.cpu_times(), proc.memory_info().rss, time.monotonic()
        except psutil.Error:
            return
        track = self._tracks.get(proc.pid)
        if track is None:
            track = self._tracks[proc.pid] = _Track(name, times.user + times.system, now)
        track.cpu, track.t, track.rss_max = times.user + times.system, now, max(track.rss_max, rss)


def _busy_pct(before, after) -> float:
    """Whole-machine CPU busy % (100 = every core busy) between two psutil.cpu_times()."""
    # guest time is already counted in user time on Linux
    total = sum(getattr(after, f) - getattr(before, f) for f in after._fields if not f.startswith("guest"))
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0
