"""Celery app and tasks of SmartSupport."""

from .blas import THREADS as BLAS_THREADS  # first: before anything loads numpy
from .celery import app

__all__ = ["BLAS_THREADS", "app"]
