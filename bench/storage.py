"""Storage at scale: the API's POST and GET /api/tickets latency with 1,000 and with 200,000 tickets
stored (done, as after weeks of traffic), measured in one run, and Redis memory per stored ticket.

The API runs in this process (Flask's test client: the server-side cost, no network), one app per
store, each against a Redis of its own; the tickets are written through the store's own methods,
in batches. The two stores' requests alternate, round by round, so that the host's drift falls on
both alike.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from smartsupport.config import Settings
from smartsupport.store import FinishPlan
from smartsupport.ticket import Ticket, Urgency, UrgencyLevel

TEXTS = ["The export fails with an error since the update", "Please send the March invoice with our VAT number",
         "Our API is down for all users, fix ASAP", "I want my personal data deleted under GDPR"]
KEY = "bench-operator-key"
SAMPLES = 600


def _fill(store, count: int, start: int) -> None:
    """``count`` done tickets, written as the pipeline would write them, 500 at a time."""
    def batch(first: int) -> None:
        tickets = [Ticket.new(body=f"{TEXTS[i % 4]} (#{i})", submitter="bench", now=time.time() - 86400)
                   for i in range(first, min(first + 500, start + count))]
        for ticket in tickets:
            store.create(ticket)
        store.tickets.save_urgencies([(t.id, Urgency(score=float(i % 100) / 100, level=UrgencyLevel.LOW))
                                      for i, t in enumerate(tickets)], started=time.time())
        store.finish_tickets([FinishPlan(t.id, f"evt_{t.id}") for t in tickets], started=time.time())
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(batch, range(start, start + count, 500)))


def _settle(store, say) -> None:
    """Wait for the background saves the fill set off (an AOF rewrite, an RDB snapshot: forks of a
    Redis of hundreds of MB), so that the latency measured is the steady state's."""
    started = time.monotonic()
    while time.monotonic() - started < 120:
        info = store.r.info("persistence")
        if not (info.get("aof_rewrite_in_progress") or info.get("rdb_bgsave_in_progress")
                or info.get("aof_rewrite_scheduled")):
            break
        time.sleep(0.5)
    say(f"storage: background saves settled after {time.monotonic() - started:.0f} s")


def _latency(client, method: str, path: str, n: int, **kwargs) -> list[float]:
    """``n`` requests' latencies (ms), after a few to warm connections and caches."""
    headers = {"Authorization": f"Bearer {KEY}"}
    times = []
    for _ in range(5):
        getattr(client, method)(path, headers=headers, **kwargs)
    for i in range(n):
        started = time.perf_counter()
        response = getattr(client, method)(path, headers=headers, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 202), response.get_json()
    return times


#: What is timed, per store: name, method, path, request arguments.
REQUESTS = (("post", "post", "/api/tickets", {"json": {"body": "The export fails again"}}),
            ("list_urgent", "get", "/api/tickets?sort=urgency&limit=50", {}),
            ("list_done", "get", "/api/tickets?status=done&sort=created&limit=50", {}))
#: The stores' measurements alternate in this many rounds (SAMPLES in all per store and request):
#: the host's speed drifts within a minute, and a p99 taken in one go after the other moved by ±50 %.
ROUNDS = 6


def _cpu_ms(client, body: str, n: int = 20) -> float:
    """Median CPU (this process) of one POST of ``body``: the API's own cost, parsing to queueing."""
    headers, costs = {"Authorization": f"Bearer {KEY}"}, []
    for _ in range(n):
        started = time.process_time()
        assert client.post("/api/tickets", json={"body": body}, headers=headers).status_code == 202
        costs.append((time.process_time() - started) * 1000)
    return round(float(np.median(costs)), 2)


def run(say=print) -> dict:
    """Both measurements, and their ratio; every figure in the returned dict."""
    from deploy import redis_server
    from web import create_app
    from workers.celery import use_broker

    from .stack import free_ports

    with tempfile.TemporaryDirectory(prefix="smartsupport-storage-") as tmp, contextlib.ExitStack() as servers:
        clients, configs, figures = {}, {}, {}
        for stored, port in zip((1_000, 200_000), free_ports(2)):
            proc = redis_server.start(port=port, data_dir=Path(tmp) / f"redis-{stored}")
            servers.callback(_stop, proc)
            settings = Settings.from_env({
                "REDIS_URL": f"redis://127.0.0.1:{port}/0", "SMARTSUPPORT_DATA_DIR": str(Path(tmp) / f"data-{stored}"),
                "SMARTSUPPORT_API_KEYS": KEY, "SMARTSUPPORT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "SMARTSUPPORT_RATE_LIMIT": "100000/second"})
            app = create_app(settings)
            store = app.extensions["smartsupport"].store
            base_memory, started = store.r.info("memory")["used_memory"], time.monotonic()
            _fill(store, stored, 0)
            say(f"storage: {stored:,} tickets stored ({time.monotonic() - started:.0f} s)")
            _settle(store, say)
            memory = store.r.info("memory")["used_memory"]
            figures[stored] = {"bytes_per_ticket": round((memory - base_memory) / stored)}
            clients[stored], configs[stored] = app.test_client(), settings
        # Each Redis holds its tickets; the requests alternate between the two, round by round. The
        # Celery app is one per process: it follows the store measured (its broker is that Redis).
        times: dict[int, dict[str, list[float]]] = {n: {name: [] for name, *_ in REQUESTS} for n in clients}
        for _ in range(ROUNDS):
            for stored, client in clients.items():
                use_broker(configs[stored])
                for name, method, path, kwargs in REQUESTS:
                    times[stored][name] += _latency(client, method, path, SAMPLES // ROUNDS, **kwargs)
        for stored, by_name in times.items():
            for name, values in by_name.items():
                p50, p99 = np.percentile(values, [50, 99])
                figures[stored][name] = {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2)}
        # The longest valid body of one repeated severity word (triage reads every match of it)
        client = clients[1_000]
        use_broker(configs[1_000])
        costly = {"bug_x4900_cpu_ms": _cpu_ms(client, "bug " * 4900), "small_cpu_ms": _cpu_ms(client, TEXTS[0])}
        say(f"storage: POST CPU {costly['bug_x4900_cpu_ms']} ms for 'bug ' x 4900, {costly['small_cpu_ms']} ms "
            "for a small ticket")
        small, big = figures[1_000], figures[200_000]
        ratios = {name: round(big[name]["p99_ms"] / small[name]["p99_ms"], 2) for name, *_ in REQUESTS}
        return {"by_tickets_stored": figures, "p99_ratio_200k_to_1k": ratios, "post_cpu": costly, "rounds": ROUNDS}


def _stop(proc) -> None:
    proc.kill()
    proc.wait(timeout=10)
