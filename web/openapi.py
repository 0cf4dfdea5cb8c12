"""The OpenAPI 3.1 description of the API; request bodies come from the pydantic models that
validate them, so the spec and the checks cannot drift apart."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from smartsupport import __version__
from smartsupport.ticket import STATUSES

from .schemas import AckIn, AgentIn, CategoryIn, EndpointIn, MergeIn, ReplayIn, TicketIn, UrgencyIn

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}}}}},
}
_NULLABLE_OBJECT = {"anyOf": [{"type": "object"}, {"type": "null"}]}
_TICKET = {
    "type": "object",
    "required": ["id", "status", "subject", "body", "created_at", "category", "urgency", "webhook", "timings_ms"],
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "error": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "subject": {"type": "string"},
        "body": {"type": "string"},
        "customer": {"type": "object"},
        "metadata": {"type": "object"},
        "created_at": {"type": "number"},
        "category": _NULLABLE_OBJECT,
        "urgency": _NULLABLE_OBJECT,
        "webhook": {"type": "object", "required": ["status", "attempts"], "properties": {
            "status": {"type": "string", "enum": ["not_needed", "pending", "delivered", "failed"]},
            "attempts": {"type": "integer"}}},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "workers": {"type": "object", "additionalProperties": {"type": "string"}},
        "incident": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
INCIDENT_STATUSES = ["open", "closed", "merged"]
_INCIDENT = {
    "type": "object",
    "required": ["id", "title", "category", "status", "size", "opened_at", "updated_at"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "category": {"type": "string"},
        "status": {"type": "string", "enum": INCIDENT_STATUSES},
        "size": {"type": "integer", "minimum": 0},
        "opened_at": {"type": "number"},
        "updated_at": {"type": "number"},
        "closed_at": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        "merged_into": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "ticket_ids": {"type": "array", "items": {"type": "string"}},
        "tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}
_ACCEPTED = {"type": "object", "required": ["id", "status", "status_url"], "properties": {
    "id": {"type": "string"}, "status": {"type": "string"}, "status_url": {"type": "string"}}}
_ERRORS = {
    400: "Malformed JSON or query", 401: "No or unknown API key", 403: "Needs an operator key",
    404: "Unknown ticket or incident", 409: "Conflicts with the current state", 413: "Request too large",
    415: "Not JSON", 422: "Invalid body", 429: "Rate limit exceeded (see Retry-After)",
    503: "Redis unavailable (see Retry-After)",
}
_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}
_INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, ok: tuple[int, dict[str, Any]], errors: tuple[int, ...], *, body: str | None = None,
        params: list[dict[str, Any]] | None = None, auth: bool = True) -> dict[str, Any]:
    status, schema = ok
    responses: dict[str, Any] = {str(status): {"description": "OK", "content": _json(schema)}}
    for code in (*errors, *((401, 429, 503) if auth else ())):
        responses[str(code)] = {"description": _ERRORS[code], "content": _json(_ref("Error"))}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if auth:
        op["security"] = [{"bearer": []}]
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return op


@lru_cache(maxsize=4)
def build_spec(labels: tuple[str, ...]) -> dict[str, Any]:
    """The spec for the current label set (a correction's label must be one of them)."""
    schemas = {model.__name__: model.model_json_schema(ref_template="#/components/schemas/{model}")
               for model in (TicketIn, CategoryIn, UrgencyIn, EndpointIn, ReplayIn, MergeIn, AgentIn, AckIn)}
    schemas["CategoryIn"]["properties"]["label"]["enum"] = list(labels)
    list_params = [
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["urgency", "created"]}},
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    ]
    idempotency = [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "maxLength": 200}}]
    obj = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartSupport API", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**schemas, "Ticket": _TICKET, "Incident": _INCIDENT, "Error": _ERROR},
        },
        "paths": {
            "/api/tickets": {
                "post": _op("Submit a ticket; it is classified, scored and routed in the background.",
                            (202, _ACCEPTED), (400, 409, 413, 415, 422), body="TicketIn", params=idempotency),
                "get": _op("List tickets, most urgent (or newest) first.",
                           (200, {"type": "object", "required": ["tickets"],
                                  "properties": {"tickets": {"type": "array", "items": _ref("Ticket")}}}),
                           (400,), params=list_params),
            },
            "/api/tickets/{ticket_id}": {
                "get": _op("One ticket with its category, urgency, webhook state and timings.",
                           (200, _ref("Ticket")), (404,), params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/category": {
                "post": _op("Correct a ticket's category; it becomes an example for that label.",
                            (200, _ref("Ticket")), (400, 403, 404, 413, 415, 422), body="CategoryIn",
                            params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/urgency": {
                "post": _op("Correct a ticket's urgency level; it becomes an example for that level.",
                            (200, _ref("Ticket")), (400, 403, 404, 413, 415, 422), body="UrgencyIn",
                            params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/retry": {
                "post": _op("Send a failed ticket through the pipeline again.", (202, _ACCEPTED), (403, 404, 409),
                            params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/webhooks/redeliver": {
                "post": _op("Deliver the ticket's event again (same event id).", (202, obj), (403, 404, 409),
                            params=[_TICKET_ID]),
            },
            "/api/webhooks": {"get": _op("Endpoints, their state and latest attempts.", (200, obj), (403,))},
            "/api/webhooks/endpoints/enable": {
                "post": _op("Enable an endpoint disabled by a 410.", (200, obj), (400, 403, 409, 413, 415, 422),
                            body="EndpointIn"),
            },
            "/api/webhooks/dead": {"get": _op("Events whose attempts ran out.", (200, obj), (403,))},
            "/api/webhooks/dead/replay": {
                "post": _op("Deliver dead-lettered events again.", (202, obj), (400, 403, 413, 415, 422),
                            body="ReplayIn"),
            },
            "/api/incidents": {
                "get": _op("Incidents (many tickets about one problem), newest first.",
                           (200, {"type": "object", "required": ["incidents"],
                                  "properties": {"incidents": {"type": "array", "items": _ref("Incident")}}}),
                           (400, 403),
                           params=[{"name": "status", "in": "query",
                                    "schema": {"type": "string", "enum": INCIDENT_STATUSES}},
                                   {"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 500}}]),
            },
            "/api/incidents/{incident_id}": {
                "get": _op("One incident with its tickets and its events' deliveries.", (200, _ref("Incident")),
                           (403, 404), params=[_INCIDENT_ID]),
            },
            "/api/incidents/{incident_id}/close": {
                "post": _op("Close an open incident: new similar tickets no longer join it.", (200, _ref("Incident")),
                            (403, 404, 409), params=[_INCIDENT_ID]),
            },
            "/api/incidents/{incident_id}/merge": {
                "post": _op("Merge this incident into another; its tickets move there.", (200, _ref("Incident")),
                            (400, 403, 404, 409, 413, 415, 422), body="MergeIn", params=[_INCIDENT_ID]),
            },
            "/api/tickets/{ticket_id}/ack": {
                "post": _op("Acknowledge the ticket: its SLA clock stops.", (200, _ref("Ticket")),
                            (400, 403, 404, 409, 415, 422), body="AckIn", params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/resolve": {
                "post": _op("Resolve the ticket: acknowledged, and out of every queue.", (200, _ref("Ticket")),
                            (400, 403, 404, 409, 415, 422), body="AckIn", params=[_TICKET_ID]),
            },
            "/api/teams": {"get": _op("Each team's queue, breaches and time to acknowledge; the routing in force.",
                                      (200, obj), (403,))},
            "/api/teams/{team}/next": {
                "post": _op("Hand the agent the most urgent waiting ticket of the team (204: none waits).",
                            (200, _ref("Ticket")), (400, 403, 404, 409, 415, 422), body="AgentIn",
                            params=[{"name": "team", "in": "path", "required": True, "schema": {"type": "string"}}]),
            },
            "/api/meta": {"get": _op("Labels, urgency threshold and the Flower URL.", (200, obj), ())},
            "/api/stats": {
                "get": _op("Latency percentiles per stage and throughput over the last done tickets.",
                           (200, obj), (400, 403),
                           params=[{"name": "last", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 2000}}]),
            },
            "/api/health": {
                "get": {"summary": "200 when Redis and at least one worker answer.",
                        "responses": {"200": {"description": "Healthy", "content": _json(obj)},
                                      "503": {"description": "Unhealthy", "content": _json(obj)}}},
            },
        },
    }
