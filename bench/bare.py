"""A bare Celery app for the baseline: three no-op tasks chained a → b → c on its own queue.

It shares the product's message settings (serializer, late acks, prefetch) from celeryconfig.py,
and nothing else: no events, no ticket store. The last task counts completions in Redis, so the
driver polls a counter instead of waiting on results. ``BENCH_BARE_URL`` names its Redis database.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

import celeryconfig as product

URL = os.environ.get("BENCH_BARE_URL", "redis://127.0.0.1:6379/1")
COUNTER = "bare:done"
SHARED_SETTINGS = ("task_serializer", "result_serializer", "accept_content", "task_acks_late",
                   "task_reject_on_worker_lost", "worker_prefetch_multiplier")

app = Celery("bare", broker=URL, backend=URL)
app.conf.update({name: getattr(product, name) for name in SHARED_SETTINGS},
                task_default_queue="bare", broker_connection_retry_on_startup=True)
_counter = redis.Redis.from_url(URL)


@app.task
def a(i: int) -> int:
    """First link: nothing but the message round trip."""
    return i


@app.task
def b(i: int) -> int:
    """Second link."""
    return i


@app.task
def c(i: int) -> int:
    """Last link: counts the finished chain."""
    _counter.incr(COUNTER)
    return i
