"""Celery app and tasks of SmartSupport."""

from .celery import app

__all__ = ["app"]
