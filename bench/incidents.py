"""What incident detection adds per ticket when 10,000 recent tickets are in the window.

A fresh redis-server (the embedded one) holds a log of RECENT earlier tickets (random unit vectors:
the cost of a comparison does not depend on the values); a tracker replays it as a worker does when
it starts, then observes real ticket embeddings in batches of 1 and of 32, timed around
``IncidentTracker.observe`` (lock, sync, comparisons, one MULTI/EXEC). Run alone: ``python -m bench.incidents``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

from deploy import redis_server
from smartsupport.incidents import IncidentTracker, Policy, Seen
from smartsupport.models import embedding_model
from smartsupport.store import TicketStore
from smartsupport.store.incidents import LOG, encode

from .load import ticket_texts
from .report import pcts

RECENT = 10_000
DIM = 384
BATCH1_TICKETS = 200
BATCH32_TICKETS = 640
BANKING_TEST = Path(__file__).resolve().parents[1] / "eval" / "data" / "banking77" / "test.csv"


def _texts() -> list[str]:
    """Distinct real questions: Banking77's test set when it is beside the checkout, else our tickets."""
    try:
        with open(BANKING_TEST, newline="", encoding="utf-8") as fh:
            texts = list(dict.fromkeys(row["text"] for row in csv.DictReader(fh)))
    except (OSError, KeyError):
        texts = list(dict.fromkeys(ticket_texts()))
    return texts[:BATCH1_TICKETS + BATCH32_TICKETS]


def run(tmp: Path) -> dict:
    port = _free_port()
    proc = redis_server.start(port=port, data_dir=tmp / "incident-redis")
    try:
        store = TicketStore.from_url(f"redis://127.0.0.1:{port}/0")
        _fill_log(store.r, RECENT)
        texts = _texts()
        vectors = embedding_model().embed(texts)
        tracker = IncidentTracker(store, Policy(recent_max=RECENT, window_s=86_400.0))
        started = time.perf_counter()
        tracker.sync()
        replay_s = time.perf_counter() - started
        window = len(tracker.recent)
        out = {"recent_tickets": window, "startup_replay_s": round(replay_s, 2)}
        # Each text once: a repeated text is an exact duplicate, which opens incidents of its own.
        for batch, (lo, hi) in ((1, (0, BATCH1_TICKETS)), (32, (BATCH1_TICKETS, len(texts)))):
            per_ticket_ms = []
            for i in range(lo, hi, batch):
                seen = [Seen(f"b{batch}-{j}", texts[j], vectors[j], "Technical", time.time())
                        for j in range(i, min(i + batch, hi))]
                t0 = time.perf_counter()
                tracker.observe(seen)
                per_ticket_ms.append((time.perf_counter() - t0) * 1000.0 / len(seen))
            out[f"batch{batch}_ms_per_ticket"] = pcts(per_ticket_ms)
        out["window_after"] = len(tracker.recent)
        out["incidents_opened"] = store.r.zcard("ss:incidents")
        out["texts"] = "banking77 test" if len(texts) > 200 else "support_tickets.csv"
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _fill_log(client: redis.Redis, n: int) -> None:
    rng = np.random.default_rng(0)
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        v = rng.standard_normal(DIM).astype(np.float32)
        v /= np.linalg.norm(v)
        pipe.xadd(LOG, {"k": "t", "id": f"old{i}", "t": repr(now - (n - i) * 0.01), "cat": "Billing",
                        "v": encode(v, np.float16), "inc": ""})
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def text(result: dict) -> str:
    b1, b32 = result["batch1_ms_per_ticket"], result["batch32_ms_per_ticket"]
    return (f"incidents at {result['recent_tickets']} recent tickets: {b1['p50']} ms per ticket at batch 1 "
            f"(p95 {b1['p95']}), {b32['p50']} ms at batch 32 (p95 {b32['p95']}); a starting worker replays "
            f"the window in {result['startup_replay_s']} s")


def measure() -> dict:
    """Run in a child process with one BLAS thread, as a worker has (workers/__init__.py): the
    setting only counts before numpy loads, and the benchmark's own process has loaded it."""
    with tempfile.TemporaryDirectory(prefix="smartsupport-incidents-") as tmp_name:
        out = Path(tmp_name) / "incidents.json"
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "bench.incidents", "--json", str(out)], env=env, check=True,
                       cwd=Path(__file__).resolve().parents[1], stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.incidents", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the figures here instead of printing them")
    args = parser.parse_args(argv)
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print(text(measure()))
        return
    with tempfile.TemporaryDirectory(prefix="smartsupport-incidents-") as tmp_name:
        result = run(Path(tmp_name))
    if args.json:
        args.json.write_text(json.dumps(result))
    else:
        print(text(result))


if __name__ == "__main__":
    main()
