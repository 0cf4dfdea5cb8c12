"""The HTTP API's ticket, webhook, incident and operations views (teams.py has the teams' and
routes'). Views validate, call the store or start_pipeline, and return JSON."""

from __future__ import annotations

import contextlib
import hashlib
import logging

from flask import g, request, url_for

from smartsupport.errors import (EndpointNotDisabled, IdempotencyKeyInProgress, IdempotencyKeyReused,
                                 NoWebhookEndpoints, NotReplicated, StoreUnavailable, TicketNotFailed,
                                 TicketNotFound, UnknownLabel)
from smartsupport.incidents import IncidentRegistry
from smartsupport.stats import latency_stats
from smartsupport.store.views import for_submitter
from smartsupport.ticket import Ticket, UrgencyLevel
from workers import corrections
from workers.pipeline import enqueue_new_ticket, redeliver, start_pipeline

from . import answers
from .agents import check_team, check_ticket, on_own_teams
from .blueprint import (api, current_services, json_object, operator_only, operator_or_agent, request_principal,
                        validated)
from .clocks import with_clock, with_clocks
from .errors import IdempotencyKeyTooLong
from .openapi import documented
from .schemas import (MAX_IDEMPOTENCY_KEY_CHARS, CategoryIn, EndpointIn, IdempotencyHeaders, IncidentQuery, ListQuery,
                      MergeIn, ReplayIn, StatsQuery, TicketIn, UrgencyIn)

log = logging.getLogger(__name__)


@api.post("/tickets")
@documented("Submit a ticket; it is classified, scored and routed in the background.",
            answers={202: answers.Accepted}, errors=(400, 409, 413, 415, 422), body=TicketIn,
            headers=IdempotencyHeaders)
def submit_ticket():
    payload = validated(TicketIn, json_object())
    ticket = Ticket.new(body=payload.body, subject=payload.subject, customer=payload.customer,
                        metadata=payload.metadata, submitter=g.principal.fingerprint)
    store = current_services().store
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise IdempotencyKeyTooLong(f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_CHARS} characters")
    if key:
        body_hash = hashlib.sha256(payload.model_dump_json().encode()).hexdigest()
        bound_id, bound_hash = store.idempotency.claim(g.principal.fingerprint, key, body_hash=body_hash,
                                                       ticket_id=ticket.id)
        if bound_hash != body_hash:
            raise IdempotencyKeyReused("this Idempotency-Key was used with a different body")
        if bound_id != ticket.id:
            if not store.tickets.exists(bound_id) or not _replicated_already(store):  # the first is still writing it
                raise IdempotencyKeyInProgress("a request with this Idempotency-Key is still being processed")
            return _accepted(bound_id, replayed=True)
    try:
        enqueue_new_ticket(store, ticket)
        _replicated(store, ticket.id)
    except StoreUnavailable:
        if key:
            with contextlib.suppress(StoreUnavailable):  # Redis away: a claim left behind goes stale
                store.idempotency.release(g.principal.fingerprint, key)
        raise
    return _accepted(ticket.id)


def _replica_acks(store) -> tuple[int, int]:
    """(replicas that hold every write so far, replicas wanted): SMARTSUPPORT_REPLICA_ACKS, on a
    Sentinel group; (0, 0), with no round trip, where none are wanted."""
    settings = current_services().settings
    if not settings.replica_acks:
        return 0, 0
    return store.ops.wait_for_replicas(settings.replica_acks, settings.replica_wait_ms), settings.replica_acks


def _replicated_already(store) -> bool:
    """A replayed 202 only for a ticket the replicas hold: the first request may still be waiting
    for them, and take its ticket back if they do not confirm."""
    acks, wanted = _replica_acks(store)
    return acks >= wanted


def _replicated(store, ticket_id: str) -> None:
    """With SMARTSUPPORT_REPLICA_ACKS (a Sentinel group), a 202 only once that many replicas hold
    the ticket: a failover then promotes one that has it. Short of that the ticket is taken back
    (a client retrying gets a new one: at worst a duplicate, never a 202 for a lost ticket)."""
    acks, wanted = _replica_acks(store)
    if acks < wanted:
        with contextlib.suppress(StoreUnavailable):
            store.delete_tickets([ticket_id])
        raise NotReplicated(f"the ticket reached {acks} of the {wanted} replicas it needs in time; try again")


def _accepted(ticket_id: str, *, replayed: bool = False):
    status_url = url_for("api.get_ticket", ticket_id=ticket_id)
    headers = {"Location": status_url, **({"Idempotent-Replayed": "true"} if replayed else {})}
    return {"id": ticket_id, "status": "queued", "status_url": status_url}, 202, headers


@api.get("/tickets/<ticket_id>")
@documented("One ticket with its category, urgency, webhook state and timings.",
            answers={200: answers.Ticket}, errors=(403, 404))
def get_ticket(ticket_id: str):
    """The ticket, with its audit trail for an operator or an agent of its team; a submitter (or an
    agent, for a ticket they submitted outside their teams) sees their own tickets without it."""
    store = current_services().store
    view = with_clock(store.views.get(ticket_id))
    principal = g.principal
    if principal.is_operator or (principal.is_agent and on_own_teams(view)):
        return {**view, "audit": store.audit.trail(ticket_id)}
    if view["submitter"] == principal.fingerprint:
        return for_submitter(view)
    if principal.is_agent:
        check_ticket(view)  # raises: not one of their teams' tickets
    raise TicketNotFound(ticket_id)


@api.get("/tickets")
@documented("List tickets, most urgent (or newest) first.", answers={200: answers.TicketList},
            errors=(400, 403), query=ListQuery)
def list_tickets():
    query = validated(ListQuery, request.args.to_dict(), query=True)
    submitter = None if g.principal.is_operator else g.principal.fingerprint
    store = current_services().store
    if query.team or query.assignee:
        operator_or_agent()
        if query.team:
            check_team(query.team)
        index = store.routes.route_index(team=query.team, assignee=query.assignee, limit=500)
        views = with_clocks(store.views.many(index))
        tickets = [v for v in views if query.status in (None, v["status"])
                   and (g.principal.is_operator or on_own_teams(v))]
        if query.sort == "urgency":
            tickets.sort(key=lambda v: -(v["urgency"] or {"score": -1})["score"])
        return {"tickets": tickets[:query.limit]}
    tickets = with_clocks(store.views.list(sort=query.sort, status=query.status, limit=query.limit,
                                           submitter=submitter))
    return {"tickets": tickets if submitter is None else [for_submitter(t) for t in tickets]}


@api.post("/tickets/<ticket_id>/category")
@documented("Correct a ticket's category; it becomes an example for that label.",
            answers={200: answers.Ticket}, errors=(400, 403, 404, 413, 415, 422), body=CategoryIn)
def correct_category(ticket_id: str):
    """An operator's (or an agent's, on their teams' tickets) label for a ticket; it becomes an example."""
    operator_or_agent()
    payload = validated(CategoryIn, json_object())
    services = current_services()
    names = services.label_names()
    if payload.label not in names:
        raise UnknownLabel(f"unknown label {payload.label!r}; labels are {', '.join(names)}")
    check_ticket(services.store.views.get(ticket_id))
    corrections.correct_category(services.store, services.routing.current(), ticket_id, payload.label,
                                 actor=g.principal.actor, role=g.principal.role)
    return with_clock(services.store.views.get(ticket_id))


@api.post("/tickets/<ticket_id>/urgency")
@documented("Correct a ticket's urgency level; it becomes an example for that level.",
            answers={200: answers.Ticket}, errors=(400, 403, 404, 413, 415, 422), body=UrgencyIn)
def correct_urgency(ticket_id: str):
    """An operator's (or an agent's, on their teams' tickets) urgency level for a ticket; it becomes an
    example of that level (see Classification)."""
    operator_or_agent()
    payload = validated(UrgencyIn, json_object())
    services = current_services()
    check_ticket(services.store.views.get(ticket_id))
    corrections.correct_urgency(services.store, services.routing.current(), ticket_id, UrgencyLevel(payload.level),
                                actor=g.principal.actor, role=g.principal.role)
    return with_clock(services.store.views.get(ticket_id))


@api.post("/tickets/<ticket_id>/retry")
@documented("Send a failed ticket through the pipeline again.", answers={202: answers.Accepted},
            errors=(403, 404, 409))
def retry_ticket(ticket_id: str):
    """Send a failed ticket through the pipeline again (stages that succeeded are not redone)."""
    operator_only()
    store = current_services().store
    if store.views.get(ticket_id)["status"] != "failed":
        raise TicketNotFailed("only a failed ticket can be retried")
    store.tickets.reset_for_retry(ticket_id)
    start_pipeline(store.tickets.load(ticket_id))
    return _accepted(ticket_id)


@api.post("/tickets/<ticket_id>/webhooks/redeliver")
@documented("Deliver the ticket's event again (same event id).", answers={202: answers.Redelivery},
            errors=(403, 404, 409))
def redeliver_webhook(ticket_id: str):
    operator_only()
    services = current_services()
    services.store.tickets.load(ticket_id)  # 404 for an unknown ticket
    urls = services.settings.webhook_urls
    if not urls:
        raise NoWebhookEndpoints("no webhook endpoint is configured (SMARTSUPPORT_WEBHOOK_URLS)")
    redeliver(services.store, ticket_id, urls)
    return {"id": ticket_id, "endpoints": list(urls), "status": "pending"}, 202


@api.get("/webhooks")
@documented("Endpoints, their state and latest attempts.", answers={200: answers.Endpoints}, errors=(403,),
            operation_id="listWebhookEndpoints")
def webhooks():
    """Each configured endpoint (and routing destination, with its name) with its state and latest
    attempts, and the dead-letter count."""
    operator_only()
    store = current_services().store
    disabled = store.deliveries.disabled_endpoints()
    destinations = {d.url: d.name for d in current_services().routing.current().destinations.values()}
    urls = list(dict.fromkeys([*current_services().settings.webhook_urls, *destinations]))
    endpoints = [{"url": url, "name": destinations.get(url), "disabled": url in disabled,
                  "disabled_reason": disabled.get(url, {}).get("reason"), "recent": store.deliveries.endpoint_log(url)}
                 for url in urls]
    return {"endpoints": endpoints, "dead_letter": len(store.deliveries.dead_letters())}


@api.post("/webhooks/endpoints/enable")
@documented("Enable an endpoint disabled by a 410.", answers={200: answers.EndpointEnabled},
            errors=(400, 403, 409, 413, 415, 422), body=EndpointIn, operation_id="enableWebhookEndpoint")
def enable_endpoint():
    operator_only()
    payload = validated(EndpointIn, json_object())
    if not current_services().store.deliveries.enable_endpoint(payload.url):
        raise EndpointNotDisabled(f"{payload.url} is not disabled")
    return {"url": payload.url, "disabled": False}


@api.get("/webhooks/dead")
@documented("Events whose attempts ran out.", answers={200: answers.DeadLetters}, errors=(403,),
            operation_id="listDeadLetters")
def dead_letters():
    operator_only()
    return {"events": current_services().store.deliveries.dead_letters()}


@api.post("/webhooks/dead/replay")
@documented("Deliver dead-lettered events again.", answers={202: answers.Replayed},
            errors=(400, 403, 413, 415, 422), body=ReplayIn)
def replay_dead_letters():
    operator_only()
    payload = validated(ReplayIn, json_object() if request.get_data() else {})
    services = current_services()
    events = [e for e in services.store.deliveries.dead_letters() if payload.ticket_id in (None, e["ticket_id"])]
    for event in events:
        redeliver(services.store, event["ticket_id"], [event["url"]])
    return {"replayed": len(events)}, 202


@api.get("/incidents")
@documented("Incidents (many tickets about one problem), newest first.", answers={200: answers.IncidentList},
            errors=(400, 403), query=IncidentQuery)
def list_incidents():
    """Incidents, newest first: open, closed, or merged into another."""
    operator_only()
    query = validated(IncidentQuery, request.args.to_dict(), query=True)
    return {"incidents": IncidentRegistry(current_services().store).list(status=query.status, limit=query.limit)}


@api.get("/incidents/<incident_id>")
@documented("One incident with its tickets and its events' deliveries.", answers={200: answers.Incident},
            errors=(403, 404))
def get_incident(incident_id: str):
    """One incident with its tickets and the delivery log of its events."""
    operator_only()
    return IncidentRegistry(current_services().store).get(incident_id)


@api.post("/incidents/<incident_id>/close")
@documented("Close an open incident: new similar tickets no longer join it.",
            answers={200: answers.Incident}, errors=(403, 404, 409))
def close_incident(incident_id: str):
    operator_only()
    return IncidentRegistry(current_services().store).close(incident_id)


@api.post("/incidents/<incident_id>/merge")
@documented("Merge this incident into another; its tickets move there.", answers={200: answers.Incident},
            errors=(400, 403, 404, 409, 413, 415, 422), body=MergeIn)
def merge_incident(incident_id: str):
    """Move this incident's tickets into another one (``{"into": "<id>"}``); this one ends merged."""
    operator_only()
    payload = validated(MergeIn, json_object())
    return IncidentRegistry(current_services().store).merge(incident_id, payload.into)


@api.get("/meta")
@documented("Labels, urgency threshold and the Flower URL.", answers={200: answers.Meta}, operation_id="getMeta")
def meta():
    services = current_services()
    cfg = services.settings
    return {
        "labels": services.label_names(),
        "urgency_levels": [level.value for level in UrgencyLevel],
        "urgency_threshold": cfg.urgency_threshold,
        "flower_url": _flower_url(cfg.host, cfg.flower_port),
        "flower_port": cfg.flower_port,
        "webhook_endpoints": len(cfg.webhook_urls),
    }


def _flower_url(host: str, port: int) -> str | None:
    """Flower's address from the configuration, never from the request's Host header (which the
    client writes). None where the API listens on every address and so knows no name of its own:
    the dashboard then links to ``flower_port`` on the host it was loaded from."""
    if host in ("", "0.0.0.0", "::"):
        return None
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


@api.get("/stats")
@documented("Latency percentiles per stage and throughput over the last done tickets.",
            answers={200: answers.Stats}, errors=(400, 403), query=StatsQuery, operation_id="getStats")
def stats():
    operator_only()
    query = validated(StatsQuery, request.args.to_dict(), query=True)
    return latency_stats(current_services().store.views.list(sort="created", status="done", limit=query.last))


@api.get("/health")
@documented("200 when Redis and at least one worker answer.", answers={200: answers.Health, 503: answers.Health},
            operation_id="getHealth")
def health():
    """200 when every part that moves tickets runs, else 503 naming what is missing (no key needed)."""
    found = current_services()
    principal = None
    with contextlib.suppress(StoreUnavailable):  # an agent's key while Redis is away: the public report
        principal = request_principal()
    report, healthy = found.health.check(found, operator=bool(principal and principal.is_operator))
    return report, 200 if healthy else 503
