"""Pipeline metrics every process adds to in Redis, so that one /metrics scrape sees the whole system.

  ss:metrics:stage:<stage>   hash: histogram bucket -> count, plus sum and count (all processes)
  ss:metrics:webhooks        hash: attempt outcome -> count (deliveries.py counts them)
  ss:metrics:first_response_open:<team>  the same histogram of each team's time to first response,
                             in open time (routes.py counts each acknowledgement once)
"""

from __future__ import annotations

from typing import Any, Iterable

from ..ticket import STATUSES
from . import keys
from .base import Part, guarded

#: Upper bounds (ms) of the stage-latency histogram buckets kept in Redis for /metrics.
LATENCY_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
#: Upper bounds (s) of the time-to-first-response histogram, in the open time of the ticket's SLA
#: calendar: 1 m, 5 m, 15 m, 30 m, 1 h, 2 h, 4 h, 8 h, 1 d, 2 d.
FIRST_RESPONSE_BUCKETS_S = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)
#: Stage timings reported in the API: name -> (start event, end event).
STAGES = {
    "queue_wait": ("received", "classify_started"),
    "classify": ("classify_started", "classify_finished"),
    "score": ("score_started", "score_finished"),
    "notify": ("notify_started", "notify_finished"),
    "total": ("received", "done"),
}


def bucket_of(value: float, bounds: tuple[int, ...]) -> str:
    """The histogram field a value counts in: the first bound it does not exceed, else ``+Inf``."""
    return next((str(b) for b in bounds if value <= b), "+Inf")


class Metrics(Part):
    @guarded
    def count_stage_timings(self, tickets: Iterable[dict[str, float]]) -> None:
        """Add done tickets' stage timings (each ticket's timestamps, by event) to the shared
        histograms; the caller counts each ticket once."""
        pipe = self.r.pipeline(transaction=False)
        for stamps in tickets:
            for stage, (start, end) in STAGES.items():
                if start in stamps and end in stamps:
                    ms = (stamps[end] - stamps[start]) * 1000.0
                    pipe.hincrby(keys.STAGE_METRICS + stage, bucket_of(ms, LATENCY_BUCKETS_MS), 1)
                    pipe.hincrby(keys.STAGE_METRICS + stage, "count", 1)
                    pipe.hincrbyfloat(keys.STAGE_METRICS + stage, "sum", ms)
        pipe.execute()

    @guarded
    def snapshot(self, queues: Iterable[str]) -> dict[str, Any]:
        """Everything /metrics reports from Redis, in one round trip."""
        pipe = self.r.pipeline(transaction=False)
        for status in STATUSES:
            pipe.zcard(keys.status(status))
        for stage in STAGES:
            pipe.hgetall(keys.STAGE_METRICS + stage)
        pipe.hgetall(keys.WEBHOOK_METRICS)
        queues = list(queues)
        for queue in queues:
            pipe.llen(queue)
        raw = pipe.execute()
        n, m = len(STATUSES), len(STAGES)
        return {
            "statuses": dict(zip(STATUSES, raw[:n])),
            "stages": dict(zip(STAGES, raw[n:n + m])),
            "webhooks": {k: int(v) for k, v in raw[n + m].items()},
            "queues": dict(zip(queues, raw[n + m + 1:])),
        }
