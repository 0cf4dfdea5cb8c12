"""Thin tasks: load by id, call one domain function, save.

The three stages of the chain, classify → score → notify, are batched tasks (celery-batches), each
on its queue: under a backlog one run takes a whole batch, with one model forward pass (classify)
and a few Redis round trips for all of it; alone, a ticket waits at most a few milliseconds. Each
stage sends its tickets on to the next. Every stage is safe to run twice (late acks redeliver after
a crash): a stage whose result is stored is skipped, and a webhook delivery is opened at most once
per endpoint. While Redis is away a stage waits for it (REDIS_WAITS), then leaves its tickets to
the sweeper; any other error fails the batch's tickets that are not done yet, with the reason.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from typing import Callable, Iterable

import numpy as np
import redis
from celery import Task
from kombu import Producer
from kombu.exceptions import BatchPublishError, OperationalError
from celery.signals import worker_process_init

from smartsupport import incidents, notify, urgency
from smartsupport.classify import Classifier
from smartsupport.config import Settings
from smartsupport.errors import StoreUnavailable, WebhookFailed, WebhookRejected
from smartsupport.store import TicketStore
from smartsupport.ticket import Ticket

from .batching import GreedyBatches
from .celery import app

log = logging.getLogger(__name__)
BATCH_SIZE = 32
BATCH_WAIT_S = 0.01
#: score and notify: cheap per ticket, so a batch is only a few Redis round trips.
STAGE_BATCH_SIZE = 64
STAGE_WAIT_S = 0.005
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


class _Model:
    """This process's classifier, rebuilt when the labels file changes and refreshed with corrections,
    and the semantic severity estimator that shares its embedding model."""

    classifier: Classifier | None = None
    severity: urgency.SemanticSeverity | None = None
    labels_mtime: float | None = None
    corrections_version = -1

    @classmethod
    def current(cls) -> Classifier:
        cfg = settings()
        mtime = os.stat(cfg.labels_file).st_mtime if cfg.labels_file else None
        if cls.classifier is None or mtime != cls.labels_mtime:
            cls.classifier, cls.labels_mtime, cls.corrections_version = Classifier.from_settings(cfg), mtime, -1
            encoder = getattr(cls.classifier, "encoder", None)  # the nli backend has none
            cls.severity = urgency.SemanticSeverity(encoder) if encoder else None
        version = store().corrections_version()
        if version != cls.corrections_version:
            cls.classifier.set_corrections(store().corrections())
            cls.corrections_version = version
        return cls.classifier

    @classmethod
    def classify(cls, texts: list[str]) -> tuple[list, list[float | None], np.ndarray | None]:
        """Categories, semantic severities and embeddings, from one forward pass over the batch."""
        classifier = cls.current()
        if cls.severity is None:
            return classifier.classify_texts(texts), [None] * len(texts), None
        features = classifier.features(texts)
        vectors = features[:, :classifier.dim]  # the embeddings; any columns after are the classifier's own
        return classifier.classify_features(features), [float(v) for v in cls.severity.of_vectors(vectors)], vectors


@lru_cache(maxsize=1)
def incident_tracker() -> incidents.IncidentTracker:
    cfg = settings()
    return incidents.IncidentTracker(store(), incidents.Policy.from_settings(cfg), webhook_urls=cfg.webhook_urls)


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    # Load the model when the process starts, not on the first ticket.
    try:
        _Model.current()
    except StoreUnavailable:
        Classifier.from_settings(settings())


def _run_stage(stage: str, step: Callable[[list[str], str | None], None], requests) -> None:
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
            for tid in ids:
                try:
                    store().fail(tid, f"{stage}: {type(exc).__name__}: {exc}")
                except StoreUnavailable:
                    log.exception("could not mark ticket %s failed", tid)
            return None


@app.task(base=GreedyBatches, flush_every=BATCH_SIZE, flush_interval=BATCH_WAIT_S)
def classify_ticket(requests) -> None:
    _run_stage("classify", _classify, requests)


def _classify(ticket_ids: list[str], worker: str | None) -> None:
    s = store()
    # A few round trips for the whole batch, not a few per ticket.
    ids, tickets = s.start_classifying(ticket_ids, worker=worker)
    todo = [t.id for t in tickets]
    if tickets:
        started = time.perf_counter()
        try:
            categories, severities, vectors = _Model.classify([t.text for t in tickets])
        except Exception as exc:  # the model failed: say so on every ticket of the batch
            log.exception("classification failed for %d tickets", len(todo))
            for tid in todo:
                s.fail(tid, f"classify: {type(exc).__name__}: {exc}")
            return
        log.info("classified a batch of %d in %.0f ms", len(todo), (time.perf_counter() - started) * 1000)
        if vectors is not None and settings().incidents:
            _observe_incidents(tickets, vectors, categories)
        s.save_categories(zip(todo, categories, severities))
    _send_on(score_ticket, [(tid,) for tid in ids])


def _observe_incidents(tickets: list[Ticket], vectors: np.ndarray, categories: list) -> None:
    """Before the categories are saved: a crash in between redoes both, and a decided ticket is
    recognised, so no ticket joins twice or is missed. Incidents are a view over the tickets: if
    detection itself breaks, the tickets go on without it (logged), only Redis being away stops them."""
    seen = [incidents.Seen(t.id, t.text, v, c.label, t.created_at) for t, v, c in zip(tickets, vectors, categories)]
    try:
        _, events = incident_tracker().observe(seen)
    except StoreUnavailable:
        raise
    except Exception:
        log.exception("incident detection failed for a batch of %d tickets; they go on without it", len(seen))
        return
    _send_on(deliver_webhook, [(subject, url) for subject in events for url in settings().webhook_urls])


@app.task(base=GreedyBatches, flush_every=STAGE_BATCH_SIZE, flush_interval=STAGE_WAIT_S, max_in_flight=1)
def score_ticket(requests) -> None:
    _run_stage("score", _score, requests)


def _score(ticket_ids: list[str], worker: str | None) -> None:
    s, started = store(), time.time()
    ids, todo = s.to_score(ticket_ids)
    results, failed = [], set()
    for ticket, severity in todo:
        try:
            results.append((ticket.id, urgency.score(ticket, severity=severity)))
        except Exception as exc:  # this ticket only
            log.exception("scoring ticket %s failed", ticket.id)
            s.fail(ticket.id, f"score: {type(exc).__name__}: {exc}")
            failed.add(ticket.id)
    s.save_urgencies(results, started=started, worker=worker)
    _send_on(notify_team, [(tid,) for tid in ids if tid not in failed])


@app.task(base=GreedyBatches, flush_every=STAGE_BATCH_SIZE, flush_interval=STAGE_WAIT_S, max_in_flight=1)
def notify_team(requests) -> None:
    _run_stage("notify", _notify, requests)


def _notify(ticket_ids: list[str], worker: str | None) -> None:
    s, cfg, started = store(), settings(), time.time()
    plans = []
    for tid, (ticket_urgency, incident) in s.to_notify(ticket_ids).items():
        if ticket_urgency is None:
            s.fail(tid, "notify: the ticket has no urgency")
            continue
        covered = incident if cfg.incident_covers_webhooks and incident else None
        urgent = not covered and notify.should_notify(ticket_urgency["score"], threshold=cfg.urgency_threshold)
        plans.append((tid, notify.event_id_for(tid), tuple(cfg.webhook_urls) if urgent else (), covered))
    _send_on(deliver_webhook, s.finish_tickets(plans, started=started, worker=worker))


def _send_on(task: Task, arguments: list[tuple]) -> None:
    """One message to ``task`` per tuple of arguments, all published in one Redis round trip."""
    if not arguments:
        return
    with app.producer_or_acquire() as producer, producer.batch():
        for args in arguments:
            task.apply_async(args, producer=producer)


@app.task(bind=True, autoretry_for=(StoreUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=None)
def deliver_webhook(self: Task, ticket_id: str, url: str, not_before: float | None = None) -> str:
    """POST one event to one endpoint; on a retryable failure, schedule the next attempt. ``ticket_id``
    is the event's subject: a ticket, or an incident event (``incident:<id>:event:<name>``)."""
    s, cfg = store(), settings()
    if not_before is not None and not_before - time.time() > 0.05:
        # Waiting for the next attempt in hops shorter than the visibility timeout, so Redis never
        # hands a waiting message to a second worker (celery #3270, #4400). A hop is no attempt.
        hop = min(not_before - time.time(), cfg.retry_hop_s)
        self.signature_from_request(countdown=hop).apply_async()
        return ticket_id
    state = s.delivery(ticket_id, url)
    if state is None or state["status"] != "pending":
        s.forget_overdue(ticket_id, url)  # the sweeper need not send it again either
        return ticket_id  # delivered or given up already: a redelivered message
    if url in s.disabled_endpoints():
        s.record_attempt(ticket_id, url, {"at": time.time(), "status_code": None,
                                          "error": "endpoint disabled (it answered 410 Gone)"}, status="failed")
        return ticket_id
    payload = notify.payload_for(s, ticket_id, event_id=state["event_id"])
    try:
        attempt = notify.post_webhook(url, payload, secret=cfg.webhook_secret, timeout_s=cfg.webhook_timeout_s)
    except WebhookRejected as exc:
        s.record_attempt(ticket_id, url, exc.attempt, status="failed")
        if exc.attempt["status_code"] == 410:
            s.disable_endpoint(url, f"410 Gone for event {state['event_id']}")
        return ticket_id
    except WebhookFailed as exc:
        number = int(state.get("attempts", 0)) + 1 - int(state.get("round_start", 0))
        last = number >= cfg.webhook_max_attempts
        s.record_attempt(ticket_id, url, exc.attempt, status="failed" if last else "pending")
        if last:
            s.bury(ticket_id, url, state["event_id"], exc.attempt.get("error"))
            return ticket_id
        delay = exc.retry_after_s if exc.retry_after_s is not None else notify.compute_backoff(
            number, base_s=cfg.webhook_backoff_base_s, factor=cfg.webhook_backoff_factor,
            max_s=cfg.webhook_backoff_max_s)
        s.expect_delivery(ticket_id, url, at=time.time() + delay)
        raise self.retry(exc=exc, countdown=min(delay, cfg.retry_hop_s),
                         kwargs={**self.request.kwargs, "not_before": time.time() + delay})
    s.record_attempt(ticket_id, url, attempt, status="delivered")
    return ticket_id


#: After this many re-queues a stuck ticket is failed, with the reason, for an operator to look at.
MAX_SWEEPS = 3


@app.task
def sweep_stuck_tickets() -> int:
    """Re-queue tickets stuck in queued/processing and overdue webhook deliveries (their message
    was lost); returns how many."""
    s, cfg = store(), settings()
    if not s.sweep_lock(ttl_s=max(1, cfg.stuck_after_s // 4)):
        return 0  # another worker swept a moment ago
    requeued = 0
    for ticket_id in s.stuck(older_than_s=cfg.stuck_after_s):
        if s.count_sweep(ticket_id) > MAX_SWEEPS:
            s.fail(ticket_id, f"stuck: still unfinished after {MAX_SWEEPS} re-queues")
            continue
        log.warning("re-queueing stuck ticket %s", ticket_id)
        route_ticket(s.load(ticket_id))
        requeued += 1
    # A delivery whose message was lost (a worker killed between taking it and recording it).
    for ticket_id, url in s.overdue_deliveries(older_than_s=cfg.stuck_after_s):
        log.warning("re-queueing the overdue delivery of ticket %s to %s", ticket_id, url)
        s.expect_delivery(ticket_id, url, at=time.time())
        deliver_webhook.delay(ticket_id, url)
        requeued += 1
    return requeued


def route_ticket(ticket: Ticket) -> str:
    """Start the pipeline for a stored ticket: classify (batched, urgent-looking first), then score → notify."""
    return classify_ticket.apply_async((ticket.id,), priority=_triage(ticket)).id


def classify_job(ticket: Ticket, ticket_store: TicketStore) -> list[tuple[str, tuple]] | None:
    """The Redis commands that would publish ``ticket``'s classify message (what route_ticket sends),
    built by Celery and kombu but not run, so that the API can store the ticket and queue its job in
    one MULTI on ``ticket_store``: both or neither, in one round trip.

    None where the broker cannot join that transaction: a transport other than Redis, another Redis
    than the store's, a kombu key prefix; and while this process has not connected to the broker
    yet (connecting retries for seconds while Redis is away; the store fails at once). The caller
    then stores the ticket and publishes with route_ticket.

    A MULTI that redis-py runs again (the store retries on a timeout) pushes the message twice:
    every stage is safe to run twice."""
    with app.producer_or_acquire() as producer:
        if not producer.connection.connected:
            return None
        channel = producer.channel
        if (not hasattr(channel, "create_publish_batch") or getattr(channel, "global_keyprefix", "")
                or _where(channel.pool) != _where(ticket_store.r.connection_pool)):
            return None
        captured = _CapturedPublish(channel)
        # No retry: kombu's retry would publish through the real channel, outside the transaction.
        classify_ticket.apply_async((ticket.id,), priority=_triage(ticket), retry=False,
                                    producer=Producer(captured, auto_declare=False))
    if not captured.commands:
        raise RuntimeError("kombu published the classify message instead of handing over its commands")
    return captured.commands


def _where(pool) -> tuple:
    """The Redis server and database a redis-py connection pool connects to."""
    kwargs = pool.connection_kwargs
    return kwargs.get("path") or (kwargs.get("host"), int(kwargs.get("port", 6379))), int(kwargs.get("db") or 0)


def _triage(ticket: Ticket) -> int:
    return urgency.triage_priority(ticket.text, threshold=settings().urgency_threshold)


class _CapturedPublish:
    """A kombu Redis channel that keeps the commands of a publish instead of running them: kombu's
    Redis transport hands a message's final commands (LPUSH to the queue's priority list) to a
    publish batch's ``add``, which here only collects them. Everything else is the real channel."""

    def __init__(self, channel) -> None:
        self._channel = channel
        self.commands: list[tuple[str, tuple]] = []

    def __getattr__(self, name: str):
        return getattr(self._channel, name)

    def basic_publish(self, message, **kwargs):
        return self._channel.basic_publish(message, _publish_batch=self, **kwargs)

    def add(self, name: str, *args) -> None:
        self.commands.append((name, args))


def redeliver(ticket_store: TicketStore, ticket_id: str, urls: Iterable[str]) -> None:
    """Send a ticket's event again to ``urls``, with the same event id and a fresh retry budget."""
    for url in urls:
        ticket_store.reopen_delivery(ticket_id, url, notify.event_id_for(ticket_id))
        ticket_store.unbury(ticket_id, url)
        deliver_webhook.delay(ticket_id, url)
