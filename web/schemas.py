"""Request models: the API validates with pydantic, and /openapi.json is built from the same models."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from smartsupport.ticket import STATUSES, UrgencyLevel

MAX_BODY_CHARS = 20_000
MAX_SUBJECT_CHARS = 300
MAX_JSON_DEPTH = 5
MAX_OBJECT_KEYS = 50
_CTRL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
#: No control characters (tab and newlines are fine), and at least one visible character.
BODY_PATTERN = rf"^[^{_CTRL}]*[^\s{_CTRL}][^{_CTRL}]*$"
SUBJECT_PATTERN = rf"^[^{_CTRL}]*$"


class TicketIn(BaseModel):
    """A new ticket."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    body: str = Field(min_length=1, max_length=MAX_BODY_CHARS, pattern=BODY_PATTERN,
                      description="The customer's message.")
    subject: str = Field("", max_length=MAX_SUBJECT_CHARS, pattern=SUBJECT_PATTERN)
    customer: dict[str, Any] = Field(default_factory=dict, description="Free-form customer details.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form metadata, kept as given.")

    @field_validator("customer", "metadata")
    @classmethod
    def _small_and_shallow(cls, value: dict[str, Any]) -> dict[str, Any]:
        if _depth(value) > MAX_JSON_DEPTH:
            raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")
        if len(value) > MAX_OBJECT_KEYS:
            raise ValueError(f"must not have more than {MAX_OBJECT_KEYS} keys")
        if not _finite(value):
            raise ValueError("must not hold NaN or Infinity (they are not JSON)")
        return value


class CategoryIn(BaseModel):
    """An operator's correction of a ticket's category."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=200)


class UrgencyIn(BaseModel):
    """An operator's correction of a ticket's urgency level."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    level: Literal[tuple(level.value for level in UrgencyLevel)]


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

    sort: str = Field("urgency", pattern="^(urgency|created)$")
    status: Literal[STATUSES] | None = None
    limit: int = Field(50, ge=1, le=500)
    team: str | None = Field(None, min_length=1, max_length=100)
    assignee: str | None = Field(None, min_length=1, max_length=100)


class AgentIn(BaseModel):
    """Who takes, acknowledges or resolves a ticket."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._@-]+$")


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    agent: str = Field("", max_length=100)


class IncidentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: str | None = Field(None, pattern="^(open|closed|merged)$")
    limit: int = Field(50, ge=1, le=500)


class MergeIn(BaseModel):
    """Which incident to merge this one into (an id, taken as given)."""

    model_config = ConfigDict(extra="forbid")

    into: str = Field(min_length=1, max_length=200)


def _finite(value: Any) -> bool:
    """No NaN or Infinity anywhere in ``value``: Python's JSON parser accepts them, JSON does not."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (a scalar is 0)."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0
