"""Classification while readers keep the API as busy as it will go, against without; and the first
ticket after /api/health first says 200.

Readers: READERS client threads, each in a tight loop reading the list of waiting tickets and one
waiting ticket (what a dashboard gone wild, or a client polling its pending tickets, does), with no
pause. Each round posts TICKETS tickets at once (a burst, from 8 threads) and times each ticket's
classification from the moment the burst began: tickets classified per second, and the longest
stretch in which none was classified while some waited (the issue's "never a stretch of seconds
with nothing classified").
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import load

READERS = 16
TICKETS = 96
#: Seconds the readers run before the burst, so that it meets an API already busy.
RAMP_S = 2.0


def first_ticket(api: load.Api, text: str, *, timeout_s: float = 60.0) -> dict:
    """Post one ticket and time it to done: submit→done as the client sees it, and the stages."""
    started = time.monotonic()
    sent = api.submit(text)
    if sent.ticket_id is None:
        return {"error": f"POST answered {sent.status}: {sent.error}"}
    view = None
    while time.monotonic() - started < timeout_s:
        view = api.ticket(sent.ticket_id)
        if view and view["status"] in ("done", "failed"):
            break
        time.sleep(0.02)
    return {"status": view["status"] if view else None, "seconds": round(time.monotonic() - started, 3),
            "timings_ms": view.get("timings_ms") if view else None}


def run(api: load.Api, texts: list[str], say) -> dict:
    """The two rounds, alone first; their figures and the ratio of their throughputs."""
    idle = _round(api, texts, readers=0)
    say(f"  alone: {idle['per_s']} tickets classified/s, longest stretch with none {idle['longest_gap_s']} s")
    busy = _round(api, texts, readers=READERS)
    say(f"  beside {READERS} readers ({busy['reads_per_s']} reads/s): {busy['per_s']} tickets classified/s, "
        f"longest stretch with none {busy['longest_gap_s']} s")
    return {"readers": READERS, "tickets": TICKETS, "alone": idle, "beside_readers": busy,
            "ratio": round(busy["per_s"] / idle["per_s"], 3) if idle["per_s"] else None}


def _round(api: load.Api, texts: list[str], *, readers: int) -> dict:
    load.wait_drained(api, 120, "classify round")
    stop, reads = threading.Event(), [0] * readers
    pending: list[str] = []

    def read(i: int) -> None:
        while not stop.is_set():
            try:
                api._request("GET", "/api/tickets?status=queued&limit=50")
                if pending:
                    api.ticket(pending[reads[i] % len(pending)])
            except Exception:  # an overloaded API may refuse a connection: the readers go on
                pass
            reads[i] += 1

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(readers)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(RAMP_S if readers else 0)
        reads_before, began = sum(reads), time.time()
        with ThreadPoolExecutor(8) as pool:
            sent = list(pool.map(api.submit, [f"{texts[i % len(texts)]} [{i}]" for i in range(TICKETS)]))
        pending.extend(s.ticket_id for s in sent if s.ticket_id)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            views = load.fetch(api, pending, 30)
            if all(v.get("category") for v in views.values()) and len(views) == len(pending):
                break
            time.sleep(0.5)
        ended = time.time()
        reads_during = sum(reads) - reads_before
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finished = sorted(v["timestamps"]["classify_finished"] for v in views.values()
                      if "classify_finished" in v.get("timestamps", {}))
    stretches = [b - a for a, b in zip([began, *finished], finished)]
    return {"classified": len(finished), "of": len(pending),
            "per_s": round(len(finished) / (finished[-1] - began), 2) if finished else 0.0,
            "longest_gap_s": round(max(stretches, default=0.0), 2),
            "reads_per_s": round(reads_during / max(ended - began, 1e-9), 1),
            "post_ms": _pcts([x.latency_ms for x in sent])}


def _pcts(values: list[float]) -> dict:
    ordered = sorted(values)
    return {f"p{q}": round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1) for q in (50, 95)}
