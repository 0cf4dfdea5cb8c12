"""The tasks: the stages classify → score → notify, deliver_webhook, re-scoring, the sweepers, SLA events, retention.

The three stages of the chain are batched tasks (celery-batches), each on its queue: under a backlog
one run takes a whole batch, with one model forward pass (classify) and a few Redis round trips for
all of it; alone, a ticket waits at most a few milliseconds. Each stage sends its tickets on to the
next. Every stage is safe to run twice (late acks redeliver after a crash): a stage whose result is
stored is skipped, and a webhook delivery is opened at most once per endpoint. While Redis is away
a stage waits for it, then leaves its tickets to the sweeper (runtime.run_stage).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from celery import Task
from celery.signals import worker_process_init

from smartsupport import assignment, delivery, incidents, language, notify, routing, urgency
from smartsupport.errors import (ConfigError, HelpdeskRejected, HelpdeskUnavailable, StoreUnavailable, TicketNotFound,
                                 WebhookFailed, WebhookRejected)
from smartsupport.helpdesk import mapping as helpdesk_mapping
from smartsupport.helpdesk.rt import connector
from smartsupport.incidents import IncidentRegistry
from smartsupport.store import FinishPlan, RoutePlan, sla_event_type, sla_subject
from smartsupport.ticket import Category, Ticket

from . import leases
from .batching import GreedyBatches
from .celery import app
from .model_cache import ModelCache
from .pipeline import publish_outbox, start_pipeline
from .publishing import countdown_s, send_on
from .runtime import current_routing, fail_all, incident_tracker, run_stage, settings, store, webhook_secrets

log = logging.getLogger(__name__)
BATCH_SIZE = 32
BATCH_WAIT_S = 0.01
#: score and notify: cheap per ticket, so a batch is only a few Redis round trips.
STAGE_BATCH_SIZE = 64
STAGE_WAIT_S = 0.005
#: sweep_after_death leaves tickets younger than this to the messages on their way.
DEATH_SWEEP_AGE_S = 5.0
#: After this many re-queues a stuck ticket is failed, with the reason, for an operator to look at.
MAX_SWEEPS = 3
#: The outbox's drain leaves a ticket this young to the API process publishing it now, and sends
#: at most OUTBOX_BATCH tickets a round, OUTBOX_ROUNDS rounds a run.
OUTBOX_GRACE_S = 5.0
OUTBOX_BATCH = 500
OUTBOX_ROUNDS = 20


@worker_process_init.connect
def _warm_up(**_: object) -> None:
    ModelCache.warm_up()
    language.detector(settings().languages)  # built once per process, before the first ticket


@app.task(base=GreedyBatches, flush_every=BATCH_SIZE, flush_interval=BATCH_WAIT_S)
def classify_ticket(requests) -> None:
    run_stage("classify", _classify, requests)


def _classify(ticket_ids: list[str], worker: str | None) -> None:
    s = store()
    ids, tickets = s.tickets.start_classifying(ticket_ids, worker=worker)
    todo = [t.id for t in tickets]
    if tickets:
        started = time.perf_counter()
        try:
            categories, severities, vectors = ModelCache.classify([t.text for t in tickets])
        except Exception as exc:  # the model failed: say so on every ticket of the batch
            log.exception("classification failed for %d tickets", len(todo))
            fail_all(todo, f"classify: {type(exc).__name__}: {exc}")
            return
        log.info("classified a batch of %d in %.0f ms", len(todo), (time.perf_counter() - started) * 1000)
        languages = {t.id: language.detector(settings().languages).detect(t.text) for t in tickets}
        categories = [_flag_language(c, languages[t.id]) for t, c in zip(tickets, categories)]
        if vectors is not None and settings().incidents:
            _observe_incidents(tickets, vectors, categories)
        s.tickets.save_categories(zip(todo, categories, severities), languages)
    send_on(score_ticket, [(tid,) for tid in ids])


def _flag_language(category: Category, written_in: language.Language) -> Category:
    """A ticket in a language the model does not read needs a person, whatever the model guessed."""
    reason = language.review_reason(written_in, settings().model_languages)
    return category if reason is None else dataclasses.replace(category, needs_review=True, review_reason=reason)


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
    send_on(deliver_webhook, [(subject, url) for subject in events for url in settings().webhook_urls])


@app.task(base=GreedyBatches, flush_every=STAGE_BATCH_SIZE, flush_interval=STAGE_WAIT_S, max_in_flight=1)
def score_ticket(requests) -> None:
    run_stage("score", _score, requests)


def _score(ticket_ids: list[str], worker: str | None) -> None:
    s, started = store(), time.time()
    ids, todo = s.tickets.to_score(ticket_ids)
    results, failed = [], set()
    for ticket, severity in todo:
        try:
            results.append((ticket.id, urgency.score(ticket, severity=severity)))
        except Exception as exc:  # this ticket only
            log.exception("scoring ticket %s failed", ticket.id)
            s.tickets.fail(ticket.id, f"score: {type(exc).__name__}: {exc}")
            failed.add(ticket.id)
    s.tickets.save_urgencies(results, started=started, worker=worker)
    send_on(route_and_notify, [(tid,) for tid in ids if tid not in failed])


@app.task(base=GreedyBatches, flush_every=STAGE_BATCH_SIZE, flush_interval=STAGE_WAIT_S, max_in_flight=1)
def route_and_notify(requests) -> None:
    run_stage("notify", _route_and_notify, requests)


@app.task(base=GreedyBatches, flush_every=STAGE_BATCH_SIZE, flush_interval=STAGE_WAIT_S, max_in_flight=1,
          name="workers.tasks.notify_team")
def notify_team(requests) -> None:
    """The name ``route_and_notify`` had until 2026-12-07: messages published under it before an
    upgrade still run (see docs/contract.md). Nothing publishes it any more."""
    run_stage("notify", _route_and_notify, requests)


def _route_and_notify(ticket_ids: list[str], worker: str | None) -> None:
    """Route each ticket (routing.py: its team, priority, deadline and destinations) and open the
    deliveries of its own event; routing is a pure function of what is stored by now, so it runs
    here rather than as a stage of its own (one Redis round trip and one queue hop less)."""
    s, cfg, started = store(), settings(), time.time()
    rules = current_routing()
    plans, helpdesk = [], []
    for tid, found in s.tickets.to_route(ticket_ids).items():
        ticket, ticket_urgency, incident = found.ticket, found.urgency, found.incident
        if ticket_urgency is None:
            s.tickets.fail(tid, "notify: the ticket has no urgency")
            continue
        covered = incident if cfg.incident_covers_webhooks and incident else None
        urgent = not covered and notify.should_notify(ticket_urgency["score"], threshold=cfg.urgency_threshold)
        route = rules.route(routing.routed_ticket(ticket, found.category, ticket_urgency, incident, found.language))
        record = route.record(created_at=ticket.created_at, routing=rules)
        urls = tuple(d.url for d in rules.deliveries_for(route, urgent=urgent))
        plans.append(FinishPlan(tid, notify.event_id_for(tid), urls, covered,
                                RoutePlan(record, float(ticket_urgency["score"]), ticket.created_at)))
        if cfg.helpdesk_url and (ticket.metadata or {}).get("helpdesk_id"):
            helpdesk.append((tid,))
    send_on(deliver_webhook, s.finish_tickets(plans, started=started, worker=worker))
    send_on(write_back_ticket, helpdesk)
    assignment.dispatch(s, rules, sorted({p.route.record["team"] for p in plans if p.route}))


@app.task
def push_waiting_work(now: float | None = None) -> int:
    """Hand out what waits in every team that pushes work (Celery beat runs this every few seconds,
    beside the hand-outs when a ticket is routed or an agent frees up or comes back: a calendar that
    opens is seen here); returns how many tickets were handed out."""
    return len(assignment.dispatch(store(), current_routing(), now=now))


@app.task(autoretry_for=(StoreUnavailable,), retry_backoff=True, max_retries=None)
def rescore_ticket(ticket_id: str) -> None:
    """Score a ticket again with its replies read after its own text (a reply from the mailbox joined
    it), then notify: its route and any delivery already opened stay; an event it now deserves opens."""
    s = store()
    ticket = s.tickets.load(ticket_id)
    rules = current_routing()
    s.routes.resume(ticket_id, lambda sla: rules.sla_resumed(sla, resumed_at=time.time()))  # the customer answered
    replies = s.mail.replies(ticket_id)
    with_replies = dataclasses.replace(ticket, body="\n\n".join([ticket.body, *(r["body"] for r in replies)]))
    severity = s.tickets.severity_of(ticket_id)
    s.tickets.save_urgencies([(ticket_id, urgency.score(with_replies, severity=severity))], started=time.time())
    _route_and_notify([ticket_id], None)


@app.task(bind=True, autoretry_for=(StoreUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=None)
def deliver_webhook(self: Task, subject: str, url: str, not_before: float | None = None) -> str:
    """POST one event to one endpoint and do what delivery.decide says. ``subject`` is a ticket id
    (its ticket.urgent event) or an incident event (``incident:<id>:event:<name>``)."""
    s, cfg = store(), settings()
    if not_before is not None and not_before - time.time() > 0.05:
        # Waiting for the next attempt in hops shorter than the visibility timeout, so Redis never
        # hands a waiting message to a second worker (celery #3270, #4400). A hop is no attempt.
        self.signature_from_request(countdown=countdown_s(min(not_before - time.time(), cfg.retry_hop_s))).apply_async()
        return subject
    state = s.deliveries.state(subject, url)
    if state is None or state["status"] != "pending":
        s.deliveries.forget_overdue(subject, url)  # delivered or given up already: a redelivered message
        return subject
    if url in s.deliveries.disabled_endpoints():
        attempt = {"at": time.time(), "status_code": None, "error": "endpoint disabled (it answered 410 Gone)"}
        s.deliveries.record_attempt(subject, url, attempt, delivery.Rejected())
        return subject
    rules = current_routing()
    destination = rules.destination_at(url)
    if destination is None and rules.source != "default" and url not in cfg.webhook_urls:
        # Its destination left the routing file: the event waits in the dead-letter list, for an
        # operator to replay, rather than going out with no secret of its own.
        attempt = {"at": time.time(), "status_code": None, "error": "destination removed from the routing file"}
        s.deliveries.record_attempt(subject, url, attempt, delivery.DeadLetter(attempt["error"]))
        return subject
    retry_after = None
    try:
        # The current secret, then the old one while it is rotated. Without a routing file, the
        # destination stands for SMARTSUPPORT_WEBHOOK_URLS: the installation's secrets sign.
        secrets = ((destination.secret, destination.previous_secret) if destination and rules.source != "default"
                   else webhook_secrets())
        payload = notify.payload_for(s, subject, event_id=state["event_id"], destination=destination,
                                     threshold=cfg.urgency_threshold, redact=cfg.redact,
                                     phone_region=cfg.phone_region)
        attempt = notify.post_webhook(url, payload, secret=secrets, timeout_s=cfg.webhook_timeout_s,
                                      slack=destination is not None and destination.format == "slack")
    except (WebhookFailed, WebhookRejected) as exc:
        attempt, retry_after = exc.attempt, getattr(exc, "retry_after_s", None)
    except ConfigError as exc:  # no secret on this host nor in Redis: retried like an endpoint that is away
        log.error("webhook %s to %s not sent: %s", subject, url, exc)
        attempt = {"at": time.time(), "status_code": None, "error": str(exc)}
    number = int(state.get("attempts", 0)) + 1 - int(state.get("round_start", 0))
    decision = delivery.decide(attempt, number=number, policy=delivery.RetryPolicy.from_settings(cfg),
                               event_id=state["event_id"], retry_after_s=retry_after)
    s.deliveries.record_attempt(subject, url, attempt, decision)
    if isinstance(decision, delivery.RetryAt):
        raise self.retry(countdown=countdown_s(min(max(decision.at - time.time(), 0.0), cfg.retry_hop_s)),
                         kwargs={**self.request.kwargs, "not_before": decision.at})
    return subject


@app.task(bind=True, autoretry_for=(StoreUnavailable,), retry_backoff=True, retry_jitter=True, max_retries=None)
def write_back_ticket(self: Task, ticket_id: str) -> str:
    """Write a finished ticket's result to the helpdesk it came from (SMARTSUPPORT_HELPDESK_URL):
    retried with the webhooks' backoff while the helpdesk is away, dead-lettered after
    SMARTSUPPORT_HELPDESK_MAX_ATTEMPTS or when it refuses. Safe to run twice: the comment is written once."""
    s, cfg = store(), settings()
    try:
        view = s.views.get(ticket_id)
    except TicketNotFound:  # deleted meanwhile (in the helpdesk too, perhaps)
        return ticket_id
    external, rules = view["metadata"]["helpdesk_id"], current_routing()
    result = helpdesk_mapping.write_back_for(external, view, rules, comment=s.helpdesk.claim_comment(ticket_id))
    attempt = {"at": time.time(), "status_code": 200, "error": None}
    try:
        connector(cfg, rules.helpdesk.intake).write_back(result)
    except (HelpdeskUnavailable, HelpdeskRejected) as exc:
        code = None if isinstance(exc, HelpdeskUnavailable) else 400
        attempt = {**attempt, "status_code": code, "error": str(exc)}
    policy = dataclasses.replace(delivery.RetryPolicy.from_settings(cfg), max_attempts=cfg.helpdesk_max_attempts)
    decision = delivery.decide(attempt, number=self.request.retries + 1, policy=policy, event_id=ticket_id)
    if result.comment is not None and not isinstance(decision, delivery.Delivered):
        s.helpdesk.release_comment(ticket_id)
    if isinstance(decision, delivery.RetryAt):
        log.warning("write-back of %s to helpdesk ticket %s failed: %s", ticket_id, external, attempt["error"])
        raise self.retry(countdown=countdown_s(min(decision.delay_s, cfg.retry_hop_s)), max_retries=None)
    if isinstance(decision, delivery.Delivered):
        if result.comment is not None:
            s.helpdesk.note_commented(ticket_id)
        s.helpdesk.unbury(ticket_id)
    else:
        log.error("write-back of %s to helpdesk ticket %s given up: %s", ticket_id, external, attempt["error"])
        s.helpdesk.bury(ticket_id, external, attempt["error"] or "", attempts=self.request.retries + 1)
    return ticket_id


@app.task
def sweep_stuck_tickets() -> int:
    """Re-queue tickets stuck in queued/processing and overdue webhook deliveries (their message
    was lost); returns how many. One sweeper at a time, on any host (a Redis lock)."""
    s, cfg = store(), settings()
    if not s.sweeper.lock(ttl_s=max(1, cfg.stuck_after_s // 4)):
        return 0  # another worker is sweeping
    try:
        requeued = _requeue(s, s.sweeper.stuck(older_than_s=cfg.stuck_after_s))
        # A delivery whose message was lost (a worker killed between taking it and recording it).
        for subject, url in s.deliveries.overdue(older_than_s=cfg.stuck_after_s):
            log.warning("re-queueing the overdue delivery of %s to %s", subject, url)
            s.deliveries.expect(subject, url, at=time.time())
            deliver_webhook.delay(subject, url)
            requeued += 1
        return requeued
    finally:
        s.sweeper.release_lock()


def _requeue(s, ticket_ids: list[str]) -> int:
    """Start the pipeline again for ``ticket_ids`` (each stage skips what is done); fail a ticket
    re-queued MAX_SWEEPS times already. How many were re-queued."""
    requeued = 0
    for ticket_id in ticket_ids:
        if s.sweeper.count_sweep(ticket_id) > MAX_SWEEPS:
            s.tickets.fail(ticket_id, f"stuck: still unfinished after {MAX_SWEEPS} re-queues")
            continue
        log.warning("re-queueing stuck ticket %s", ticket_id)
        start_pipeline(s.tickets.load(ticket_id))
        requeued += 1
    return requeued


@app.task
def sweep_after_death() -> int:
    """Re-queue the unfinished tickets that no message carries any more: a worker process killed
    between Redis handing it a message and its noting it (workers/leases.py) lost that one. Sent
    by the worker that finds a death, once its messages are back on their queues; returns how many.
    Tickets younger than DEATH_SWEEP_AGE_S (their first message may be on its way) and those in the
    outbox are left alone. A ticket whose message a live worker takes at the very moment of the look
    may be re-queued too: a duplicate message, which the stages skip."""
    s = store()
    with app.pool.acquire(block=True) as connection:
        carried = leases.first_arguments(connection.default_channel, [q.name for q in app.conf.task_queues])
    waiting = set(s.outbox.waiting(limit=1_000_000))
    lost = [tid for tid in s.sweeper.stuck(older_than_s=DEATH_SWEEP_AGE_S) if tid not in carried and tid not in waiting]
    if lost:
        log.warning("%d unfinished tickets had no message left after a worker died", len(lost))
    return _requeue(s, lost)


@app.task
def drain_outbox() -> int:
    """Queue the first task of tickets stored while the broker was away (the outbox; see
    workers.pipeline.enqueue_new_ticket), then take them out; returns how many. The scheduler sends
    it every few seconds; two drains at once, on two hosts, may queue a ticket twice, which every
    stage tolerates."""
    s, total = store(), 0
    for _ in range(OUTBOX_ROUNDS):
        sent = publish_outbox(s, older_than_s=OUTBOX_GRACE_S, limit=OUTBOX_BATCH)
        total += sent
        if sent < OUTBOX_BATCH:
            break
    if total:
        log.warning("queued %d tickets from the outbox", total)
    return total


@app.task
def fire_sla_events(now: float | None = None) -> int:
    """Fire the SLA warnings and breaches whose time has come, each once, to the destinations of the
    ticket's route that want it (Celery beat runs this every few seconds); returns how many fired.
    The clock is in Redis: a worker restarted in between fires what fell due meanwhile."""
    s, fired = store(), 0
    rules = current_routing()
    for ticket_id, event in s.routes.due_sla_events(now=now):
        route = s.routes.route_of(ticket_id)
        destinations = rules.sla_destinations((route or {}).get("destinations") or [], sla_event_type(event)[0])
        subject = sla_subject(ticket_id, event)
        view = s.views.get(ticket_id)
        kind, target = sla_event_type(event)
        payload = {"type": kind, "id": notify.event_id_for(subject), "target": target,
                   "data": {k: v for k, v in view.items() if k != "webhook"}}
        if s.fire_sla_event(ticket_id, event, payload, [d.url for d in destinations]):
            log.warning("%s: ticket %s (team %s)", event, ticket_id, (route or {}).get("team"))
            for d in destinations:
                deliver_webhook.delay(subject, d.url)
            fired += 1
            if kind == "ticket.sla_breached":
                _escalate(s, rules, ticket_id, why=f"{target} deadline breached")
    return fired


def _escalate(s, rules: routing.Routing, ticket_id: str, *, why: str) -> None:
    """What the breached ticket's rule says a breach does (another team, a higher priority), once;
    recorded in its audit trail. Its new team's queue is handed out at once if that team pushes."""
    route, now = s.routes.route_of(ticket_id), time.time()
    changed = rules.escalated(route or {}, now=now, why=why) if route else None
    if changed is None:
        return
    found = s.tickets.to_route([ticket_id]).get(ticket_id)
    if found is None:  # deleted meanwhile
        return
    s.routes.reroute(ticket_id, changed, score=float((found.urgency or {}).get("score", 0.0)),
                     created_at=found.ticket.created_at)
    s.audit.record(ticket_id, "escalated", actor="sla", role="system",
                   detail={"why": why, "team": [route["team"], changed["team"]],
                           "priority": [route["priority"], changed["priority"]]})
    assignment.dispatch(s, rules, [changed["team"]])


#: Tickets deleted per round trip of the retention task.
EXPIRE_BATCH = 500


@app.task
def expire_tickets(now: float | None = None) -> int:
    """Delete done and failed tickets (with their logs) whose retention period has passed, appending
    each to a JSONL file of SMARTSUPPORT_EXPORT_DIR first when it is set; then closed incidents and
    dead letters as old. Returns how many tickets went. ``now`` lets a test move the clock."""
    s, cfg = store(), settings()
    keep_s, total = cfg.retention_days * 86400, 0
    while ids := s.tickets.expired(older_than_s=keep_s, now=now, limit=EXPIRE_BATCH):
        if cfg.export_dir:
            _export(cfg.export_dir, s.views.many(ids))
        s.delete_tickets(ids)
        total += len(ids)
    IncidentRegistry(s).expire(older_than_s=keep_s, now=now)
    s.deliveries.trim_dead_letters(older_than_s=keep_s, now=now)
    if total:
        log.info("retention: %d tickets older than %s days deleted", total, cfg.retention_days)
    return total


def _export(folder: Path, views: list[dict]) -> None:
    """Append ``views`` to this day's JSONL file in ``folder``, on disk before the tickets are deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / time.strftime("tickets-%Y-%m-%d.jsonl", time.gmtime())
    with open(path, "a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(view, separators=(",", ":")) + "\n" for view in views)
        fh.flush()
        os.fsync(fh.fileno())
