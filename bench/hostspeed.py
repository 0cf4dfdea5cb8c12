"""How fast this host runs Python right now: a fixed workload, timed with nothing of ours running.

The machine is shared, and its neighbours can slow every instruction without showing up in its own
CPU figures (same-run figures swing by a third between quiet and busy hours). Timed before the stack
starts and after it stops, this says how comparable one run's figures are with another's.
"""

from __future__ import annotations

import json
import statistics
import time

#: The workload: 60 JSON round trips of a small ticket-like document, about 0.6 ms on a quiet host.
DOC = {"body": "x" * 200, "labels": list(range(50)), "scores": {"Billing": 0.1, "Technical": 0.8}}
ROUNDS = 60
SAMPLES = 400
#: Seconds between samples, so that the workload does not run the CPU flat out (no turbo, no throttle).
GAP_S = 0.002


def workload() -> None:
    for _ in range(ROUNDS):
        json.loads(json.dumps(DOC))


def measure(samples: int = SAMPLES) -> dict:
    """Median and p90 milliseconds of the workload over ``samples`` runs."""
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        workload()
        times.append((time.perf_counter() - start) * 1000.0)
        time.sleep(GAP_S)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p90_ms": round(times[int(len(times) * 0.9)], 3),
            "samples": samples}


def text(before: dict, after: dict) -> str:
    return (f"host speed: the fixed workload took {before['median_ms']} ms (median) before the run, "
            f"{after['median_ms']} ms after it; lower is faster")
