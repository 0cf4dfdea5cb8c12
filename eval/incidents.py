"""Incident detection on the scripted burst: 30 paraphrases of one outage shuffled among 100 unrelated
tickets (eval/data/incident_burst.json), through the real tracker on a throwaway embedded Redis."""

from __future__ import annotations

import json
import random
import socket
import tempfile
from pathlib import Path

import numpy as np
import redis

from deploy import redis_server
from smartsupport.incidents import IncidentRegistry, IncidentTracker, Policy, Seen
from smartsupport.store import TicketStore

BURST = Path(__file__).resolve().parent / "data" / "incident_burst.json"
BATCH = 8


def incident_quality(encoder, *, orders: int = 20, policy: Policy = Policy()) -> dict:
    data = json.loads(BURST.read_text())
    texts = data["outage"] + data["unrelated"]
    vectors = dict(zip(texts, encoder.embed(texts)))
    burst = set(data["outage"])
    with tempfile.TemporaryDirectory(prefix="smartsupport-eval-") as tmp, socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        proc = redis_server.start(port=port, data_dir=Path(tmp))
        try:
            runs = [_one_order(f"redis://127.0.0.1:{port}/0", texts, vectors, burst, seed, policy)
                    for seed in range(orders)]
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    recalls = [r["recall"] for r in runs]
    result = {
        "orders": orders,
        "exactly_one_incident": sum(r["incidents"] == 1 for r in runs),
        "recall_min": min(recalls), "recall_mean": float(np.mean(recalls)),
        "precision_min": min(r["precision"] for r in runs),
        "unrelated_members_max": max(r["unrelated"] for r in runs),
        "opened_events_max": max(r["opened_events"] for r in runs),
    }
    print(f"\n== Incidents: 30 paraphrases of one outage among 100 unrelated tickets, {orders} shuffled orders, "
          f"batches of {BATCH} (similarity {policy.similarity}, {policy.min_tickets} tickets) ==")
    print(f"  exactly one incident in {result['exactly_one_incident']}/{orders} orders; recall min "
          f"{result['recall_min']:.2f} mean {result['recall_mean']:.3f}; precision min {result['precision_min']:.2f} "
          f"(unrelated members at most {result['unrelated_members_max']}); incident.opened events per order at "
          f"most {result['opened_events_max']}")
    return result


def _one_order(url: str, texts: list[str], vectors: dict, burst: set[str], seed: int, policy: Policy) -> dict:
    redis.Redis.from_url(url).flushdb()
    store = TicketStore.from_url(url)
    order = list(texts)
    random.Random(seed).shuffle(order)
    seen = [Seen(f"t{i}", text, vectors[text], "Technical", 1_000.0 + i) for i, text in enumerate(order)]
    tracker = IncidentTracker(store, policy, clock=lambda: 1_200.0)
    events = []
    for i in range(0, len(seen), BATCH):
        events += tracker.observe(seen[i:i + BATCH])[1]
    registry = IncidentRegistry(store)
    incidents = registry.list()
    burst_ids = {s.ticket_id for s in seen if s.text in burst}
    largest = max(incidents, key=lambda i: i["size"]) if incidents else None
    members = set(registry.get(largest["id"], with_tickets=False)["ticket_ids"]) if largest else set()
    hits = len(members & burst_ids)
    return {"incidents": len(incidents), "recall": hits / len(burst_ids),
            "precision": hits / len(members) if members else 0.0, "unrelated": len(members - burst_ids),
            "opened_events": sum(s.endswith(":opened") for s in events)}
