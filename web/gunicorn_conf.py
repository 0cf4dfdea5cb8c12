"""gunicorn settings for the API (`make run` uses them)."""

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    # Drop a dead worker's live gauges from the shared metrics directory.
    multiprocess.mark_process_dead(worker.pid)
