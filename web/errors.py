"""Every error the API answers with, as ``{"error": {"code", "message", "details"?}}``.

Domain errors (smartsupport/errors.py) know nothing of HTTP: ``HTTP_ERRORS`` below is the one place
that says which status and code each one gets. The few errors that only a request can have
(malformed JSON, a body nested too deep, a bad query string) are defined here.
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app
from kombu.exceptions import OperationalError
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from smartsupport import errors as domain

from .admission import LargeBodiesBusy

log = logging.getLogger(__name__)


class MalformedJson(domain.SmartSupportError):
    """Raised when a request body that says it is JSON does not parse."""


class BodyNotAnObject(domain.SmartSupportError):
    """Raised when a request body is JSON but not an object."""


class BodyTooDeep(domain.InvalidTicket):
    """Raised when a request body nests objects and arrays deeper than the API reads."""


class InvalidQuery(domain.InvalidTicket):
    """Raised when a query string fails validation."""


class IdempotencyKeyTooLong(domain.SmartSupportError):
    """Raised when an Idempotency-Key header is longer than the API keeps."""


#: error class -> (HTTP status, error code); subclasses not listed take their parent's entry.
HTTP_ERRORS: dict[type[Exception], tuple[int, str]] = {
    MalformedJson: (400, "invalid_json"),
    InvalidQuery: (400, "validation_error"),
    IdempotencyKeyTooLong: (400, "invalid_idempotency_key"),
    domain.TicketNotFound: (404, "not_found"),
    domain.IncidentNotFound: (404, "not_found"),
    domain.UnknownTeam: (404, "unknown_team"),
    domain.UnknownAgent: (404, "unknown_agent"),
    domain.AgentKeyNotFound: (404, "not_found"),
    domain.NotATeamMember: (403, "not_a_member"),
    domain.ActingAsAnotherAgent: (403, "other_agent"),
    # 403, not 422: the body is valid, and an agent's key may leave the agent out; this key may not.
    domain.AgentNotNamed: (403, "agent_not_named"),
    domain.IdempotencyKeyReused: (409, "idempotency_conflict"),
    domain.AgentAtCapacity: (409, "at_capacity"),
    domain.NoRoute: (409, "not_routed"),
    domain.IdempotencyKeyInProgress: (409, "idempotency_in_progress"),
    domain.TicketNotFailed: (409, "not_failed"),
    domain.NoWebhookEndpoints: (409, "no_endpoints"),
    domain.EndpointNotDisabled: (409, "not_disabled"),
    domain.IncidentNotOpen: (409, "not_open"),
    domain.IncidentMerged: (409, "merged"),
    domain.IncidentMergedIntoItself: (409, "same_incident"),
    BodyNotAnObject: (422, "invalid_ticket"),
    BodyTooDeep: (422, "validation_error"),
    domain.InvalidTicket: (422, "validation_error"),
    domain.UnknownLabel: (422, "unknown_label"),
    LargeBodiesBusy: (503, "busy"),
    domain.StoreFull: (503, "store_full"),
    domain.NotReplicated: (503, "not_replicated"),
    domain.StoreUnavailable: (503, "unavailable"),
}
#: Seconds a client is told to wait before trying again, for the errors that pass.
RETRY_AFTER_S = {domain.StoreUnavailable: 5, LargeBodiesBusy: 1, domain.IdempotencyKeyInProgress: 1,
                 domain.NotReplicated: 1}


def http_status(exc: Exception) -> tuple[int, str]:
    """The status and code of a domain or request error: its own entry, or its nearest parent's."""
    for cls in type(exc).__mro__:
        if cls in HTTP_ERRORS:
            return HTTP_ERRORS[cls]
    return 500, "internal_error"


def handle_error(exc: Exception):
    """Flask's error handler for every exception: a JSON error body, never an HTML page."""
    if isinstance(exc, domain.SmartSupportError):
        status, code = http_status(exc)
        body = {"code": code, "message": _message(exc)}
        if getattr(exc, "details", None):
            body["details"] = exc.details
        headers = {"Retry-After": str(s) for cls, s in RETRY_AFTER_S.items() if isinstance(exc, cls)}
        if isinstance(exc, domain.NotReplicated):  # a Sentinel group mid-failover, or a replica behind
            log.warning("not replicated: %s", exc)
            return {"error": body}, status, headers
        if isinstance(exc, domain.StoreFull):
            log.error("store full: %s", exc)
            body["message"] = "the ticket store is full (Redis maxmemory): tickets cannot be accepted now"
        elif status == 503:
            log.warning("store unavailable: %s", exc)
            body["message"] = "the ticket store is unavailable, try again shortly"
        elif status == 500:
            log.exception("unmapped error")
        return {"error": body}, status, headers
    if isinstance(exc, OperationalError):  # an operator's retry or redelivery while the broker is away
        log.warning("broker unavailable: %s", exc)
        return ({"error": {"code": "broker_unavailable", "message": "the broker is unavailable, try again shortly"}},
                503, {"Retry-After": "5"})
    if isinstance(exc, HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        headers = {"WWW-Authenticate": "Bearer"} if exc.code == 401 else {}
        message = exc.description
        if isinstance(exc, RateLimitExceeded):
            headers["Retry-After"] = str(_retry_after_s(exc))
        if isinstance(exc, RequestEntityTooLarge):
            limit_kib = current_app.config["MAX_CONTENT_LENGTH"] // 1024
            message = f"the request is too big: the API accepts at most {limit_kib} KiB"
        return {"error": {"code": code, "message": message}}, exc.code, headers
    log.exception("unhandled error")
    return {"error": {"code": "internal_error", "message": "internal error"}}, 500


def _message(exc: Exception) -> str:
    if isinstance(exc, domain.TicketNotFound):
        return f"no ticket {exc}"
    if isinstance(exc, domain.IncidentNotFound):
        return f"no incident {exc}"
    return str(exc)


def _retry_after_s(exc: RateLimitExceeded) -> int:
    """Whole seconds until the breached limit's window resets (its whole window if unknown)."""
    try:
        reset_at = current_app.extensions["smartsupport_limiter"].current_limit.reset_at
        return max(1, math.ceil(reset_at - time.time()))
    except Exception:  # the limiter's storage is away: the window's length is an upper bound
        return max(1, int(exc.limit.limit.get_expiry()))
