"""Celery app and tasks of SmartSupport."""

import os

# numpy's BLAS (incident comparisons) reads this when it loads: its threads, like torch's, spin
# against the other processes on a small machine (a 10k x 384 comparison: 8 ms with 2, 0.4 ms with 1).
os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("SMARTSUPPORT_TORCH_THREADS", "1"))

from .celery import app  # noqa: E402

__all__ = ["app"]
