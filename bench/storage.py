"""Storage at scale: the API's POST and GET /api/tickets latency with 1,000 and with 200,000 tickets
stored (done, as after weeks of traffic), measured in one run, and Redis memory per stored ticket.

The API runs in this process (Flask's test client: the server-side cost, no network) against a
Redis of its own; the tickets are written through the store's own methods, in batches.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from smartsupport.config import Settings
from smartsupport.ticket import Ticket, Urgency, UrgencyLevel

TEXTS = ["The export fails with an error since the update", "Please send the March invoice with our VAT number",
         "Our API is down for all users, fix ASAP", "I want my personal data deleted under GDPR"]
KEY = "bench-operator-key"
SAMPLES = 300


def _fill(store, count: int, start: int) -> None:
    """``count`` done tickets, written as the pipeline would write them, 500 at a time."""
    def batch(first: int) -> None:
        tickets = [Ticket.new(body=f"{TEXTS[i % 4]} (#{i})", submitter="bench", now=time.time() - 86400)
                   for i in range(first, min(first + 500, start + count))]
        for ticket in tickets:
            store.create(ticket)
        store.save_urgencies([(t.id, Urgency(score=float(i % 100) / 100, level=UrgencyLevel.LOW))
                              for i, t in enumerate(tickets)], started=time.time())
        store.finish_tickets([(t.id, f"evt_{t.id}", (), None) for t in tickets], started=time.time())
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


def _latency(client, method: str, path: str, **kwargs) -> dict:
    headers = {"Authorization": f"Bearer {KEY}"}
    times = []
    for _ in range(20):  # warm-up: connections, caches
        getattr(client, method)(path, headers=headers, **kwargs)
    for i in range(SAMPLES):
        started = time.perf_counter()
        response = getattr(client, method)(path, headers=headers, **kwargs)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code in (200, 202), response.get_json()
    p50, p99 = np.percentile(times, [50, 99])
    return {"p50_ms": round(float(p50), 2), "p99_ms": round(float(p99), 2)}


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

    from .stack import free_ports

    with tempfile.TemporaryDirectory(prefix="smartsupport-storage-") as tmp:
        [port] = free_ports(1)
        proc = redis_server.start(port=port, data_dir=Path(tmp) / "redis")
        try:
            url = f"redis://127.0.0.1:{port}/0"
            settings = Settings.from_env({"REDIS_URL": url, "SMARTSUPPORT_DATA_DIR": tmp, "SMARTSUPPORT_API_KEYS": KEY,
                                          "SMARTSUPPORT_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                          "SMARTSUPPORT_RATE_LIMIT": "100000/second"})
            app = create_app(settings)
            client, store = app.test_client(), app.extensions["smartsupport"].store
            figures, stored = {}, 0
            base_memory = store.r.info("memory")["used_memory"]
            for target in (1_000, 200_000):
                started = time.monotonic()
                _fill(store, target - stored, stored)
                stored = target
                say(f"storage: {stored:,} tickets stored ({time.monotonic() - started:.0f} s)")
                _settle(store, say)
                memory = store.r.info("memory")["used_memory"]
                figures[stored] = {
                    "post": _latency(client, "post", "/api/tickets", json={"body": "The export fails again"}),
                    "list_urgent": _latency(client, "get", "/api/tickets?sort=urgency&limit=50"),
                    "list_done": _latency(client, "get", "/api/tickets?status=done&sort=created&limit=50"),
                    "bytes_per_ticket": round((memory - base_memory) / stored),
                }
            # The longest valid body of one repeated severity word (triage reads every match of it)
            costly = {"bug_x4900_cpu_ms": _cpu_ms(client, "bug " * 4900), "small_cpu_ms": _cpu_ms(client, TEXTS[0])}
            say(f"storage: POST CPU {costly['bug_x4900_cpu_ms']} ms for 'bug ' x 4900, {costly['small_cpu_ms']} ms "
                "for a small ticket")
            small, big = figures[1_000], figures[200_000]
            ratios = {name: round(big[name]["p99_ms"] / small[name]["p99_ms"], 2)
                      for name in ("post", "list_urgent", "list_done")}
            return {"by_tickets_stored": figures, "p99_ratio_200k_to_1k": ratios, "post_cpu": costly}
        finally:
            proc.kill()
            proc.wait(timeout=10)
