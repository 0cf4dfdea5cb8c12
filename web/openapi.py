"""The OpenAPI 3.1 description of the API, generated: each view declares its documentation next to
itself (``@documented``), the paths come from the app's URL map, and every schema from the pydantic
models that validate the requests (web/schemas.py) and describe the answers (web/answers.py). A view
of the API blueprint without ``@documented`` stops the spec from being built, so none is left out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from typing import Any, Callable, Mapping

from flask import Flask
from pydantic import BaseModel
from werkzeug.routing import Rule

from smartsupport import __version__

from .answers import Error
from .blueprint import OPEN_ENDPOINTS, api

REF = "#/components/schemas/{model}"
#: What each error status means, on every operation that may answer it.
_ERRORS = {
    400: "Malformed JSON or query", 401: "No or unknown API key", 403: "Needs an operator key",
    404: "Unknown ticket or incident", 409: "Conflicts with the current state", 413: "Request too large",
    415: "Not JSON", 422: "Invalid body", 429: "Rate limit exceeded (see Retry-After)",
    503: "Redis unavailable (see Retry-After)",
}
#: What a view that needs a key may answer besides its own errors.
_KEYED_ERRORS = (401, 429, 503)
#: The tag of each path's second segment (/api/<segment>/...); the others are "service".
_TAGS = {
    "tickets": "Tickets, their classification and operators' corrections.",
    "webhooks": "Webhook endpoints and dead-lettered events.",
    "incidents": "Incidents: many tickets about one problem.",
    "teams": "Team queues and the routing in force.",
    "service": "Labels, latency statistics and health.",
}
#: A path argument, ``<name>`` or ``<converter(args):name>``.
_ARGUMENT = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTER_TYPES = {"int": "integer", "float": "number"}
Model = type[BaseModel]


@dataclass(frozen=True)
class Doc:
    """A view's documentation (see ``documented``)."""

    summary: str
    answers: Mapping[int, Model | None]
    errors: tuple[int, ...] = ()
    body: Model | None = None
    query: Model | None = None
    headers: Model | None = None
    operation_id: str | None = None


def documented(summary: str, *, answers: Mapping[int, Model | None], errors: tuple[int, ...] = (),
               body: Model | None = None, query: Model | None = None, headers: Model | None = None,
               operation_id: str | None = None) -> Callable[[Callable], Callable]:
    """Declare a view's operation in /openapi.json. ``answers`` maps each success status to the model
    of its body (None: no body); ``errors`` lists the error statuses the view itself answers (a view
    that needs a key may also answer 401, 429 and 503, added for it); ``body``, ``query`` and
    ``headers`` are the models of what the request carries. ``operation_id``, what a generated client
    names its function, is the view's name in camelCase unless given: keep it stable."""
    doc = Doc(summary=summary, answers=answers, errors=errors, body=body, query=query, headers=headers,
              operation_id=operation_id)

    def mark(view: Callable) -> Callable:
        view.openapi_doc = doc
        return view
    return mark


@lru_cache(maxsize=4)
def build_spec(app: Flask, labels: tuple[str, ...]) -> dict[str, Any]:
    """The spec of ``app``'s API for the current label set (a correction's label must be one of them)."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions[rule.endpoint], "openapi_doc", None)
        if doc is None:
            if rule.endpoint.startswith(f"{api.name}."):
                raise LookupError(f"the view {rule.endpoint} ({rule.rule}) has no @documented: it would be "
                                  "missing from /openapi.json")
            continue  # not the API's: the spec itself, the dashboard, the metrics
        path, parameters = _path(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, doc, parameters, schemas)
    if "CategoryIn" in schemas:
        schemas["CategoryIn"]["properties"]["label"]["enum"] = list(labels)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SmartSupport API", "version": __version__},
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                       "schemas": dict(sorted(schemas.items()))},
        "paths": paths,
    }


def _path(rule: Rule) -> tuple[str, list[dict[str, Any]]]:
    """The OpenAPI path of a Flask rule (``<ticket_id>`` → ``{ticket_id}``) and its path parameters."""
    parameters = [{"name": arg["name"], "in": "path", "required": True,
                   "schema": {"type": _CONVERTER_TYPES.get(arg["converter"], "string")}}
                  for arg in _ARGUMENT.finditer(rule.rule)]
    return _ARGUMENT.sub(r"{\g<name>}", rule.rule), parameters


def _operation(rule: Rule, doc: Doc, path_parameters: list[dict[str, Any]],
               schemas: dict[str, Any]) -> dict[str, Any]:
    keyed = rule.endpoint not in OPEN_ENDPOINTS
    view_name = rule.endpoint.rpartition(".")[2]
    responses: dict[str, Any] = {}
    for status, model in doc.answers.items():
        responses[str(status)] = {"description": HTTPStatus(status).phrase}
        if model is not None:
            responses[str(status)]["content"] = _json(_ref(model, schemas))
    for status in (*doc.errors, *(_KEYED_ERRORS if keyed else ())):
        responses[str(status)] = {"description": _ERRORS[status], "content": _json(_ref(Error, schemas))}
    segment = rule.rule.split("/")[2]
    op: dict[str, Any] = {"operationId": doc.operation_id or _camel_case(view_name), "summary": doc.summary,
                          "tags": [segment if segment in _TAGS else "service"], "responses": responses}
    if keyed:
        op["security"] = [{"bearer": []}]
    parameters = [*path_parameters, *_parameters(doc.query, "query"), *_parameters(doc.headers, "header")]
    if parameters:
        op["parameters"] = parameters
    if doc.body is not None:
        op["requestBody"] = {"required": True, "content": _json(_ref(doc.body, schemas))}
    return op


def _ref(model: Model, schemas: dict[str, Any]) -> dict[str, str]:
    """A reference to ``model``'s schema, which goes into ``schemas`` with the models it uses."""
    schema = model.model_json_schema(ref_template=REF)
    for name, found in {**schema.pop("$defs", {}), model.__name__: schema}.items():
        if schemas.setdefault(name, found) != found:
            raise ValueError(f"two different schemas are named {name}: rename one of the models")
    return {"$ref": REF.format(model=model.__name__)}


def _parameters(model: Model | None, where: str) -> list[dict[str, Any]]:
    """One parameter per field of a query's or headers' model (by its alias, as the request spells it)."""
    if model is None:
        return []
    schema = model.model_json_schema()
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = _optional(field_schema)
        parameter = {"name": name, "in": where}
        if "description" in field_schema:
            parameter["description"] = field_schema.pop("description")
        if name in schema.get("required", ()):
            parameter["required"] = True
        parameters.append({**parameter, "schema": field_schema})
    return parameters


def _optional(field_schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without its title, and without the null of ``X | None = None``: an optional
    parameter is left out, never sent as null."""
    plain = {key: value for key, value in field_schema.items() if key not in ("title", "anyOf")}
    branches = [branch for branch in field_schema.get("anyOf", ()) if branch != {"type": "null"}]
    if len(branches) == 1:
        plain.update(branches[0])
    elif branches:
        plain["anyOf"] = branches
    if "default" in plain and plain["default"] is None:
        del plain["default"]
    return plain


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)
