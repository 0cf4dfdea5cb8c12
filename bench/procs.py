"""Processes the benchmark starts: owning them (stopped on any exit) and measuring them (CPU%, RSS).

Every process of a group is remembered as soon as it is seen, so that stopping the group also
reaches children that sit in process groups of their own (``make run`` starts each of its commands so).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field

import psutil

MIB = 1024 * 1024


class OwnedProcess:
    """A subprocess started in its own process group, with every descendant it ever had.

    It stays in the benchmark's session: where the kernel schedules by session (autogroup, see
    deploy.cli._Member), a session of its own would get as much CPU as the load generator's
    whatever the nice values inside it, and the client's sends fell up to 100 ms behind schedule
    while the niced workers ran. In one session the client competes like the API, at nice 0, and
    the workers yield to both."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_path: str) -> None:
        self.name = name
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.popen = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, process_group=0)
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
    if "deploy.guard" in line:  # supervisord's child that runs each program
        return "guard"
    if "redis-server" in line or line.startswith("redis-"):  # and its forks (redis-aof-rewrite, ...)
        return "redis"
    if "gunicorn" in line:
        return "gunicorn"
    if "celery" in line and "flower" in cmdline:
        return "flower"
    if "celery" in line and "worker" in cmdline:
        app = cmdline[cmdline.index("-A") + 1] if "-A" in cmdline else "?"
        queues = cmdline[cmdline.index("--queues") + 1] if "--queues" in cmdline else ""
        if app == "bench.bare":
            return "bare worker"
        return {"model": "model worker", "webhooks": "webhook worker"}.get(queues, "io worker")
    if "celery" in line and "beat" in cmdline:
        return "scheduler"
    if "supervisord" in line:
        return "supervisord"
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
    """Samples the processes of some groups (plus this one) every ``interval_s`` while a window is open.

    The sampling runs in a process of its own: reading /proc for twenty processes takes 4–13 ms, and
    in the load generator's process it would hold up the threads whose answers are being timed."""

    def __init__(self, groups: list[OwnedProcess], interval_s: float = 0.5) -> None:
        self.groups = groups
        self.interval_s = interval_s
        self._conn = None
        self._child = None

    def start(self) -> None:
        """Open a window: start the sampling process and wait for its first sample."""
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._conn, child_conn = context.Pipe()
        known = [p.pid for g in self.groups for p in g.tree()]
        self._child = context.Process(target=_sample_until_told, name="bench sampler", daemon=True,
                                      args=(child_conn, [g.root.pid for g in self.groups], known, os.getpid(),
                                            self.interval_s))
        self._child.start()
        child_conn.close()
        if self._conn.recv() != "sampling":
            raise RuntimeError("the sampling process did not start")

    def stop(self) -> Usage:
        """Close the window: CPU% over it and peak RSS per process, and the machine's load."""
        for group in self.groups:
            group.tree()  # remember processes seen meanwhile, for OwnedProcess.stop
        try:
            self._conn.send("stop")
            if not self._conn.poll(30):
                raise RuntimeError("the sampling process did not answer")
            return self._conn.recv()
        finally:
            self._conn.close()
            self._child.join(timeout=5)
            if self._child.is_alive():
                self._child.terminate()
                self._child.join(timeout=5)


def _sample_until_told(conn, roots: list[int], known: list[int], client_pid: int, interval_s: float) -> None:
    """The sampling process: sample every ``interval_s`` until the parent says stop, then send the Usage.
    Ctrl-C is the parent's to handle: it stops this process through stop() (or the closed pipe)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    window = _Window(roots, known, client_pid)
    window.sample()
    conn.send("sampling")
    try:
        while not conn.poll(interval_s):
            window.sample()
        conn.recv()
        window.sample()
        conn.send(window.usage())
    except (EOFError, OSError):  # the parent is gone or gave up: nothing to report to
        pass


class _Window:
    """Every process of the groups (descendants of ``roots``), the bench client and this sampler, each
    with its CPU time at its first and its last sample and its peak RSS."""

    def __init__(self, roots: list[int], known: list[int], client_pid: int) -> None:
        self.roots, self.client_pid = roots, client_pid
        self.procs: dict[int, psutil.Process] = {}
        for pid in [*known, client_pid, os.getpid()]:
            try:
                self.procs[pid] = psutil.Process(pid)
            except psutil.NoSuchProcess:
                pass
        self.tracks: dict[int, _Track] = {}
        self.sys0 = psutil.cpu_times()

    def sample(self) -> None:
        for root in self.roots:
            try:
                for child in psutil.Process(root).children(recursive=True):
                    self.procs.setdefault(child.pid, child)
            except psutil.NoSuchProcess:
                pass
        roles, parents = {}, {}
        for pid, proc in self.procs.items():
            try:
                roles[pid], parents[pid] = role(proc.cmdline()), proc.ppid()
            except psutil.Error:
                continue
        roles[self.client_pid] = "bench client"
        roles[os.getpid()] = "bench sampler"
        for pid in roles:
            self._record(self.procs[pid], label(pid, parents, roles))

    def _record(self, proc: psutil.Process, name: str) -> None:
        try:
            with proc.oneshot():
                times, rss, now = proc.cpu_times(), proc.memory_info().rss, time.monotonic()
        except psutil.Error:
            return
        track = self.tracks.get(proc.pid)
        if track is None:
            track = self.tracks[proc.pid] = _Track(name, times.user + times.system, now)
        track.cpu, track.t, track.rss_max = times.user + times.system, now, max(track.rss_max, rss)

    def usage(self) -> Usage:
        rows = [{"label": t.label, "pid": pid, "cpu_pct": round(100.0 * (t.cpu - t.cpu0) / max(t.t - t.t0, 1e-3), 1),
                 "rss_mib": round(t.rss_max / MIB, 1)} for pid, t in self.tracks.items()]
        busy = _busy_pct(self.sys0, psutil.cpu_times())
        other = busy * (psutil.cpu_count() or 1) - sum(r["cpu_pct"] for r in rows)
        return Usage(sorted(rows, key=lambda r: (r["label"], r["pid"])), busy, round(max(other, 0.0), 1))


def _busy_pct(before, after) -> float:
    """Whole-machine CPU busy % (100 = every core busy) between two psutil.cpu_times()."""
    # guest time is already counted in user time on Linux
    total = sum(getattr(after, f) - getattr(before, f) for f in after._fields if not f.startswith("guest"))
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0
