"""The HTTP API: one blueprint. Views validate, call the store or route_ticket, and return JSON."""

from __future__ import annotations

import contextlib
import hashlib
import logging

from flask import Blueprint, current_app, g, request, url_for
from pydantic import ValidationError
from werkzeug.exceptions import Forbidden, Unauthorized, UnsupportedMediaType

from smartsupport.errors import (ConfigError, EndpointNotDisabled, IdempotencyKeyInProgress, IdempotencyKeyReused,
                                 InvalidTicket, NoWebhookEndpoints, NotReplicated, StoreUnavailable, TicketNotFailed,
                                 TicketNotFound, UnknownLabel)
from smartsupport.incidents import IncidentRegistry
from smartsupport.stats import latency_stats
from smartsupport.store.views import for_submitter
from smartsupport import urgency
from smartsupport.ticket import Ticket, UrgencyLevel
from workers.pipeline import enqueue_new_ticket, redeliver, route_ticket

from .errors import BodyNotAnObject, BodyTooDeep, IdempotencyKeyTooLong, InvalidQuery, MalformedJson
from .schemas import (MAX_REQUEST_DEPTH, CategoryIn, EndpointIn, IncidentQuery, ListQuery, MergeIn, ReplayIn,
                      StatsQuery, TicketIn, UrgencyIn, too_deep)

log = logging.getLogger(__name__)
api = Blueprint("api", __name__, url_prefix="/api")
OPEN_ENDPOINTS = {"api.health"}


def _services():
    return current_app.extensions["smartsupport"]


@api.before_request
def _authenticate() -> None:
    if request.endpoint in OPEN_ENDPOINTS or request.method == "OPTIONS":
        return
    principal = _services().keys.identify(request.headers.get("Authorization"))
    if principal is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    g.principal = principal


@api.before_request
def _publish_changed_files() -> None:
    """An edited labels or routing file on this host reaches every host (smartsupport.published)."""
    with contextlib.suppress(ConfigError, StoreUnavailable):
        _services().publish_changed_files()


@api.post("/tickets")
def submit_ticket():
    payload = _validated(TicketIn, _json_object())
    ticket = Ticket.new(body=payload.body, subject=payload.subject, customer=payload.customer,
                        metadata=payload.metadata, submitter=g.principal.fingerprint)
    store = _services().store
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > 200:
        raise IdempotencyKeyTooLong("Idempotency-Key must be at most 200 characters")
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
    settings = _services().settings
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
def get_ticket(ticket_id: str):
    view = _services().store.views.get(ticket_id)
    if g.principal.is_operator:
        return view
    if view["submitter"] != g.principal.fingerprint:
        raise TicketNotFound(ticket_id)
    return for_submitter(view)


@api.get("/tickets")
def list_tickets():
    query = _validated(ListQuery, request.args.to_dict(), query=True)
    submitter = None if g.principal.is_operator else g.principal.fingerprint
    store = _services().store
    if query.team or query.assignee:
        _operator_only()
        views = store.views.many(store.routes.route_index(team=query.team, assignee=query.assignee, limit=500))
        tickets = [v for v in views if query.status in (None, v["status"])]
        if query.sort == "urgency":
            tickets.sort(key=lambda v: -(v["urgency"] or {"score": -1})["score"])
        return {"tickets": tickets[:query.limit]}
    tickets = store.views.list(sort=query.sort, status=query.status, limit=query.limit, submitter=submitter)
    return {"tickets": tickets if submitter is None else [for_submitter(t) for t in tickets]}


@api.post("/tickets/<ticket_id>/category")
def correct_category(ticket_id: str):
    _operator_only()
    payload = _validated(CategoryIn, _json_object())
    services = _services()
    names = services.label_names()
    if payload.label not in names:
        raise UnknownLabel(f"unknown label {payload.label!r}; labels are {', '.join(names)}")
    services.store.corrections.correct(ticket_id, payload.label)
    _reroute(services, ticket_id)
    return services.store.views.get(ticket_id)


@api.post("/tickets/<ticket_id>/urgency")
def correct_urgency(ticket_id: str):
    """An operator's urgency level for a ticket; it becomes an example of that level (see Classification)."""
    _operator_only()
    payload = _validated(UrgencyIn, _json_object())
    store = _services().store
    current = store.views.get(ticket_id)["urgency"] or {"score": 0.0}
    level = UrgencyLevel(payload.level)
    store.corrections.correct_urgency(ticket_id, level.value, score=urgency.score_for_level(current["score"], level))
    _reroute(_services(), ticket_id)
    return store.views.get(ticket_id)


@api.post("/tickets/<ticket_id>/retry")
def retry_ticket(ticket_id: str):
    """Send a failed ticket through the pipeline again (stages that succeeded are not redone)."""
    _operator_only()
    store = _services().store
    if store.views.get(ticket_id)["status"] != "failed":
        raise TicketNotFailed("only a failed ticket can be retried")
    store.tickets.reset_for_retry(ticket_id)
    route_ticket(store.tickets.load(ticket_id))
    return _accepted(ticket_id)


@api.post("/tickets/<ticket_id>/webhooks/redeliver")
def redeliver_webhook(ticket_id: str):
    _operator_only()
    services = _services()
    services.store.tickets.load(ticket_id)  # 404 for an unknown ticket
    urls = services.settings.webhook_urls
    if not urls:
        raise NoWebhookEndpoints("no webhook endpoint is configured (SMARTSUPPORT_WEBHOOK_URLS)")
    redeliver(services.store, ticket_id, urls)
    return {"id": ticket_id, "endpoints": list(urls), "status": "pending"}, 202


@api.get("/webhooks")
def webhooks():
    """Each configured endpoint (and routing destination, with its name) with its state and latest
    attempts, and the dead-letter count."""
    _operator_only()
    store = _services().store
    disabled = store.deliveries.disabled_endpoints()
    destinations = {d.url: d.name for d in _services().routing.current().destinations.values()}
    urls = list(dict.fromkeys([*_services().settings.webhook_urls, *destinations]))
    endpoints = [{"url": url, "name": destinations.get(url), "disabled": url in disabled,
                  "disabled_reason": disabled.get(url, {}).get("reason"), "recent": store.deliveries.endpoint_log(url)}
                 for url in urls]
    return {"endpoints": endpoints, "dead_letter": len(store.deliveries.dead_letters())}


@api.post("/webhooks/endpoints/enable")
def enable_endpoint():
    _operator_only()
    payload = _validated(EndpointIn, _json_object())
    if not _services().store.deliveries.enable_endpoint(payload.url):
        raise EndpointNotDisabled(f"{payload.url} is not disabled")
    return {"url": payload.url, "disabled": False}


@api.get("/webhooks/dead")
def dead_letters():
    _operator_only()
    return {"events": _services().store.deliveries.dead_letters()}


@api.post("/webhooks/dead/replay")
def replay_dead_letters():
    _operator_only()
    payload = _validated(ReplayIn, _json_object() if request.get_data() else {})
    services = _services()
    events = [e for e in services.store.deliveries.dead_letters() if payload.ticket_id in (None, e["ticket_id"])]
    for event in events:
        redeliver(services.store, event["ticket_id"], [event["url"]])
    return {"replayed": len(events)}, 202


@api.get("/incidents")
def list_incidents():
    """Incidents, newest first: open, closed, or merged into another."""
    _operator_only()
    query = _validated(IncidentQuery, request.args.to_dict(), query=True)
    return {"incidents": IncidentRegistry(_services().store).list(status=query.status, limit=query.limit)}


@api.get("/incidents/<incident_id>")
def get_incident(incident_id: str):
    """One incident with its tickets and the delivery log of its events."""
    _operator_only()
    return IncidentRegistry(_services().store).get(incident_id)


@api.post("/incidents/<incident_id>/close")
def close_incident(incident_id: str):
    _operator_only()
    return IncidentRegistry(_services().store).close(incident_id)


@api.post("/incidents/<incident_id>/merge")
def merge_incident(incident_id: str):
    """Move this incident's tickets into another one (``{"into": "<id>"}``); this one ends merged."""
    _operator_only()
    payload = _validated(MergeIn, _json_object())
    return IncidentRegistry(_services().store).merge(incident_id, payload.into)


@api.get("/meta")
def meta():
    services = _services()
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
def stats():
    _operator_only()
    query = _validated(StatsQuery, request.args.to_dict(), query=True)
    return latency_stats(_services().store.views.list(sort="created", status="done", limit=query.last))


@api.get("/health")
def health():
    """200 when every part that moves tickets runs, else 503 naming what is missing (no key needed)."""
    principal = _services().keys.identify(request.headers.get("Authorization"))
    report, healthy = _services().health.check(_services(), operator=bool(principal and principal.is_operator))
    return report, 200 if healthy else 503


def _reroute(services, ticket_id: str) -> None:
    from .teams import reroute  # teams.py registers on this blueprint
    reroute(services, ticket_id)


def _operator_only() -> None:
    if not g.principal.is_operator:
        raise Forbidden("this needs an operator key")


def _json_object() -> dict:
    """The request's JSON object. A body nested deeper than MAX_REQUEST_DEPTH is refused (422) before
    it is parsed, so that no depth makes json or a validator recurse past Python's limit."""
    if not request.is_json:
        raise UnsupportedMediaType("send the ticket as application/json")
    message = f"the request body must not nest deeper than {MAX_REQUEST_DEPTH} levels"
    if too_deep(request.get_data(as_text=True)):
        raise BodyTooDeep(message, details=[{"field": "(body)", "message": message}])
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # deeper still, in an encoding the check above does not read
        raise BodyTooDeep(message, details=[{"field": "(body)", "message": message}]) from None
    if data is None:
        raise MalformedJson("the request body is not valid JSON")
    if not isinstance(data, dict):
        raise BodyNotAnObject("the request body must be a JSON object")
    return data


def _validated(model, data: dict, *, query: bool = False):
    """``data`` parsed by a pydantic ``model``; InvalidTicket (InvalidQuery for a query string) otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [{"field": ".".join(map(str, e["loc"])) or "(body)", "message": e["msg"]} for e in exc.errors()]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise (InvalidQuery if query else InvalidTicket)(message, details=details) from None
