"""The API's blueprint, and what every view of it shares: who is asking (the key, checked before
each request), the services, the request's JSON object and its validation. api.py and teams.py add
their views to it."""

from __future__ import annotations

import contextlib

from flask import Blueprint, current_app, g, request
from pydantic import ValidationError
from werkzeug.exceptions import Forbidden, Unauthorized, UnsupportedMediaType

from smartsupport.errors import ConfigError, InvalidTicket, StoreUnavailable

from .errors import BodyNotAnObject, BodyTooDeep, InvalidQuery, MalformedJson
from .schemas import MAX_REQUEST_DEPTH, too_deep

api = Blueprint("api", __name__, url_prefix="/api")
OPEN_ENDPOINTS = {"api.health"}


def current_services():
    """The app's Services (web/__init__.py)."""
    return current_app.extensions["smartsupport"]


def request_principal():
    """Who sent this request (web/auth.py's Principal), or None for no key or an unknown one; looked
    up once per request (the rate limit asks first). StoreUnavailable while an agent's key cannot
    be looked up."""
    if "principal_found" not in g:
        g.principal_found = current_services().keys.identify(request.headers.get("Authorization"))
    return g.principal_found


@api.before_request
def _authenticate() -> None:
    if request.endpoint in OPEN_ENDPOINTS or request.method == "OPTIONS":
        return
    principal = request_principal()
    if principal is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    g.principal = principal


@api.before_request
def _publish_changed_files() -> None:
    """An edited labels or routing file on this host reaches every host (smartsupport.published)."""
    with contextlib.suppress(ConfigError, StoreUnavailable):
        current_services().publish_changed_files()


def operator_only() -> None:
    """Forbidden unless the request came with an operator key."""
    if not g.principal.is_operator:
        raise Forbidden("this needs an operator key")


def operator_or_agent() -> None:
    """Forbidden unless the request came with an operator's or an agent's key (what an agent may do
    is then checked against their teams: web/agents.py)."""
    if not (g.principal.is_operator or g.principal.is_agent):
        raise Forbidden("this needs an operator's or an agent's key")


def json_object() -> dict:
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


def validated(model, data: dict, *, query: bool = False):
    """``data`` parsed by a pydantic ``model``; InvalidTicket (InvalidQuery for a query string) otherwise."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [{"field": ".".join(map(str, e["loc"])) or "(body)", "message": e["msg"]} for e in exc.errors()]
        message = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        raise (InvalidQuery if query else InvalidTicket)(message, details=details) from None
