"""Celery beat's scheduler, noting each tick in Redis so that /api/health can tell it runs, and
keeping the installation's webhook secrets there for worker hosts without them (store/shared.py)."""

from __future__ import annotations

import logging

from celery.beat import PersistentScheduler

from smartsupport.errors import StoreUnavailable

from .runtime import settings, store

log = logging.getLogger(__name__)
#: Beat wakes at least this often (Celery's default is every 5 minutes), so its mark stays fresh.
TICK_S = 5.0


class HeartbeatScheduler(PersistentScheduler):
    def tick(self, *args, **kwargs) -> float:
        wait = super().tick(*args, **kwargs)
        try:
            store().ops.mark_scheduler_tick()
            cfg = settings()
            if cfg.webhook_secret:
                store().shared.publish_webhook_secrets(cfg.webhook_secret, cfg.webhook_previous_secret)
        except StoreUnavailable:
            log.warning("could not note the scheduler's tick: Redis is away")
        return min(wait, TICK_S)
