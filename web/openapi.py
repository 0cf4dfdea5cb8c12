"""The OpenAPI 3.1 description of the API; request bodies come from the pydantic models that
validate them, so the spec and the checks cannot drift apart."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from smartsupport import __version__
from smartsupport.ticket import STATUSES, UrgencyLevel

from .schemas import AckIn, AgentIn, CategoryIn, EndpointIn, MergeIn, ReplayIn, TicketIn, UrgencyIn

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"},
        "details": {"type": "array", "items": {"type": "object"}}}}},
}
LEVELS = [level.value for level in UrgencyLevel]


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


# A label is a string, not an enum of the current labels: a ticket keeps the label it was given when
# the label set changes.
_CATEGORY = {
    "type": "object",
    "required": ["label"],
    "properties": {
        "label": {"type": "string"},
        "confidence": _nullable({"type": "number"}),
        "scores": {"type": "object", "additionalProperties": {"type": "number"}},
        "needs_review": {"type": "boolean"},
        "model": {"type": "string"},
        "corrected": {"type": "boolean"},
        "original_label": _nullable({"type": "string"}),
    },
}
_URGENCY = {
    "type": "object",
    "required": ["score", "level"],
    "properties": {
        "score": {"type": "number"},
        "level": {"type": "string", "enum": LEVELS},
        "signals": {"type": "array", "items": {"type": "object", "required": ["tier", "phrase", "weight"],
                                               "properties": {"tier": {"type": "string"},
                                                              "phrase": {"type": "string"},
                                                              "weight": {"type": "number"}}}},
        "sentiment": {"type": "number"},
        "corrected": {"type": "boolean"},
        "original_level": _nullable({"type": "string", "enum": LEVELS}),
        "original_score": _nullable({"type": "number"}),
    },
}
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
        "category": _nullable({"$ref": "#/components/schemas/Category"}),
        "urgency": _nullable({"$ref": "#/components/schemas/Urgency"}),
        "webhook": {"type": "object", "required": ["status", "attempts"], "properties": {
            "status": {"type": "string", "enum": ["not_needed", "pending", "delivered", "failed"]},
            "attempts": {"type": "integer"}}},
        "timings_ms": {"type": "object", "additionalProperties": {"type": "number"}},
        "workers": {"type": "object", "additionalProperties": {"type": "string"}},
        "incident": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "audit": {"type": "array", "description": "Who did what to the ticket, oldest first (operator and "
                  "agent keys, in GET /api/tickets/{ticket_id} only).",
                  "items": {"type": "object", "required": ["at", "actor", "role", "action", "detail"]}},
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
_INCIDENT_LIST = {"type": "object", "required": ["incidents"],
                  "properties": {"incidents": {"type": "array", "items": {"$ref": "#/components/schemas/Incident"}}}}
_TICKET_LIST = {"type": "object", "required": ["tickets"],
                "properties": {"tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}}}
_ACCEPTED = {"type": "object", "required": ["id", "status", "status_url"], "properties": {
    "id": {"type": "string"}, "status": {"type": "string"}, "status_url": {"type": "string"}}}
_ERRORS = {
    400: "Malformed JSON or query", 401: "No or unknown API key", 403: "Not allowed with this key",
    404: "Unknown ticket or incident", 409: "Conflicts with the current state", 413: "Request too large",
    415: "Not JSON", 422: "Invalid body", 429: "Rate limit exceeded (see Retry-After)",
    503: "Redis unavailable (see Retry-After)",
}
_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}
_INCIDENT_ID = {"name": "incident_id", "in": "path", "required": True, "schema": {"type": "string"}}
_AGENT = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_FINGERPRINT = {"name": "fingerprint", "in": "path", "required": True, "schema": {"type": "string"}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(op_id: str, summary: str, ok: tuple[int, dict[str, Any]], errors: tuple[int, ...], *,
        body: str | None = None, params: list[dict[str, Any]] | None = None, auth: bool = True,
        empty: tuple[int, str] | None = None) -> dict[str, Any]:
    """One operation; ``op_id`` is its stable operationId (what a generated client names its function)
    and ``empty`` an answer without a body (status, description)."""
    status, schema = ok
    responses: dict[str, Any] = {str(status): {"description": "OK", "content": _json(schema)}}
    if empty:
        responses[str(empty[0])] = {"description": empty[1]}
    for code in (*errors, *((401, 429, 503) if auth else ())):
        responses[str(code)] = {"description": _ERRORS[code], "content": _json(_ref("Error"))}
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "responses": responses}
    if auth:
        op["security"] = [{"bearer": []}]
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return op


#: The tag of each path's second segment (/api/<segment>/...); the others are "service".
_TAGS = {
    "tickets": "Tickets, their classification and operators' corrections.",
    "webhooks": "Webhook endpoints and dead-lettered events.",
    "incidents": "Incidents: many tickets about one problem.",
    "teams": "Team queues and the routing in force.",
    "agents": "Agents' own keys, issued, listed and revoked by an operator.",
    "service": "Labels, latency statistics and health.",
}


def _tagged(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    for path, ops in paths.items():
        segment = path.split("/")[2]
        for op in ops.values():
            op["tags"] = [segment if segment in _TAGS else "service"]
    return paths


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
        {"name": "team", "in": "query", "description": "Only the tickets routed to this team (operator keys).",
         "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
        {"name": "assignee", "in": "query", "description": "Only the tickets this agent took (operator keys).",
         "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
    ]
    idempotency = [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "maxLength": 200}}]
    obj = {"type": "object"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartSupport API", "version": __version__},
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {**schemas, "Ticket": _TICKET, "Category": _CATEGORY, "Urgency": _URGENCY,
                        "TicketList": _TICKET_LIST, "Accepted": _ACCEPTED, "Incident": _INCIDENT,
                        "IncidentList": _INCIDENT_LIST, "Error": _ERROR},
        },
        "paths": _tagged({
            "/api/tickets": {
                "post": _op("submitTicket", "Submit a ticket; it is classified, scored and routed in the background.",
                            (202, _ref("Accepted")), (400, 409, 413, 415, 422), body="TicketIn", params=idempotency),
                "get": _op("listTickets", "List tickets, most urgent (or newest) first.",
                           (200, _ref("TicketList")), (400, 403), params=list_params),
            },
            "/api/tickets/{ticket_id}": {
                "get": _op("getTicket", "One ticket with its category, urgency, webhook state and timings.",
                           (200, _ref("Ticket")), (404,), params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/category": {
                "post": _op("correctCategory", "Correct a ticket's category; it becomes an example for that label.",
                            (200, _ref("Ticket")), (400, 403, 404, 413, 415, 422), body="CategoryIn",
                            params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/urgency": {
                "post": _op("correctUrgency",
                            "Correct a ticket's urgency level; it becomes an example for that level.",
                            (200, _ref("Ticket")), (400, 403, 404, 413, 415, 422), body="UrgencyIn",
                            params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/retry": {
                "post": _op("retryTicket", "Send a failed ticket through the pipeline again.",
                            (202, _ref("Accepted")), (403, 404, 409), params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/webhooks/redeliver": {
                "post": _op("redeliverWebhook", "Deliver the ticket's event again (same event id).", (202, obj),
                            (403, 404, 409), params=[_TICKET_ID]),
            },
            "/api/webhooks": {"get": _op("listWebhookEndpoints", "Endpoints, their state and latest attempts.",
                                         (200, obj), (403,))},
            "/api/webhooks/endpoints/enable": {
                "post": _op("enableWebhookEndpoint", "Enable an endpoint disabled by a 410.", (200, obj),
                            (400, 403, 409, 413, 415, 422), body="EndpointIn"),
            },
            "/api/webhooks/dead": {"get": _op("listDeadLetters", "Events whose attempts ran out.", (200, obj),
                                              (403,))},
            "/api/webhooks/dead/replay": {
                "post": _op("replayDeadLetters", "Deliver dead-lettered events again.", (202, obj),
                            (400, 403, 413, 415, 422), body="ReplayIn"),
            },
            "/api/incidents": {
                "get": _op("listIncidents", "Incidents (many tickets about one problem), newest first.",
                           (200, _ref("IncidentList")), (400, 403),
                           params=[{"name": "status", "in": "query",
                                    "schema": {"type": "string", "enum": INCIDENT_STATUSES}},
                                   {"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 500}}]),
            },
            "/api/incidents/{incident_id}": {
                "get": _op("getIncident", "One incident with its tickets and its events' deliveries.",
                           (200, _ref("Incident")), (403, 404), params=[_INCIDENT_ID]),
            },
            "/api/incidents/{incident_id}/close": {
                "post": _op("closeIncident", "Close an open incident: new similar tickets no longer join it.",
                            (200, _ref("Incident")), (403, 404, 409), params=[_INCIDENT_ID]),
            },
            "/api/incidents/{incident_id}/merge": {
                "post": _op("mergeIncident", "Merge this incident into another; its tickets move there.",
                            (200, _ref("Incident")), (400, 403, 404, 409, 413, 415, 422), body="MergeIn",
                            params=[_INCIDENT_ID]),
            },
            "/api/tickets/{ticket_id}/ack": {
                "post": _op("ackTicket", "Acknowledge the ticket: its SLA clock stops.", (200, _ref("Ticket")),
                            (400, 403, 404, 409, 415, 422), body="AckIn", params=[_TICKET_ID]),
            },
            "/api/tickets/{ticket_id}/resolve": {
                "post": _op("resolveTicket", "Resolve the ticket: acknowledged, and out of every queue.",
                            (200, _ref("Ticket")), (400, 403, 404, 409, 415, 422), body="AckIn",
                            params=[_TICKET_ID]),
            },
            "/api/teams": {"get": _op("listTeams",
                                      "Each team's queue, breaches and time to acknowledge; the routing in force.",
                                      (200, obj), (403,))},
            "/api/teams/{team}/next": {
                "post": _op("takeNextTicket", "Hand the agent the most urgent waiting ticket of the team.",
                            (200, _ref("Ticket")), (400, 403, 404, 409, 415, 422), body="AgentIn",
                            params=[{"name": "team", "in": "path", "required": True, "schema": {"type": "string"}}],
                            empty=(204, "No ticket waits in the team's queue")),
            },
            "/api/agents/{name}/keys": {
                "post": _op("issueAgentKey", "A new key for an agent of the routing (answered once).", (201, obj),
                            (403, 404), params=[_AGENT]),
                "get": _op("listAgentKeys", "The agent's keys by fingerprint.", (200, obj), (403,), params=[_AGENT]),
            },
            "/api/agents/{name}/keys/{fingerprint}": {
                "delete": _op("revokeAgentKey", "Revoke one of the agent's keys.", (200, obj), (403, 404),
                              params=[_AGENT, _FINGERPRINT]),
            },
            "/api/me": {"get": _op("whoAmI", "The key's role, and for an agent's key the agent and their teams.",
                                   (200, obj), ())},
            "/api/meta": {"get": _op("getMeta", "Labels, urgency threshold and the Flower URL.", (200, obj), ())},
            "/api/stats": {
                "get": _op("getStats", "Latency percentiles per stage and throughput over the last done tickets.",
                           (200, obj), (400, 403),
                           params=[{"name": "last", "in": "query",
                                    "schema": {"type": "integer", "minimum": 1, "maximum": 2000}}]),
            },
            "/api/health": {
                "get": {"operationId": "getHealth", "summary": "200 when Redis and at least one worker answer.",
                        "responses": {"200": {"description": "Healthy", "content": _json(obj)},
                                      "503": {"description": "Unhealthy", "content": _json(obj)}}},
            },
        }),
    }
