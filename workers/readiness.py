"""What /api/health asks each worker: the queues it consumes, and whether it can run a task now.

A prefork worker consumes its queues as soon as it starts, but hands a task only to a pool process
that has said it is up, which it says once ``worker_process_init`` (the model's warm-up,
workers.tasks) has run: until one has, the worker is *warming*. Thread and solo pools run tasks in
processes that are up already.
"""

from __future__ import annotations

from typing import Any

from celery.worker.control import inspect_command


@inspect_command()
def readiness(state) -> dict[str, Any]:
    """This worker's queues, and ``warm``: whether a pool process is ready for a task."""
    consumer = state.consumer
    task_consumer = getattr(consumer, "task_consumer", None)
    queues = [queue.name for queue in task_consumer.queues] if task_consumer is not None else []
    processes = getattr(getattr(consumer, "pool", None), "_pool", None)
    ready = getattr(processes, "_all_inqueues", None)  # prefork: the processes that said they are up
    return {"queues": queues, "warm": ready is None or len(ready) > 0}
