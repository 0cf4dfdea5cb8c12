"""What a request costs: large bodies count more against the rate limit, and are admitted a few at a
time, so that they can never take every core.

Each request counts ``request_cost()`` against its principal's rate limit: one, plus one for every
``COST_UNIT_BYTES`` of body, so a client's share of the API grows with the bytes it sends, not only
with its requests (a 20 KB ticket counts 3).

A request whose body is over ``LARGE_BODY_BYTES`` waits for one of a few slots shared by every API
process (a semaphore that gunicorn's master creates before it forks, see web/gunicorn_conf.py);
small requests never wait for one. Six clients posting 20 KB bodies back to back then use at most
the slots' share of the machine, and the tickets of everyone else are answered as fast as before.
A request that waits longer than ``LARGE_BODY_WAIT_S`` gets 503 with Retry-After.
"""

from __future__ import annotations

import multiprocessing
import os
import threading

from flask import g, request

from smartsupport.errors import SmartSupportError

#: Body bytes that count as one more request against the rate limit.
COST_UNIT_BYTES = 8 * 1024
#: Bodies above this size take a slot; the median ticket is a few hundred bytes.
LARGE_BODY_BYTES = 8 * 1024
#: Seconds a large request may wait for a slot before it is answered 503.
LARGE_BODY_WAIT_S = 10.0


class LargeBodiesBusy(SmartSupportError):
    """Raised when a large request found no free slot in time."""


def request_cost() -> int:
    """What the current request counts against its principal's rate limit."""
    return 1 + (request.content_length or 0) // COST_UNIT_BYTES


def slots() -> int:
    """Large bodies processed at once across the API: half the cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def shared_semaphore():
    """A semaphore for every process forked after this call (gunicorn's master calls it)."""
    return multiprocessing.BoundedSemaphore(slots())


_shared = None


def share(semaphore) -> None:
    """Use ``semaphore`` (made by the master before the fork) in this process's apps."""
    global _shared
    _shared = semaphore


def install(app) -> None:
    """Gate the app's large requests; without a master's semaphore, the slots are this process's."""
    gate = _shared if _shared is not None else threading.BoundedSemaphore(slots())
    app.extensions["smartsupport_large_bodies"] = gate

    @app.before_request
    def _admit():
        length = request.content_length
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        if (length is not None and length > LARGE_BODY_BYTES) or (length is None and chunked):
            if not gate.acquire(timeout=LARGE_BODY_WAIT_S):  # module attribute: tests shorten it
                raise LargeBodiesBusy("too many large requests at once; try again in a few seconds")
            g.large_body_slot = True

    @app.teardown_request
    def _release(exc):
        if g.pop("large_body_slot", False):
            gate.release()
