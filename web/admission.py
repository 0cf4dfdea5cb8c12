"""What a request costs: large bodies count more against the rate limit, and are admitted a few at a
time, so that they can never take every core.

Each request counts ``request_cost()`` against its principal's rate limit: one, plus one for every
``COST_UNIT_BYTES`` of body, so a client's share of the API grows with the bytes it sends, not only
with its requests (a 20 KB ticket counts 3).

A request whose body is over ``LARGE_BODY_BYTES`` waits for one of a few slots shared by every API
process (a semaphore that gunicorn's master creates before it forks, see web/gunicorn_conf.py);
small requests never wait for one. A slot also rests after each large request, seven times as long
as the request took once its body was read (``LARGE_BODY_DUTY``, at most ``MAX_REST_S``): large
bodies, however many clients send them back to back, get at most an eighth of the slots' time, and
the tickets of everyone else are answered almost as fast as before (docs/measurements.md: the
costly-bodies rows).
A request that waits longer than ``LARGE_BODY_WAIT_S`` gets 503 with Retry-After. Only requests
with a valid key are admitted (the others get 401 without their body being read), a body over the
API's limit is refused (413) before anything is taken, and a body is read before its request takes
a slot: an upload that is slow, cut off or too long holds no slot. Whatever way a request ends,
teardown gives back what it took.

A request waiting for a slot holds one of its API process's threads. So each process lets at most
half its threads carry large requests (waiting or being processed); one more gets 503 at once.
However many large uploads clients start together, the other half of the threads stay free for
everyone else.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

from flask import g, request
from werkzeug.exceptions import RequestEntityTooLarge

from smartsupport.errors import SmartSupportError

#: Body bytes that count as one more request against the rate limit.
COST_UNIT_BYTES = 8 * 1024
#: Bodies above this size take a slot; the median ticket is a few hundred bytes.
LARGE_BODY_BYTES = 8 * 1024
#: Seconds a large request may wait for a slot before it is answered 503.
LARGE_BODY_WAIT_S = 10.0
#: The share of its time a slot spends on large requests, at most: after one that took t seconds
#: once its body was read, the slot rests t * (1 - duty) / duty before the next (a slow upload
#: costs the machine nothing and earns no rest; the store's writes and their fsync count). At a
#: third, six clients of 20 KB bodies still slowed the median small POST by 1.3-1.4x; at an eighth
#: by 1.1x (measured side by side, docs/measurements.md). An eighth of one slot on this 2-core
#: machine is still about 30 such tickets a second.
LARGE_BODY_DUTY = 1 / 8
#: The longest rest, whatever a request cost.
MAX_REST_S = 1.0
#: An API process's threads where gunicorn does not say (deploy/cli.py gives each process 8).
DEFAULT_THREADS = 8


class LargeBodiesBusy(SmartSupportError):
    """Raised when a large request found no free slot in time."""


def request_cost() -> int:
    """What the current request counts against its principal's rate limit."""
    return 1 + (request.content_length or 0) // COST_UNIT_BYTES


def slots() -> int:
    """Large bodies processed at once across the API: half the cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


class Gate:
    """``n`` slots for large requests, each resting after use (see LARGE_BODY_DUTY). Made of
    multiprocessing primitives: processes forked after it share it. A slot held by a process that
    died comes back with ``reclaim`` (gunicorn's master calls it for each worker that exits)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._slots = multiprocessing.BoundedSemaphore(n)
        self._lock = multiprocessing.Lock()
        self._free_at = multiprocessing.RawArray("d", n)  # monotonic time a slot is rested; inf: taken
        self._holder = multiprocessing.RawArray("q", n)  # pid of the process holding a slot; 0: none

    def acquire(self, timeout: float) -> int | None:
        """A slot's number once one is free and rested, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        if not self._slots.acquire(timeout=timeout):
            return None
        with self._lock:  # a free slot exists: take the one rested soonest
            slot = min(range(self.n), key=lambda i: self._free_at[i])
            free_at, self._free_at[slot], self._holder[slot] = self._free_at[slot], float("inf"), os.getpid()
        rest = free_at - time.monotonic()
        if rest > deadline - time.monotonic():  # rests are short (MAX_REST_S): only near the deadline
            self._put_back(slot, free_at)
            return None
        if rest > 0:
            time.sleep(rest)
        return slot

    def release(self, slot: int, busy_s: float = 0.0) -> None:
        """Give ``slot`` back after a request that held it ``busy_s`` seconds (its body read); it rests
        meanwhile."""
        rest = min(MAX_REST_S, max(0.0, busy_s) * (1 - LARGE_BODY_DUTY) / LARGE_BODY_DUTY)
        self._put_back(slot, time.monotonic() + rest)

    def reclaim(self, pid: int) -> int:
        """Free the slots a dead process ``pid`` held; how many there were."""
        with self._lock:
            held = [i for i in range(self.n) if self._holder[i] == pid and self._free_at[i] == float("inf")]
            for i in held:
                self._free_at[i], self._holder[i] = time.monotonic(), 0
        for _ in held:
            self._slots.release()
        return len(held)

    def _put_back(self, slot: int, free_at: float) -> None:
        with self._lock:
            self._free_at[slot], self._holder[slot] = free_at, 0
        self._slots.release()


def shared_gate() -> Gate:
    """The large-body slots of every process forked after this call (gunicorn's master calls it)."""
    return Gate(slots())


class InFlight:
    """How many large requests this process carries, waiting for a slot or holding one; at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit, self.count = limit, 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1


_shared = None
_threads = DEFAULT_THREADS


def share(gate: Gate, *, threads: int = DEFAULT_THREADS) -> None:
    """Use ``gate`` (made by the master before the fork) in this process's apps, whose server runs
    ``threads`` threads."""
    global _shared, _threads
    _shared, _threads = gate, threads


def install(app) -> None:
    """Gate the app's large requests; without a master's semaphore, the slots are this process's."""
    gate = _shared if _shared is not None else Gate(slots())
    in_flight = InFlight(max(1, _threads // 2))
    app.extensions["smartsupport_large_bodies"] = gate
    app.extensions["smartsupport_large_in_flight"] = in_flight

    @app.before_request
    def _admit():
        if not _large(request):
            return
        if (request.content_length or 0) > (app.config.get("MAX_CONTENT_LENGTH") or float("inf")):
            raise RequestEntityTooLarge()  # refused before anything is taken
        if app.extensions["smartsupport"].keys.identify(request.headers.get("Authorization")) is None:
            return  # the API answers 401 without reading the body: nothing to admit
        if not in_flight.enter():
            raise LargeBodiesBusy("too many large requests at once; try again in a few seconds")
        g.large_in_flight = True
        # The body is read before a slot is taken: a slow upload (or one that is cut off, or too
        # long) holds only this thread, of the few in_flight allows, never a slot everyone shares.
        request.get_data(cache=True)
        slot = gate.acquire(timeout=LARGE_BODY_WAIT_S)  # module attribute: tests shorten it
        if slot is None:
            raise LargeBodiesBusy("too many large requests at once; try again in a few seconds")
        g.large_body_slot = (slot, time.monotonic())  # what follows (parsing, the store's writes) is its cost

    @app.teardown_request
    def _release(exc):
        held = g.pop("large_body_slot", None)
        if held is not None:
            slot, since = held
            gate.release(slot, time.monotonic() - since)
        if g.pop("large_in_flight", False):
            in_flight.leave()


def _large(req) -> bool:
    """Whether ``req`` declares a large body, or one of unknown length (chunked)."""
    length = req.content_length
    chunked = "chunked" in req.headers.get("Transfer-Encoding", "").lower()
    return (length is not None and length > LARGE_BODY_BYTES) or (length is None and chunked)
