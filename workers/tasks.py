"""Thin tasks: load by id, call one domain function, save, return the id.

classify_ticket is batched (celery-batches): under a backlog one forward pass classifies up to
BATCH_SIZE tickets; alone, a ticket waits at most BATCH_WAIT_S. It then starts score → notify for
each ticket. Every task is safe to run twice (late acks redeliver after a crash): a stage whose
result is stored is skipped, and a webhook delivery is opened at most once per endpoint.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from typing import Iterable

import numpy as np
from celery import Task, chain
from kombu.exceptions import OperationalError
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


class TicketTask(Task):
    """A pipeline stage: retried while Redis is away, and failing the ticket when it gives up."""

    # Redis away: our store says StoreUnavailable, publishing the next step says OperationalError.
    autoretry_for = (StoreUnavailable, OperationalError)
    retry_backoff = True
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 10

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        try:
            store().fail(args[0], f"{self.name.rsplit('.', 1)[-1]}: {type(exc).__name__}: {exc}")
        except StoreUnavailable:
            log.exception("could not mark ticket %s failed", args[0])


@app.task(base=GreedyBatches, flush_every=BATCH_SIZE, flush_interval=BATCH_WAIT_S)
def classify_ticket(requests) -> None:
    s = store()
    worker = requests[0].hostname if requests else None
    # A few round trips for the whole batch, not a few per ticket.
    ids, tickets = s.start_classifying([r.args[0] for r in requests], worker=worker)
    todo = [t.id for t in tickets]
    try:
        if tickets:
            started = time.perf_counter()
            categories, severities, vectors = _Model.classify([t.text for t in tickets])
            log.info("classified a batch of %d in %.0f ms", len(todo), (time.perf_counter() - started) * 1000)
            if vectors is not None and settings().incidents:
                _observe_incidents(tickets, vectors, categories)
            s.save_categories(zip(todo, categories, severities))
    except StoreUnavailable:
        raise  # not acked: Redis redelivers the batch once it is back
    except Exception as exc:  # the model failed: say so on every ticket of the batch
        log.exception("classification failed for %d tickets", len(todo))
        for tid in todo:
            s.fail(tid, f"classify: {type(exc).__name__}: {exc}")
        return
    for tid in ids:
        chain(score_ticket.s(tid), notify_team.s()).delay()


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
    for subject in events:
        for url in settings().webhook_urls:
            deliver_webhook.delay(subject, url)


@app.task(base=TicketTask)
def score_ticket(ticket_id: str) -> str:
    s = store()
    if s.field(ticket_id, "urgency") is None:
        s.mark(ticket_id, "score_started", worker=score_ticket.request.hostname)
        s.save_urgency(ticket_id, urgency.score(s.load(ticket_id), severity=s.field(ticket_id, "severity")))
        s.mark(ticket_id, "score_finished")
    return ticket_id


@app.task(base=TicketTask)
def notify_team(ticket_id: str) -> str:
    s, cfg = store(), settings()
    s.mark(ticket_id, "notify_started", worker=notify_team.request.hostname)
    covered = cfg.incident_covers_webhooks and s.cover_by_incident(ticket_id)
    if not covered and notify.should_notify(s.field(ticket_id, "urgency")["score"], threshold=cfg.urgency_threshold):
        event_id = notify.event_id_for(ticket_id)
        for url in cfg.webhook_urls:
            # Opened now, or opened by a run of this task that died before the delivery started.
            if s.open_delivery(ticket_id, url, event_id) or (s.delivery(ticket_id, url) or {}).get("attempts") == 0:
                deliver_webhook.delay(ticket_id, url)
    s.mark(ticket_id, "notify_finished")
    s.mark(ticket_id, "done", status="done")
    s.record_stage_metrics(ticket_id)
    return ticket_id


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
    priority = urgency.triage_priority(ticket.text, threshold=settings().urgency_threshold)
    return classify_ticket.apply_async((ticket.id,), priority=priority).id


def redeliver(ticket_store: TicketStore, ticket_id: str, urls: Iterable[str]) -> None:
    """Send a ticket's event again to ``urls``, with the same event id and a fresh retry budget."""
    for url in urls:
        ticket_store.reopen_delivery(ticket_id, url, notify.event_id_for(ticket_id))
        ticket_store.unbury(ticket_id, url)
        deliver_webhook.delay(ticket_id, url)
