"""Triage inside Request Tracker: from a ticket created in RT to SmartSupport's fields written back
on it (docs/helpdesk.md), at 10 tickets/s.

A private RT 5 (deploy/rt_instance.py, four server processes) and the whole system as ``make run``
starts it with SMARTSUPPORT_HELPDESK_URL pointing there, so its helpdesk program polls RT (every
POLL_S) and its worker writes back. Tickets are created through RT's REST2 API on a schedule (open
loop, several clients); a ticket counts as created when RT answers 201, and as written back when the
worker has written queue, priority, the three fields and the comment (the store marks the ticket
then: ``ss:helpdesk:commented``, read every 50 ms). Skipped, saying why, where RT is not installed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from deploy import rt_instance

from .report import pcts
from .stack import Stack

RATE_PER_S = 10
TICKETS = 100
CLIENTS = 8
POLL_S = 1.0
RT_WORKERS = 4
#: Longest wait for the last write-back once every ticket is created.
DRAIN_S = 180
TEXTS = ("Where is the invoice for last month? We were charged twice.",
         "Production is down, every checkout fails with error 500, fix ASAP",
         "Please send me a copy of the data processing agreement (GDPR)",
         "The CSV export is slow since the update",
         "How do I change the billing address on my account?")


def run(tmp: Path, say) -> dict:
    """created→written-back p50/p95/p99 in ms over TICKETS created at RATE_PER_S; ``{"skipped": why}``
    without RT."""
    if not rt_instance.installed():
        say(f"helpdesk: skipped ({rt_instance.INSTALL_HINT})")
        return {"skipped": rt_instance.INSTALL_HINT}
    with contextlib.ExitStack() as cleanup:
        say(f"helpdesk: a private Request Tracker ({RT_WORKERS} server processes)")
        rt = rt_instance.RequestTracker(workers=RT_WORKERS)
        cleanup.callback(rt.close)
        data = tmp / "helpdesk-data"
        data.mkdir(parents=True)
        (data / "helpdesk_password").write_text(rt_instance.CONNECTOR_PASSWORD + "\n")
        system = Stack.start(data, extra_env={
            "SMARTSUPPORT_HELPDESK_URL": f"rt://{rt_instance.CONNECTOR}@127.0.0.1:{rt.port}",
            "SMARTSUPPORT_HELPDESK_POLL_S": str(POLL_S)})
        cleanup.callback(system.proc.stop)
        say(f"helpdesk: the stack healthy after {system.wait_healthy():.1f}s; {TICKETS} tickets created in RT "
            f"at {RATE_PER_S}/s, the helpdesk program polling every {POLL_S} s")
        watcher = _Watcher(system.redis_url)
        created, create_ms, send_s = _create(rt)
        written = watcher.wait(set(created), DRAIN_S)
        delays = [(written[n] - created[n]) * 1000.0 for n in created if n in written]
        result = {"tickets": TICKETS, "rate_per_s": RATE_PER_S, "poll_s": POLL_S, "rt_workers": RT_WORKERS,
                  "created": len(created), "written_back": len(delays), "send_s": round(send_s, 1),
                  "create_ms": pcts(create_ms), "created_to_written_back_ms": pcts(delays),
                  **_legs(watcher.store, created, written)}
        say(text(result))
        return result


def _legs(store, created: dict[str, float], written: dict[str, float]) -> dict[str, dict]:
    """Where the time went, per written-back ticket: RT's answer → the helpdesk program made the
    SmartSupport ticket, its pipeline (submit→done), done → the write-back done."""
    legs: dict[str, list[float]] = {"created_to_taken_ms": [], "pipeline_ms": [], "done_to_written_back_ms": []}
    for number, at in written.items():
        view = store.views.get(store.helpdesk.ticket_of(number))
        total_s = view["timings_ms"].get("total", 0.0) / 1000.0
        legs["created_to_taken_ms"].append((view["created_at"] - created[number]) * 1000.0)
        legs["pipeline_ms"].append(total_s * 1000.0)
        legs["done_to_written_back_ms"].append((at - view["created_at"] - total_s) * 1000.0)
    return {name: pcts(values) for name, values in legs.items()}


def text(result: dict) -> str:
    if "skipped" in result:
        return f"helpdesk: skipped ({result['skipped']})"
    ms = result["created_to_written_back_ms"]
    return (f"helpdesk: created in RT → written back p50 {ms['p50']} ms, p95 {ms['p95']} ms "
            f"({result['written_back']}/{result['created']} written back; created at {result['rate_per_s']}/s "
            f"in {result['send_s']} s, RT's create p50 {result['create_ms']['p50']} ms; polling every "
            f"{result['poll_s']} s); p50 of each leg: RT → taken {result['created_to_taken_ms']['p50']} ms, "
            f"pipeline {result['pipeline_ms']['p50']} ms, done → written back "
            f"{result['done_to_written_back_ms']['p50']} ms")


def _create(rt: rt_instance.RequestTracker) -> tuple[dict[str, float], list[float], float]:
    """Create TICKETS in RT, the i-th due at i / RATE_PER_S: {RT id: the time RT answered},
    each create's milliseconds, and the seconds sending took."""
    created: dict[str, float] = {}
    create_ms: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()

    def one(i: int) -> None:
        time.sleep(max(0.0, start + i / RATE_PER_S - time.monotonic()))  # the schedule (open loop)
        sent = time.time()
        number = rt.create(f"Bench {i}", f"{TEXTS[i % len(TEXTS)]} (ref {i})")
        answered = time.time()
        with lock:
            created[str(number)] = answered
            create_ms.append((answered - sent) * 1000.0)

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(one, range(TICKETS)))
    return created, create_ms, time.monotonic() - start


class _Watcher:
    """When each RT ticket's write-back was done: the store marks the SmartSupport ticket (whose
    binding names the RT ticket) once queue, priority, fields and comment are written."""

    def __init__(self, redis_url: str) -> None:
        from smartsupport.store import TicketStore
        from smartsupport.store.helpdesk import COMMENTED

        self.store, self.key = TicketStore.from_url(redis_url), COMMENTED
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="helpdesk-watcher")
        self.thread.start()

    def _watch(self) -> None:
        r = self.store.helpdesk.r
        while not self.stop.wait(0.05):
            now = time.time()  # wall clock: compared with the tickets' own created_at
            for ticket_id in r.smembers(self.key):
                self.seen.setdefault(ticket_id, now)

    def wait(self, numbers: set[str], timeout_s: float) -> dict[str, float]:
        """{RT id: the time its write-back was seen} once all of ``numbers`` are, or after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        found: dict[str, float] = {}
        try:
            while time.monotonic() < deadline and len(found) < len(numbers):
                for number in numbers - set(found):
                    ticket_id = self.store.helpdesk.ticket_of(number)
                    if ticket_id in self.seen:
                        found[number] = self.seen[ticket_id]
                time.sleep(0.2)
        finally:
            self.stop.set()
            self.thread.join(timeout=5)
        return found
