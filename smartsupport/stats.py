"""Latency and throughput over recent tickets (pure: takes ticket views, returns numbers)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .store import STAGES


def latency_stats(tickets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 per stage (ms) and tickets/s between the first received and the last done."""
    stages = {}
    for stage in STAGES:
        values = [t["timings_ms"][stage] for t in tickets if stage in t["timings_ms"]]
        if values:
            p50, p95 = np.percentile(values, [50, 95])
            stages[stage] = {"p50": round(float(p50), 2), "p95": round(float(p95), 2), "n": len(values)}
    received = [t["timestamps"]["received"] for t in tickets if "received" in t["timestamps"]]
    done = [t["timestamps"]["done"] for t in tickets if "done" in t["timestamps"]]
    span = (max(done) - min(received)) if received and done else 0.0
    return {
        "count": len(tickets),
        "throughput_per_s": round(len(done) / span, 2) if span > 0 else 0.0,
        "stages": stages,
    }
