"""/api/health: 200 only when every part that moves tickets runs; a 503 names what is missing.

That is Redis; the broker, when it is not the Redis (SMARTSUPPORT_BROKER_URL: RabbitMQ); a live
consumer on every Celery queue that can run a task now (asked with a broadcast of
workers.readiness, which also tells that the broker answers; a worker whose model is still loading
is *warming*, and the status says so); the scheduler (its last tick, noted in Redis); the outbox
(tickets stored while the broker was away) draining; and, under ``make run``, every supervisord
program (one that keeps crashing is FATAL). Host names and errors are shown to operators only. A
report is reused for CACHE_S (HealthCache): health is cheap to ask however often it is asked.
"""

from __future__ import annotations

import os
import threading
import time
import xmlrpc.client
from typing import Any

#: How long workers have to answer the readiness broadcast (a process's first one takes about 0.5 s).
#: Every call waits that long (no one knows how many workers there are), at most once per CACHE_S.
INSPECT_TIMEOUT_S = 1.0
#: Seconds a report is reused (HealthCache).
CACHE_S = 2.0
#: The scheduler ticks every few seconds (workers.scheduler.TICK_S); this late, it is gone.
SCHEDULER_LATE_S = 30.0
#: The outbox is drained every 5 s (celeryconfig's drain-outbox); a ticket waiting this long is stuck.
OUTBOX_LATE_S = 60.0


class HealthCache:
    """An API's last report of each view (operator or not), for CACHE_S: a flood of health checks
    costs one broadcast to the workers per view every CACHE_S per API process, and the callers of
    one moment wait for the same check rather than each making its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reports: dict[bool, tuple[float, tuple[dict[str, Any], bool]]] = {}

    def check(self, services, *, operator: bool) -> tuple[dict[str, Any], bool]:
        """The health report and whether everything runs, as found at most CACHE_S ago."""
        with self._lock:
            at, found = self._reports.get(operator, (float("-inf"), None))
            if found is None or time.monotonic() - at >= CACHE_S:
                found = check(services, operator=operator)
                self._reports[operator] = (time.monotonic(), found)
            return found


def check(services, *, operator: bool) -> tuple[dict[str, Any], bool]:
    """The health report and whether everything runs, found now."""
    report: dict[str, Any] = {"redis": "down", "workers": 0}
    missing: list[str] = []
    try:
        services.store.ops.ping()
        report["redis"] = "ok"
    except Exception as exc:  # health must answer, whatever is broken
        report["error"] = f"{type(exc).__name__}: {exc}"[:200]
        missing.append("Redis")
    if report["redis"] == "ok":
        separate_broker = services.settings.broker is not None
        try:
            consumers = _consumers(services.celery)
        except Exception as exc:  # the broker is away (it is not the Redis, which answered)
            consumers = None
            report["broker"] = "down"
            if operator:
                report["broker_error"] = f"{type(exc).__name__}: {exc}"[:200]
            missing.append("the broker")
        if consumers is not None:
            if separate_broker:
                report["broker"] = "ok"
            consumers, warming = consumers
            report["workers"] = len({node for nodes in consumers.values() for node in nodes} | set(warming))
            report["queues"] = consumers if operator else {q: len(nodes) for q, nodes in consumers.items()}
            if warming:
                report["warming"] = sorted(warming) if operator else len(warming)
            warming_queues = {queue for queues in warming.values() for queue in queues}
            missing += [f"a worker for the {queue} queue" + (" (warming up)" if queue in warming_queues else "")
                        for queue, nodes in consumers.items() if not nodes]
        age = services.store.ops.scheduler_tick_age_s()
        report["scheduler"] = {"last_tick_s_ago": None if age is None else round(age, 1)}
        if age is None or age > SCHEDULER_LATE_S:
            missing.append("the scheduler (Celery beat)")
        waiting, oldest_s = services.store.outbox.backlog()
        report["outbox"] = {"waiting": waiting, "oldest_s_ago": None if oldest_s is None else round(oldest_s, 1)}
        if oldest_s is not None and oldest_s > OUTBOX_LATE_S and consumers is not None:
            missing.append(f"the outbox's drain ({waiting} tickets not queued yet, for up to {oldest_s:.0f} s)")
    if services.settings.imap_url and report["redis"] == "ok":
        status = services.store.mail.mailbox_status()
        problem = _mailbox_problem(status, services.settings.imap_poll_s)
        report["mailbox"] = status if operator else (status or {}).get("state")
        if problem:
            missing.append(f"the mailbox ({problem})" if operator else "the mailbox")
    if services.settings.helpdesk_url and report["redis"] == "ok":
        status, dead = services.store.helpdesk.status(), services.store.helpdesk.dead_letters()
        problem = _mailbox_problem(status, services.settings.helpdesk_poll_s)
        report["helpdesk"] = ({**(status or {}), "dead_letters": dead[-20:], "dead_count": len(dead)} if operator
                              else (status or {}).get("state"))
        if problem:
            missing.append(f"the helpdesk ({problem})" if operator else "the helpdesk")
    processes = _supervised()
    if processes is not None:
        report["processes"] = processes
        missing += [f"the {name} process ({'it keeps crashing' if state == 'FATAL' else state.lower()})"
                    for name, state in processes.items() if state not in ("RUNNING", "STARTING")]
    report["missing"] = missing
    # A routing or labels file that failed to reload: tickets still flow, with the version in force.
    report["warnings"] = [
        f"the {name} file did not reload, the {kept} in force stay: "
        + (source.error if operator else "details for operator keys")
        for name, kept, source in (("routing", "rules", services.routing), ("labels", "labels", services.labels))
        if source.error]
    healthy = not missing
    warming_only = all(m.endswith("(warming up)") for m in missing)
    return {"status": "ok" if healthy else "warming" if warming_only else "unavailable", **report}, healthy


def _mailbox_problem(status: dict | None, poll_s: float) -> str | None:
    """Why the mailbox (or helpdesk) process is not taking mail (tickets) (None: it is)."""
    if status is None:
        return "it never polled"
    if status["state"] != "ok":
        return f"away: {status['error']}"
    if time.time() - status["at"] > 2 * poll_s + 30:
        return f"no poll for {time.time() - status['at']:.0f} s"
    return None


def _consumers(celery) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each queue, with the workers consuming it that can run a task now; and the workers that
    cannot yet (warming up: a model process still loading, workers.readiness), with their queues."""
    import celeryconfig  # read at first use: it reads the environment's settings when imported

    found: dict[str, list[str]] = {queue.name: [] for queue in celeryconfig.task_queues}
    warming: dict[str, list[str]] = {}
    replies = celery.control.broadcast("readiness", reply=True, timeout=INSPECT_TIMEOUT_S) or []
    for node, answer in sorted(item for reply in replies for item in reply.items()):
        if not isinstance(answer, dict) or "queues" not in answer:
            continue  # not a SmartSupport worker, or one of an older version
        if not answer.get("warm", True):
            warming[node] = answer["queues"]
            continue
        for queue in answer["queues"]:
            found.setdefault(queue, []).append(node)
    return found, warming


def _supervised() -> dict[str, str] | None:
    """The state of each supervisord program, when ``make run`` started this process (None otherwise)."""
    path = os.environ.get("SMARTSUPPORT_SUPERVISOR_SOCKET")
    if not path:
        return None
    from supervisor.xmlrpc import SupervisorTransport

    try:
        proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=SupervisorTransport("", "", f"unix://{path}"))
        return {p["name"]: p["statename"] for p in proxy.supervisor.getAllProcessInfo()}
    except Exception as exc:  # supervisord is going away with us: say so rather than fail
        return {"supervisord": f"UNREACHABLE ({type(exc).__name__})"}
