"""What a worker process makes once (its settings, store and incident tracker) and how a stage runs."""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from typing import Callable

import redis
from kombu.exceptions import BatchPublishError, OperationalError

from smartsupport import incidents, published
from smartsupport.config import Settings
from smartsupport.errors import ConfigError, StoreUnavailable
from smartsupport.labels import LabelSet
from smartsupport.routing import Routing, RoutingSource
from smartsupport.store import TicketStore

log = logging.getLogger(__name__)
#: Redis away: our store says StoreUnavailable, publishing to the next stage says OperationalError
#: (BatchPublishError for a batch of messages; redis-py's own errors where kombu lets them through).
REDIS_AWAY = (StoreUnavailable, OperationalError, BatchPublishError, redis.ConnectionError, redis.TimeoutError)
#: Seconds between tries of a batch while Redis is away (about a minute in all).
REDIS_WAITS = (0.5, 1, 2, 4, 8, 15, 15, 15)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@lru_cache(maxsize=1)
def store() -> TicketStore:
    return TicketStore.from_url(settings().broker_url)


@lru_cache(maxsize=1)
def incident_tracker() -> incidents.IncidentTracker:
    cfg = settings()
    return incidents.IncidentTracker(store(), incidents.Policy.from_settings(cfg), webhook_urls=cfg.webhook_urls)


@lru_cache(maxsize=1)
def published_labels() -> published.Published[LabelSet]:
    """The labels the installation classifies with: the API host publishes them (smartsupport.published)."""
    return published.labels(store().shared, settings().labels_file, publish=False)


def current_labels() -> LabelSet:
    return published_labels().current()


@lru_cache(maxsize=1)
def routing_source() -> RoutingSource:
    cfg = settings()
    return RoutingSource(cfg.routing_file, labels=lambda: [label.name for label in current_labels().labels],
                         webhook_urls=cfg.webhook_urls, secret=cfg.webhook_secret, shared=store().shared)


def current_routing() -> Routing:
    """The routing in force (the file re-read when it changed)."""
    return routing_source().current()


def webhook_secrets() -> tuple[str, str]:
    """This host's webhook secrets (current, previous), else the installation's that the API keeps in
    Redis; raises ConfigError when neither is there: a host never signs with a secret of its own."""
    cfg = settings()
    if cfg.webhook_secret:
        return cfg.webhook_secret, cfg.webhook_previous_secret
    shared = store().shared.webhook_secrets()
    if shared is None:
        raise ConfigError("no webhook secret on this host: set SMARTSUPPORT_WEBHOOK_SECRET, or start the API "
                          "against this Redis once (it keeps the installation's secret there)")
    return shared


def run_stage(stage: str, step: Callable[[list[str], str | None], None], requests) -> None:
    """Run one stage's ``step`` over a batch of requests (each with a ticket id), retried while
    Redis is away (every step is safe to run twice); if it stays away, the step's tickets are left
    to the sweeper (stuck_after_s; a delivery opened for a done ticket is swept as overdue). Any
    other error fails the batch's tickets that are not done yet, with the reason."""
    ids, worker = [r.args[0] for r in requests], requests[0].hostname if requests else None
    for wait in (*REDIS_WAITS, None):
        try:
            return step(ids, worker)
        except REDIS_AWAY as exc:
            if wait is None:
                log.error("%s: Redis still away (%s); the sweeper will re-queue %d tickets", stage, exc, len(ids))
                return None
            log.warning("%s: Redis away (%s), trying again in %s s", stage, exc, wait)
            time.sleep(wait)
        except Exception as exc:
            log.exception("%s failed for a batch of %d tickets", stage, len(ids))
            fail_all(ids, f"{stage}: {type(exc).__name__}: {exc}")
            return None


def fail_all(ticket_ids: list[str], reason: str) -> None:
    """Mark each ticket failed with ``reason`` (one that is done already stays done)."""
    for tid in ticket_ids:
        try:
            store().tickets.fail(tid, reason)
        except StoreUnavailable:
            log.exception("could not mark ticket %s failed", tid)
