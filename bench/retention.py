"""A simulated week at 10,000 tickets a day, the clock moved rather than waited: Redis memory by day
once the retention period has passed.

Each day's tickets are written through the store's own methods, as the pipeline leaves them (done,
scored; one in ten urgent, its webhook delivery tried once and dead-lettered, with its log); at the
end of each day the retention task (``workers.tasks.expire_tickets``) runs with the clock at that
time. With two days of retention the store should hold two days of tickets from day 3 on, and its
memory stop growing. A Redis of its own, started and stopped here.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

from smartsupport.config import Settings
from smartsupport.delivery import DeadLetter
from smartsupport.store import FinishPlan
from smartsupport.ticket import Ticket, Urgency, UrgencyLevel

from .storage import TEXTS

DAY = 86400.0
PER_DAY = 10_000
DAYS = 7
RETENTION_DAYS = 2
HOOK = "http://127.0.0.1:9/hook"  # never called: the attempts are written, not made


def _day(store, day_start: float) -> None:
    """PER_DAY tickets spread over the day that starts at ``day_start``, 500 per batch."""
    def batch(first: int) -> None:
        at = [day_start + i * DAY / PER_DAY for i in range(first, min(first + 500, PER_DAY))]
        tickets = [Ticket.new(body=f"{TEXTS[i % 4]} (#{first + i})", submitter="bench", now=t)
                   for i, t in enumerate(at)]
        for ticket in tickets:
            store.create(ticket)
        urgent = {t.id for i, t in enumerate(tickets) if (first + i) % 10 == 0}
        store.tickets.save_urgencies([(t.id, Urgency(score=0.8 if t.id in urgent else 0.1, level=UrgencyLevel.LOW))
                                      for t in tickets], started=at[-1])
        store.finish_tickets([FinishPlan(t.id, f"evt_{t.id}", (HOOK,) if t.id in urgent else ()) for t in tickets],
                             started=at[-1], now=at[-1])
        for ticket_id in urgent:
            store.deliveries.record_attempt(ticket_id, HOOK, {"at": at[-1], "status_code": 503, "error": "HTTP 503"},
                                            DeadLetter("HTTP 503"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(batch, range(0, PER_DAY, 500)))


def run(say=print) -> dict:
    """The week, day by day: tickets stored and Redis memory after each day's retention run."""
    from deploy import redis_server
    from smartsupport.store import TicketStore
    from workers import tasks

    from .stack import free_ports

    with tempfile.TemporaryDirectory(prefix="smartsupport-week-") as tmp:
        [port] = free_ports(1)
        proc = redis_server.start(port=port, data_dir=Path(tmp) / "redis")
        try:
            url = f"redis://127.0.0.1:{port}/0"
            cfg = Settings.from_env({"REDIS_URL": url, "SMARTSUPPORT_DATA_DIR": tmp,
                                     "SMARTSUPPORT_RETENTION_DAYS": str(RETENTION_DAYS)})
            store = TicketStore.from_url(url)
            base = store.r.info("memory")["used_memory"]
            start, days = time.time() - DAYS * DAY, []
            with mock.patch.object(tasks, "store", lambda: store), mock.patch.object(tasks, "settings", lambda: cfg):
                for day in range(DAYS):
                    started = time.monotonic()
                    _day(store, start + day * DAY)
                    written = time.monotonic() - started
                    deleted = tasks.expire_tickets.apply(kwargs={"now": start + (day + 1) * DAY}).get()
                    days.append({"day": day + 1, "stored": store.r.zcard("ss:tickets:created"), "deleted": deleted,
                                 "used_memory_mb": round(store.r.info("memory")["used_memory"] / 2**20, 1),
                                 "write_s": round(written, 1),
                                 "retention_s": round(time.monotonic() - started - written, 1)})
                    say(f"week: day {day + 1}: {days[-1]['stored']:,} tickets stored after deleting {deleted:,}, "
                        f"Redis {days[-1]['used_memory_mb']} MB (written in {days[-1]['write_s']} s, "
                        f"retention {days[-1]['retention_s']} s)")
            settled = [d["used_memory_mb"] for d in days[RETENTION_DAYS:]]
            held = [d["stored"] for d in days[RETENTION_DAYS:]]
            result = {"per_day": PER_DAY, "retention_days": RETENTION_DAYS, "days": days,
                      "memory_max_over_first_settled_day": round(max(settled) / settled[0], 3),
                      "bytes_per_stored_ticket": round((days[-1]["used_memory_mb"] * 2**20 - base) / held[-1])}
            say(f"week: from day {RETENTION_DAYS + 1} on Redis holds {min(held):,}–{max(held):,} tickets in "
                f"{min(settled)}–{max(settled)} MB "
                f"(largest / day {RETENTION_DAYS + 1}: {result['memory_max_over_first_settled_day']}), "
                f"{result['bytes_per_stored_ticket']:,} bytes per stored ticket")
            return result
        finally:
            proc.kill()
            proc.wait(timeout=10)
