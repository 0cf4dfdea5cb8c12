"""/api/health: 200 only when every part that moves tickets runs; a 503 names what is missing.

That is Redis; the broker, when it is not the Redis (SMARTSUPPORT_BROKER_URL: RabbitMQ); a live
consumer on every Celery queue (asked with Celery's inspect broadcast, which also tells that the
broker answers); the scheduler (its last tick, noted in Redis); the outbox (tickets stored while
the broker was away) draining; and, under ``make run``, every supervisord program (one that keeps
crashing is FATAL). Host names and errors are shown to operators only.
"""

from __future__ import annotations

import os
import time
import xmlrpc.client
from typing import Any

import celeryconfig

#: How long workers have to answer the inspect broadcast.
INSPECT_TIMEOUT_S = 0.5
#: The scheduler ticks every few seconds (workers.scheduler.TICK_S); this late, it is gone.
SCHEDULER_LATE_S = 30.0
#: The outbox is drained every 5 s (celeryconfig's drain-outbox); a ticket waiting this long is stuck.
OUTBOX_LATE_S = 60.0


def check(services, *, operator: bool) -> tuple[dict[str, Any], bool]:
    """The health report and whether everything runs."""
    report: dict[str, Any] = {"redis": "down", "workers": 0}
    missing: list[str] = []
    try:
        services.store.ping()
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
            report["workers"] = len({node for nodes in consumers.values() for node in nodes})
            report["queues"] = consumers if operator else {q: len(nodes) for q, nodes in consumers.items()}
            missing += [f"a worker for the {queue} queue" for queue, nodes in consumers.items() if not nodes]
        age = services.store.scheduler_tick_age_s()
        report["scheduler"] = {"last_tick_s_ago": None if age is None else round(age, 1)}
        if age is None or age > SCHEDULER_LATE_S:
            missing.append("the scheduler (Celery beat)")
        waiting, oldest_s = services.store.outbox_backlog()
        report["outbox"] = {"waiting": waiting, "oldest_s_ago": None if oldest_s is None else round(oldest_s, 1)}
        if oldest_s is not None and oldest_s > OUTBOX_LATE_S and consumers is not None:
            missing.append(f"the outbox's drain ({waiting} tickets not queued yet, for up to {oldest_s:.0f} s)")
    if services.settings.imap_url and report["redis"] == "ok":
        status = services.store.mailbox_status()
        problem = _mailbox_problem(status, services.settings.imap_poll_s)
        report["mailbox"] = status if operator else (status or {}).get("state")
        if problem:
            missing.append(f"the mailbox ({problem})" if operator else "the mailbox")
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
    return {"status": "ok" if healthy else "unavailable", **report}, healthy


def _mailbox_problem(status: dict | None, poll_s: float) -> str | None:
    """Why the mailbox process is not taking mail (None: it is)."""
    if status is None:
        return "it never polled"
    if status["state"] != "ok":
        return f"away: {status['error']}"
    if time.time() - status["at"] > 2 * poll_s + 30:
        return f"no poll for {time.time() - status['at']:.0f} s"
    return None


def _consumers(celery) -> dict[str, list[str]]:
    """Each queue, with the workers consuming it now."""
    found: dict[str, list[str]] = {queue.name: [] for queue in celeryconfig.task_queues}
    replies = celery.control.inspect(timeout=INSPECT_TIMEOUT_S).active_queues() or {}
    for node, queues in sorted(replies.items()):
        for queue in queues or []:
            found.setdefault(queue["name"], []).append(node)
    return found


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
