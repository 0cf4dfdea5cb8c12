"""Flower's Celery app (``celery -A deploy.flower flower``): the workers' app, with Flower's
``/metrics`` behind the same basic auth as its pages.

Flower 2.2 guards its pages and API with ``FLOWER_BASIC_AUTH`` but serves ``/metrics`` (the
workers' host names, task names and counts) to anyone, and has no option to change that. Loading
this module as the app, before Flower builds its handlers, puts tornado's ``authenticated`` check on
that handler: without the password it answers 401, as the pages do. ``/healthcheck`` ("OK") stays open.
"""

from __future__ import annotations

import tornado.web
from flower.views.monitor import Metrics

from workers.celery import app

__all__ = ["app", "protect_metrics"]


def protect_metrics() -> None:
    """Require Flower's login on ``/metrics`` (once per process)."""
    if not getattr(Metrics.get, "_smartsupport_protected", False):
        Metrics.get = tornado.web.authenticated(Metrics.get)
        Metrics.get._smartsupport_protected = True


protect_metrics()
