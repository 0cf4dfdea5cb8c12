"""Request models: the API validates with pydantic, and /openapi.json is built from the same models
(the answers' are in web/answers.py)."""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartsupport.ticket import STATUSES, UrgencyLevel, WebhookStatus

Level = Literal[tuple(level.value for level in UrgencyLevel)]
TicketStatus = Literal[STATUSES]
INCIDENT_STATUSES = ("open", "closed", "merged")
IncidentStatus = Literal[INCIDENT_STATUSES]
WebhookState = Literal[tuple(status.value for status in WebhookStatus)]

MAX_BODY_CHARS = 20_000
MAX_SUBJECT_CHARS = 300
#: Caps on ``customer`` and ``metadata``, each: far above what an integration sends (an order id,
#: a plan, a few flags), far below what would slow the workers, the webhooks or the lists.
MAX_JSON_DEPTH = 5
#: Keys in all, counting those of nested objects.
MAX_OBJECT_KEYS = 50
MAX_KEY_CHARS = 256
MAX_STRING_CHARS = 2_000
#: As compact JSON, UTF-8.
MAX_OBJECT_BYTES = 16 * 1024
#: The deepest any request body may nest at all: a deeper one is refused before it is parsed.
MAX_REQUEST_DEPTH = 32
MAX_IDEMPOTENCY_KEY_CHARS = 200
_CTRL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
#: Besides those, none in a one-line text (a subject; customer and metadata keys and strings): no tab,
#: line break or C1 control, nor the bidirectional embeddings, overrides and isolates that reorder text.
_LINE_CTRL = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
#: No control characters (tab and newlines are fine), and at least one visible character.
BODY_PATTERN = rf"^[^{_CTRL}]*[^\s{_CTRL}][^{_CTRL}]*$"
SUBJECT_PATTERN = rf"^[^{_LINE_CTRL}]*$"
#: In customer and metadata keys and strings, what becomes a space, and what is dropped.
_LINE_BREAK = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]")
_INVISIBLE = re.compile(f"[{_LINE_CTRL}]")
_FREE_FORM = ("Free-form {what}: at most {depth} levels deep, {keys} keys in all, keys of at most {key_chars} "
              "characters, strings of at most {string_chars}, and at most {kib} KiB as JSON. In its keys and "
              "strings, tabs and line breaks become spaces, and other control characters and bidirectional "
              "embeddings, overrides and isolates are dropped.")


def _free_form(what: str) -> str:
    return _FREE_FORM.format(what=what, depth=MAX_JSON_DEPTH, keys=MAX_OBJECT_KEYS, key_chars=MAX_KEY_CHARS,
                             string_chars=MAX_STRING_CHARS, kib=MAX_OBJECT_BYTES // 1024)


class TicketIn(BaseModel):
    """A new ticket."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, pattern=BODY_PATTERN,
                      description="The customer's message.")
    subject: str = Field("", max_length=MAX_SUBJECT_CHARS, pattern=SUBJECT_PATTERN)
    customer: dict[str, Any] = Field(default_factory=dict, max_length=MAX_OBJECT_KEYS,
                                     description=_free_form("customer details"))
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=MAX_OBJECT_KEYS,
                                     description=_free_form("metadata"))

    @field_validator("customer", "metadata")
    @classmethod
    def _small_and_plain(cls, value: dict[str, Any]) -> dict[str, Any]:
        return free_form(value)


class CategoryIn(BaseModel):
    """An operator's correction of a ticket's category."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=200)


class UrgencyIn(BaseModel):
    """An operator's correction of a ticket's urgency level."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    level: Level


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000)


class ReplayIn(BaseModel):
    """Which dead-lettered events to send again: all, or one ticket's."""

    model_config = ConfigDict(extra="forbid")

    ticket_id: str | None = Field(None, max_length=200)


class StatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    last: int = Field(200, ge=1, le=2000)


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sort: Literal["urgency", "created"] = "urgency"
    status: TicketStatus | None = None
    limit: int = Field(50, ge=1, le=500)
    team: str | None = Field(None, min_length=1, max_length=100,
                             description="Only the tickets routed to this team (operator keys).")
    assignee: str | None = Field(None, min_length=1, max_length=100,
                                 description="Only the tickets this agent took (operator keys).")


class PresenceIn(BaseModel):
    """An agent's presence: ``available`` (work is pushed to them), ``away`` (their unacknowledged
    tickets go to others), or ``calendar`` (there while their calendar is open)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    status: Literal["available", "away", "calendar"]


class AgentIn(BaseModel):
    """Who takes the next ticket: an operator's key names the agent; an agent's key may leave it out
    (it acts as its own agent, and may name only that one)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field("", max_length=100, pattern=r"^[A-Za-z0-9._@-]*$")


class ReplyIn(BaseModel):
    """The customer's answer on a ticket: it joins the ticket (and re-scores it) as a mailed reply
    does, and a ticket waiting on the customer has its SLA clock running again."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, pattern=BODY_PATTERN)


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field("", max_length=100)


class IncidentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: IncidentStatus | None = None
    limit: int = Field(50, ge=1, le=500)


class IdempotencyHeaders(BaseModel):
    """The headers a submission may carry (documented only: the view reads the key itself, so that a
    long one gets its own error code)."""

    idempotency_key: str = Field("", alias="Idempotency-Key", max_length=MAX_IDEMPOTENCY_KEY_CHARS)


class MergeIn(BaseModel):
    """Which incident to merge this one into (an id, taken as given)."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=200)


def free_form(value: dict[str, Any]) -> dict[str, Any]:
    """A ``customer`` or ``metadata`` object with its keys and strings made plain (``plain_line``);
    ValueError naming the place where it breaks a cap. It walks the value with a stack of its own, not
    by recursion, and stops at the first level too deep, so no nesting raises RecursionError."""
    keys, result = 0, {}
    stack: list[tuple[Any, Any, str, int]] = [(value, result, "", 1)]
    while stack:
        node, copy, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{path}: must not nest deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, dict):
            keys += len(node)
            if keys > MAX_OBJECT_KEYS:
                raise ValueError(f"must not have more than {MAX_OBJECT_KEYS} keys in all")
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            key = _plain_key(key, copy, path)
            where = f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}" if path else key
            kept = type(child)() if isinstance(child, (dict, list)) else _plain_scalar(child, where)
            if isinstance(child, (dict, list)):
                stack.append((child, kept, where, depth + 1))
            if isinstance(copy, dict):
                copy[key] = kept
            else:
                copy.append(kept)
    size = len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_OBJECT_BYTES:
        raise ValueError(f"must be at most {MAX_OBJECT_BYTES // 1024} KiB as JSON, not {size:,} bytes")
    return result


def _plain_key(key: str | int, copy: dict | list, path: str) -> str | int:
    if isinstance(key, int):  # an index into a list
        return key
    key = plain_line(key)
    if len(key) > MAX_KEY_CHARS:
        raise ValueError(f"{path or '(top)'}: keys must be at most {MAX_KEY_CHARS} characters")
    if key in copy:
        raise ValueError(f"{path or '(top)'}: key {key!r} twice, once control characters are dropped")
    return key


def _plain_scalar(value: Any, where: str) -> Any:
    if isinstance(value, str):
        value = plain_line(value)
        if len(value) > MAX_STRING_CHARS:
            raise ValueError(f"{where}: must be at most {MAX_STRING_CHARS} characters")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: must not be NaN or Infinity (they are not JSON)")
    return value


def plain_line(text: str) -> str:
    """``text`` on one line, as it should reach logs, terminals and the dashboard: tabs and line
    breaks as spaces, other control characters and bidirectional controls dropped."""
    return _INVISIBLE.sub("", _LINE_BREAK.sub(" ", text))


def too_deep(text: str) -> bool:
    """Whether a JSON text nests objects and arrays deeper than MAX_REQUEST_DEPTH, read without
    parsing it (brackets in strings do not count): json and pydantic would recurse into it."""
    if text.count("[") + text.count("{") <= MAX_REQUEST_DEPTH:
        return False
    depth = 0
    for token in _STRUCTURE.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > MAX_REQUEST_DEPTH:
                return True
        elif bracket in ("]", "}"):
            depth -= 1
    return False


#: A JSON string (whose brackets do not count), or a bracket.
_STRUCTURE = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{}]', re.DOTALL)
