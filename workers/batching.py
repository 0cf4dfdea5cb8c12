"""Batches that grow under a backlog, and that Flower can see.

celery-batches hands the pool whatever is buffered at every ``flush_interval``. With one busy model
process that means a queue of tiny jobs (measured: 3 tickets per forward pass under a backlog of
400). This subclass holds the buffer while ``max_in_flight`` batches are running (by default one per
pool process), so the next batch takes everything that arrived meanwhile; a lone ticket still waits
at most ``flush_interval``.

A broker connection that is lost and comes back restarts the worker's consumer: its timer and the
pool's pending callbacks are cleared, and buffered requests belong to the closed channel (the broker
gives their messages back). celery-batches would keep a flush timer that no longer fires and count
the batch that was running as running for ever, so the model worker would never classify again;
here each consumer start begins afresh (``Strategy`` is called again on every start).

celery-batches sends no task events, so Flower would not see the pipeline's stages at all: each
batch is reported as one task (received, started, succeeded or failed, with its runtime and size).
"""

from __future__ import annotations

import logging
import threading
import time
from queue import Queue
from typing import Any, Collection

from celery.worker.request import Request
from celery_batches import Batches, SimpleRequest
from celery_batches.trace import apply_batches_task
from kombu.utils.uuid import uuid

logger = logging.getLogger(__name__)


class GreedyBatches(Batches):
    abstract = True
    #: Batches of this task running at once; None: as many as the pool has processes (or threads).
    max_in_flight: int | None = None
    _in_flight = 0
    #: Consumer starts so far: a batch of an earlier one no longer counts as in flight.
    _generation = 0
    _lock = threading.Lock()

    _eventer = None

    def Strategy(self, task, app, consumer):  # noqa: N802 (celery's name)
        self._eventer = consumer.event_dispatcher
        with self._lock:
            self._generation += 1
            self._in_flight = 0
        if self._tref is not None:
            self._tref.cancel()
        self._tref = None  # the next request starts the flush timer on this consumer's timer
        self._buffer, self._pending = Queue(), Queue()  # the old channel's messages come back from the broker
        return super().Strategy(task, app, consumer)

    def _event(self, kind: str, batch_id: str, **fields: Any) -> None:
        """A task event for the batch as a whole (when the worker sends events, as for Flower)."""
        if self._eventer is not None and self._eventer.enabled:
            try:
                self._eventer.send(kind, uuid=batch_id, **fields)
            except Exception:  # an event is a view: never let it break the batch
                logger.debug("could not send %s for batch %s", kind, batch_id, exc_info=True)

    def _limit(self) -> int:
        return self.max_in_flight or max(1, int(getattr(self._pool, "limit", None) or 1))

    def _do_flush(self) -> None:
        if self._in_flight < self._limit():
            super()._do_flush()

    def _done(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self._in_flight -= 1

    def flush(self, requests: Collection[Request]) -> Any:
        with self._lock:
            self._in_flight += 1
            generation = self._generation
        late = [r for r in requests if r.task.acks_late]
        early = [r for r in requests if not r.task.acks_late]
        batch_id, size, started = uuid(), f"[{len(requests)} tickets]", time.monotonic()
        self._event("task-received", batch_id, name=self.name, args=size, kwargs="{}", root_id=batch_id,
                    parent_id=None, retries=0, eta=None, expires=None)

        def accepted(pid: int, time_accepted: float) -> None:
            self._event("task-started", batch_id, pid=pid)
            for request in early:
                request.acknowledge()

        def finished(result: Any) -> None:
            self._done(generation)
            self._event("task-succeeded", batch_id, result=size, runtime=time.monotonic() - started)
            for request in late:  # acknowledged only once their batch ran
                request.acknowledge()

        def failed(exc: BaseException) -> None:
            # The pool process running the batch died (the tracer catches the task's own errors):
            # back on the queue at once, as task_reject_on_worker_lost does for a plain task, rather
            # than after the visibility timeout. Every stage is safe to run twice.
            self._done(generation)
            self._event("task-failed", batch_id, exception=repr(exc), traceback="")
            for request in late:
                request.reject(requeue=True)

        return self._pool.apply_async(
            run_batch, (self, [SimpleRequest.from_request(r) for r in requests]),
            accept_callback=accepted, callback=finished, error_callback=failed)


def run_batch(task: GreedyBatches, requests: list[SimpleRequest]) -> Any:
    """The batch, in the pool. celery-batches' tracer already catches the task's own errors; this
    also catches its own, because a thread pool calls no callback on an error (so the task would
    count the batch as running for ever and take no other)."""
    try:
        return apply_batches_task(task, (requests,), 0, None)
    except Exception:
        logger.exception("batch of %d %s requests failed", len(requests), task.name)
        return None
