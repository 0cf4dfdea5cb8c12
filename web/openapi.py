"""The OpenAPI 3.1 description of the API, with request schemas taken from the pydantic models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from smartsupport import __version__

from .schemas import TicketIn

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
        "status": {"type": "string", "enum": ["queued", "processing", "done", "failed"]},
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
    },
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@lru_cache(maxsize=1)
def build_spec() -> dict[str, Any]:
    ticket_in = TicketIn.model_json_schema(ref_template="#/components/schemas/{model}")
    auth = [{"bearer": []}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartSupport API", "version": __version__},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"TicketIn": ticket_in, "Ticket": _TICKET, "Error": _ERROR},
        },
        "paths": {
            "/api/tickets": {
                "post": {
                    "summary": "Submit a ticket; it is classified, scored and routed in the background.",
                    "security": auth,
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                    "schema": {"type": "string", "maxLength": 200}}],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/TicketIn"}}}},
                    "responses": {
                        "202": {"description": "Accepted", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["id", "status", "status_url"], "properties": {
                                "id": {"type": "string"}, "status": {"type": "string"},
                                "status_url": {"type": "string"}}}}}},
                        "400": _error("Malformed JSON"), "401": _error("No or unknown API key"),
                        "413": _error("Request too large"), "415": _error("Not JSON"),
                        "422": _error("Invalid ticket"), "503": _error("Store unavailable"),
                    },
                },
                "get": {
                    "summary": "List tickets, most urgent (or newest) first.",
                    "security": auth,
                    "parameters": [
                        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["urgency", "created"]}},
                        {"name": "status", "in": "query", "schema": {
                            "type": "string", "enum": ["queued", "processing", "done", "failed"]}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                    ],
                    "responses": {
                        "200": {"description": "Tickets", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["tickets"], "properties": {
                                "tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}}}}}}},
                        "400": _error("Bad query"), "401": _error("No or unknown API key"),
                        "503": _error("Store unavailable"),
                    },
                },
            },
            "/api/tickets/{ticket_id}": {
                "get": {
                    "summary": "One ticket with its category, urgency, webhook state and timings.",
                    "security": auth,
                    "parameters": [{"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "The ticket", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Ticket"}}}},
                        "401": _error("No or unknown API key"), "404": _error("Unknown ticket"),
                        "503": _error("Store unavailable"),
                    },
                },
            },
            "/api/health": {
                "get": {
                    "summary": "200 when Redis and at least one worker answer.",
                    "responses": {"200": {"description": "Healthy"}, "503": {"description": "Unhealthy"}},
                },
            },
        },
    }
