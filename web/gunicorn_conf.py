"""gunicorn settings for the API (`make run` uses them)."""

import sys

from prometheus_client import multiprocess

from web import admission

#: Made here, in the master, so that every worker forked from it shares the same slots.
LARGE_BODIES = admission.shared_gate()


def post_fork(server, worker) -> None:
    admission.share(LARGE_BODIES, threads=server.cfg.threads)
    # A thread waiting for the GIL gets it within 0.5 ms instead of 5: a small request is not held
    # behind a large one being parsed and scored in the same process.
    sys.setswitchinterval(0.0005)


def child_exit(server, worker) -> None:
    # Drop a dead worker's live gauges from the shared metrics directory, and free the large-body
    # slots it held (a worker killed mid-request never released them).
    multiprocess.mark_process_dead(worker.pid)
    LARGE_BODIES.reclaim(worker.pid)
