"""Load generator: realistic tickets POSTed open-loop at a fixed rate or closed-loop as fast as possible,
then every accepted ticket polled until it is done, with its stage timings."""

from __future__ import annotations

import csv
import itertools
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import urllib3

#: The /metrics samples that count open tickets.
OPEN_GAUGES = ('smartsupport_tickets{status="queued"}', 'smartsupport_tickets{status="processing"}')
TICKETS_CSV = Path(__file__).resolve().parent.parent / "eval" / "data" / "support_tickets.csv"
#: Used when eval/data/support_tickets.csv is absent: Billing, Technical, Legal, some urgent.
BUILTIN_TEXTS = (
    "I was charged twice for my subscription this month, please refund the duplicate payment.",
    "Can I get an invoice with our VAT number on it? Our accountant needs it by Friday.",
    "URGENT: our card was charged $4,800 instead of $480, we need this reversed today.",
    "How do I switch from monthly to annual billing, and is there a discount?",
    "The refund you promised three weeks ago still has not arrived on my card.",
    "Please cancel my plan at the end of the billing period and stop auto-renewal.",
    "Our payment keeps failing with 'card declined' although the bank says it is fine.",
    "Why did the price go up on our last invoice? Nobody told us about a change.",
    "Do you offer a nonprofit discount for the Team plan?",
    "We were billed for 40 seats but only have 25 users, please correct the invoice.",
    "Production is down: every API call returns 500 since the last deploy, fix ASAP!",
    "The dashboard will not load in Firefox, it just shows a blank page.",
    "Login fails with 'invalid token' for all users in our organisation right now. Critical!",
    "How do I rotate my API key without downtime?",
    "Webhooks stopped arriving at our endpoint two hours ago; orders are not being processed.",
    "The CSV export times out for reports bigger than 10,000 rows.",
    "Password reset emails never arrive, I checked the spam folder.",
    "Our mobile app crashes on startup after updating to version 4.2 on Android.",
    "Data from yesterday is missing from the analytics page, is there an outage?",
    "Can you increase the rate limit on our account? We hit 429 errors at peak.",
    "Please send us a signed copy of your Data Processing Agreement for GDPR.",
    "We received a subpoena regarding one of your users; who is your legal contact?",
    "Under GDPR article 17 I request the deletion of all my personal data.",
    "Your terms of service changed; does the new liability clause apply to existing contracts?",
    "Someone is using our trademark in their account name on your platform. Take it down urgently.",
    "We need your SOC 2 report and subprocessor list for our vendor security review.",
    "Is our data stored in the EU? Our lawyers need to confirm for compliance.",
    "Legal notice: we dispute the early termination fee in section 9 of our contract.",
    "A user posted copyrighted material of ours; this is a DMCA takedown request.",
    "Our contract renewal needs a change to the indemnification clause before signing.",
)


def ticket_texts() -> list[str]:
    """Ticket bodies from the evaluation set when present (column ``text``), else the built-in list."""
    try:
        with open(TICKETS_CSV, newline="") as fh:
            texts = [row["text"].strip() for row in csv.DictReader(fh) if row.get("text", "").strip()]
    except (OSError, KeyError, csv.Error):
        texts = []
    return texts or list(BUILTIN_TEXTS)


@dataclass
class Sent:
    """One POST: its answer and how long it took, and how late it left against its schedule; with no
    answer, why (the client's exception, e.g. ``ProtocolError: ('Connection aborted.', …)``)."""

    status: int | None
    ticket_id: str | None
    latency_ms: float
    lag_ms: float = 0.0
    error: str | None = None
    #: When it left (time.time()), to place the slow ones within the phase.
    at: float = 0.0


@dataclass
class PhaseLoad:
    """What a phase sent; filled in by its sender threads."""

    name: str
    sent: list[Sent] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0
    #: Set when the phase is cut short (Ctrl-C, an error): the sender threads stop.
    stop: threading.Event = field(default_factory=threading.Event)

    def accepted_ids(self) -> list[str]:
        """Ids of the tickets the API answered 202 for."""
        return [s.ticket_id for s in self.sent if s.status == 202 and s.ticket_id]


class Api:
    """The HTTP API with an operator key, over a pool of kept-alive connections. urllib3 itself, not
    requests: the generator shares the machine with the system it measures, so it should cost little."""

    def __init__(self, base_url: str, api_key: str, connections: int = 64) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.pool = urllib3.connection_from_url(base_url, maxsize=connections, block=False, retries=False,
                                                timeout=urllib3.Timeout(total=30))

    def _request(self, method: str, path: str, body: bytes | None = None) -> urllib3.BaseHTTPResponse:
        headers = {**self.headers, "Content-Type": "application/json"} if body is not None else self.headers
        return self.pool.request(method, path, body=body, headers=headers)

    def submit(self, text: str) -> Sent:
        """POST one ticket; the answer's status (None: no answer), id and latency."""
        body = json.dumps({"body": text}).encode()
        at, start = time.time(), time.perf_counter()
        try:
            r = self._request("POST", "/api/tickets", body)
            latency_ms = (time.perf_counter() - start) * 1000.0
            ticket_id = json.loads(r.data).get("id") if r.status == 202 else None
            return Sent(r.status, ticket_id, latency_ms, at=at)
        except (urllib3.exceptions.HTTPError, ValueError) as exc:
            return Sent(None, None, (time.perf_counter() - start) * 1000.0, error=f"{type(exc).__name__}: {exc}"[:200],
                        at=at)

    def ticket(self, ticket_id: str) -> dict | None:
        """The ticket's view; ``{"status": "missing"}`` when the API says 404; None when it could not say."""
        try:
            r = self._request("GET", f"/api/tickets/{ticket_id}")
            if r.status == 404:
                return {"id": ticket_id, "status": "missing"}
            return json.loads(r.data) if r.status == 200 else None
        except (urllib3.exceptions.HTTPError, ValueError):
            return None

    def metrics_text(self) -> str | None:
        """The /metrics page (None when it does not answer)."""
        try:
            r = self._request("GET", "/metrics")
            return r.data.decode() if r.status == 200 else None
        except urllib3.exceptions.HTTPError:
            return None


def _run_threads(load: PhaseLoad, threads: int, body: Callable[[], None], expected: int | None) -> None:
    """Run ``body`` in ``threads`` daemon threads, printing progress every 5 s until they finish."""
    workers = [threading.Thread(target=body, daemon=True, name=f"load-{i}") for i in range(threads)]
    load.started = time.time()
    for w in workers:
        w.start()
    next_report = time.monotonic() + 5
    try:
        while any(w.is_alive() for w in workers):
            time.sleep(0.2)
            if time.monotonic() >= next_report:
                next_report += 5
                _progress(load, expected)
    finally:
        load.stop.set()
    load.ended = time.time()


def _progress(load: PhaseLoad, expected: int | None) -> None:
    sent = list(load.sent)
    ok = sum(1 for s in sent if s.status == 202)
    late = sum(1 for s in sent if s.lag_ms > 10)
    of = f"/{expected}" if expected else ""
    print(f"  [{load.name}] {time.time() - load.started:4.0f}s  sent {len(sent)}{of}  202: {ok}  "
          f"errors: {len(sent) - ok}  late sends (>10 ms): {late}", flush=True)


def open_loop(api: Api, name: str, rate: float, duration_s: float, threads: int, texts: list[str]) -> PhaseLoad:
    """Send ``rate`` tickets per second for ``duration_s``, each at its scheduled time whatever the
    answers do (open loop): a send that leaves late records its lag instead of shifting the schedule."""
    load, total = PhaseLoad(name), int(rate * duration_s)
    slots, pick = itertools.count(), random.Random(name).choice
    t0 = time.perf_counter() + 0.05

    def sender() -> None:
        while (i := next(slots)) < total and not load.stop.is_set():
            due = t0 + i / rate
            if (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            lag = (time.perf_counter() - due) * 1000.0
            sent = api.submit(pick(texts))
            sent.lag_ms = lag
            load.sent.append(sent)

    _run_threads(load, threads, sender, total)
    return load


def closed_loop(api: Api, name: str, duration_s: float, threads: int, texts: list[str]) -> PhaseLoad:
    """Send as fast as ``threads`` clients can, each waiting for its answer, for ``duration_s``."""
    load, pick = PhaseLoad(name), random.Random(name).choice
    deadline = time.perf_counter() + duration_s

    def sender() -> None:
        while time.perf_counter() < deadline and not load.stop.is_set():
            load.sent.append(api.submit(pick(texts)))

    _run_threads(load, threads, sender, None)
    return load


def open_tickets(api: Api) -> int | None:
    """Tickets queued or processing in the whole system, from /metrics (None when it does not answer)."""
    text = api.metrics_text()
    if text is None:
        return None
    counts = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(OPEN_GAUGES)]
    return int(sum(counts)) if len(counts) == 2 else None


def wait_drained(api: Api, timeout_s: float, label: str) -> bool:
    """Poll until no ticket is queued or processing (True), or ``timeout_s`` passed (False)."""
    deadline, next_report, unanswered = time.monotonic() + timeout_s, time.monotonic() + 5, 0
    while (left := open_tickets(api)) != 0:
        unanswered = unanswered + 1 if left is None else 0
        if unanswered >= 5:
            raise RuntimeError("/metrics does not report smartsupport_tickets{status=queued|processing}")
        if time.monotonic() >= deadline:
            print(f"  [{label}] stopped waiting after {timeout_s:.0f}s with {left} tickets still open", flush=True)
            return False
        if time.monotonic() >= next_report:
            next_report += 5
            print(f"  [{label}] waiting for the pipeline: {left} tickets queued or processing", flush=True)
        time.sleep(1.0)
    return True


def fetch(api: Api, ids: list[str], timeout_s: float) -> dict[str, dict]:
    """Every ticket's view (``{"status": "missing"}`` for a 404), read with 12 threads; what could not
    be read within ``timeout_s`` is left out."""
    deadline = time.monotonic() + timeout_s

    def one(ticket_id: str) -> tuple[str, dict | None]:
        return ticket_id, api.ticket(ticket_id) if time.monotonic() < deadline else None

    pool = ThreadPoolExecutor(12)
    try:
        return {tid: view for tid, view in pool.map(one, ids) if view is not None}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # at once, also on Ctrl-C
