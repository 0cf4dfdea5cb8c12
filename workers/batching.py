"""Batches that grow under a backlog, and that Flower can see.

celery-batches hands the pool whatever is buffered at every ``flush_interval``. With one busy model
process that means a queue of tiny jobs (measured: 3 tickets per forward pass under a backlog of
400). This subclass holds the buffer while ``max_in_flight`` batches are running (by default one per
pool process), so the next batch takes everything that arrived meanwhile; a lone ticket still waits
at most ``flush_interval``.

celery-batches sends no task events, so Flower would not see the pipeline's stages at all: each
batch is reported as one task (received, started, succeeded or failed, with its runtime and size).
"""

from __future__ import annotations

import logging
import threading
import time
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
    _lock = threading.Lock()
    _running: dict[str, Any] | None = None  # batch id -> the pool's result, from flush to callback

    _eventer = None

    def Strategy(self, task, app, consumer):  # noqa: N802 (celery's name)
        self._eventer = consumer.event_dispatcher
        # Called at each start of the consumer, after a lost broker connection too, when Celery
        # (5.6's asynloop) has cleared the event loop's timers. celery-batches arms its flush timer
        # on its first message only: without this, no batch smaller than flush_every would ever
        # run again after a reconnect (seen with RabbitMQ restarted: tickets stuck, none failed).
        if self._tref is not None:
            self._tref.cancel()
            self._tref = None
        self._forget_discarded()
        # Requests still buffered from before stay: they run now, rather than after the visibility
        # timeout, when the broker gives their messages back (a copy may then run again: every
        # stage is safe to run twice).
        return super().Strategy(task, app, consumer)

    def _forget_discarded(self) -> None:
        """Before a restart of the consumer, the prefork pool discards the jobs its processes had not
        taken yet, without calling back (their messages come back from the broker): those batches
        no longer run. Counted as running, they would hold this task's next batches for ever."""
        with self._lock:
            running = self._running or {}
            self._running = {batch_id: result for batch_id, result in running.items() if not _discarded(result)}

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
        if len(self._running or {}) < self._limit():
            super()._do_flush()

    def _done(self, batch_id: str) -> None:
        with self._lock:
            (self._running or {}).pop(batch_id, None)

    def flush(self, requests: Collection[Request]) -> Any:
        late = [r for r in requests if r.task.acks_late]
        early = [r for r in requests if not r.task.acks_late]
        batch_id, size, started = uuid(), f"[{len(requests)} tickets]", time.monotonic()
        with self._lock:
            if self._running is None:
                self._running = {}
            self._running[batch_id] = None
        self._event("task-received", batch_id, name=self.name, args=size, kwargs="{}", root_id=batch_id,
                    parent_id=None, retries=0, eta=None, expires=None)

        def accepted(pid: int, time_accepted: float) -> None:
            self._event("task-started", batch_id, pid=pid)
            for request in early:
                request.acknowledge()

        def finished(result: Any) -> None:
            self._done(batch_id)
            self._event("task-succeeded", batch_id, result=size, runtime=time.monotonic() - started)
            for request in late:  # acknowledged only once their batch ran
                request.acknowledge()

        def failed(exc: BaseException) -> None:
            # The pool process running the batch died (the tracer catches the task's own errors):
            # back on the queue at once, as task_reject_on_worker_lost does for a plain task, rather
            # than after the visibility timeout. Every stage is safe to run twice.
            self._done(batch_id)
            self._event("task-failed", batch_id, exception=repr(exc), traceback="")
            for request in late:
                request.reject(requeue=True)

        result = self._pool.apply_async(
            run_batch, (self, [SimpleRequest.from_request(r) for r in requests]),
            accept_callback=accepted, callback=finished, error_callback=failed)
        with self._lock:
            if batch_id in self._running:  # not called back already (a pool that runs it at once)
                self._running[batch_id] = result
        return result


def _discarded(result: Any) -> bool:
    """Whether the prefork pool (billiard) dropped this job unstarted: out of its cache, or cancelled."""
    cache = getattr(result, "_cache", None)
    return getattr(result, "_cancelled", False) or (cache is not None and getattr(result, "_job", None) not in cache)


def run_batch(task: GreedyBatches, requests: list[SimpleRequest]) -> Any:
    """The batch, in the pool. celery-batches' tracer already catches the task's own errors; this
    also catches its own, because a thread pool calls no callback on an error (so the task would
    count the batch as running for ever and take no other)."""
    try:
        return apply_batches_task(task, (requests,), 0, None)
    except Exception:
        logger.exception("batch of %d %s requests failed", len(requests), task.name)
        return None
