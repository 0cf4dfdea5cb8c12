"""Answer models: what the views answer, declared once for /openapi.json (web/openapi.py). The
views build these answers as dicts; the models list the fields a client can count on, and an
answer may carry more (none forbids extra fields). Each class's name is its name in the spec, and
so in a generated client: rename one and every client generated from the spec breaks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .schemas import IncidentStatus, Level, TicketStatus, WebhookState


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list,
                                          description="One {field, message} per validation problem.")


class Error(BaseModel):
    """Every error answer (web/errors.py)."""

    error: ErrorBody


class Category(BaseModel):
    """A ticket's category. The label is a string, not an enum of the current labels: a ticket keeps
    the label it was given when the label set changes."""

    label: str
    confidence: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    needs_review: bool = False
    model: str = ""
    corrected: bool = False
    original_label: str | None = None
    review_reason: str | None = None


class Language(BaseModel):
    """The language a ticket is written in (ISO 639-1; None: undecided) and the detector's confidence."""

    code: str | None
    confidence: float


class Signal(BaseModel):
    tier: str
    phrase: str
    weight: float


class Urgency(BaseModel):
    score: float
    level: Level
    signals: list[Signal] = Field(default_factory=list)
    sentiment: float = 0.0
    corrected: bool = False
    original_level: Level | None = None
    original_score: float | None = None


class Webhook(BaseModel):
    status: WebhookState
    attempts: int


class AuditEntry(BaseModel):
    """One thing done to a ticket: when, by whom (an agent's name, or ``operator:<fingerprint>``), as
    which role, what and with what."""

    at: float
    actor: str
    role: str
    action: str
    detail: dict[str, Any] = Field(default_factory=dict)


class OpenTimeLeft(BaseModel):
    """Each target's open time left in seconds (negative once past); null for a target the policy does
    not set, or one met (the first response once acknowledged, the resolution once resolved)."""

    first_response: float | None
    resolution: float | None


class SlaClock(BaseModel):
    """When ``open_s_left`` was counted, and whether the SLA clock runs then."""

    at: float = Field(description="The request's time, or the pause's while the ticket waits on the customer.")
    running: bool = Field(description="Not paused, and the policy's calendar open at the request's time.")
    opens_at: float | None = Field(description="Not paused and the calendar closed: when it opens next.")
    closes_at: float | None = Field(description="Running in a calendar: when its open interval ends (null on the "
                                                "wall clock).")


class Sla(BaseModel):
    """A route's deadlines (docs/routing.md#deadlines), instants in Unix seconds, and what is left of them."""

    policy: str
    calendar: str | None = None
    first_response_due: float | None
    warning_at: float | None
    resolution_due: float | None = None
    resolution_warning_at: float | None = None
    breached: bool = False
    paused_at: float | None = None
    open_s_used: float = 0
    #: In the tickets of /api/tickets and of the answers acting on a ticket (not in an incident's).
    open_s_left: OpenTimeLeft | None = None
    clock: SlaClock | None = None


class Route(BaseModel):
    """Which team owns a ticket, by which rule, its priority and deadlines, and who holds it."""

    team: str
    rule: dict[str, Any] = Field(description="{name, why}")
    priority: str
    sla: Sla | None
    destinations: list[str] = Field(default_factory=list)
    assignee: str | None = None
    assigned_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    waiting_since: float | None = Field(None, description="Waiting on the customer since then: the SLA clock paused.")


class Ticket(BaseModel):
    """A ticket with its category, urgency, webhook state and timings."""

    id: str
    status: TicketStatus
    error: str | None = None
    subject: str
    body: str
    customer: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: float
    category: Category | None
    urgency: Urgency | None
    webhook: Webhook
    timings_ms: dict[str, float]
    workers: dict[str, str] = Field(default_factory=dict)
    incident: str | None = None
    language: Language | None = None
    #: null until the ticket is routed.
    route: Route | None = None
    #: Who did what to the ticket, oldest first (operator and agent keys, in GET /api/tickets/{id} only).
    audit: list[AuditEntry] | None = None


class TicketList(BaseModel):
    tickets: list[Ticket]


class Accepted(BaseModel):
    """A ticket accepted: it goes through the pipeline in the background."""

    id: str
    status: str
    status_url: str


class Redelivery(BaseModel):
    id: str
    endpoints: list[str]
    status: str


class Endpoint(BaseModel):
    url: str
    name: str | None = None
    disabled: bool
    disabled_reason: str | None = None
    recent: list[dict[str, Any]] = Field(default_factory=list, description="The latest attempts, newest first.")


class Endpoints(BaseModel):
    endpoints: list[Endpoint]
    dead_letter: int = Field(ge=0)


class EndpointEnabled(BaseModel):
    url: str
    disabled: bool


class DeadLetters(BaseModel):
    events: list[dict[str, Any]] = Field(description="{ticket_id, url, event_id, error, at}, oldest first.")


class Replayed(BaseModel):
    replayed: int = Field(ge=0)


class Incident(BaseModel):
    id: str
    title: str
    category: str
    status: IncidentStatus
    size: int = Field(ge=0)
    opened_at: float
    updated_at: float
    closed_at: float | None = None
    merged_into: str | None = None
    ticket_ids: list[str] = Field(default_factory=list)
    tickets: list[Ticket] = Field(default_factory=list)
    events: list[dict[str, Any]] = Field(default_factory=list)


class IncidentList(BaseModel):
    incidents: list[Incident]


class RoutingState(BaseModel):
    file: str | None
    error: str | None
    rules: list[str]


class Teams(BaseModel):
    teams: list[dict[str, Any]] = Field(description="Each team's members, queue, breaches and time to acknowledge.")
    routing: RoutingState


class Meta(BaseModel):
    labels: list[str]
    urgency_levels: list[Level]
    urgency_threshold: float
    flower_url: str | None
    flower_port: int
    webhook_endpoints: int = Field(ge=0)


class StageStats(BaseModel):
    p50: float
    p95: float
    n: int


class Stats(BaseModel):
    count: int = Field(ge=0)
    throughput_per_s: float
    stages: dict[str, StageStats]


class Health(BaseModel):
    """What runs and what is missing (web/health.py); operator keys see more."""

    status: Literal["ok", "warming", "unavailable"]
    redis: str
    workers: int
    missing: list[str]
    warnings: list[str]


class AgentKey(BaseModel):
    """An agent's key as it is listed: its fingerprint, never the key."""

    fingerprint: str
    created_at: float


class IssuedKey(AgentKey):
    """A new agent key, answered this once."""

    agent: str
    key: str


class AgentKeys(BaseModel):
    agent: str
    keys: list[AgentKey]


class RevokedKey(BaseModel):
    agent: str
    fingerprint: str
    revoked: bool


class Me(BaseModel):
    """Who a key is: its role, and for an agent's key the agent and their teams."""

    role: str
    agent: str | None = None
    teams: list[str] = Field(default_factory=list)


class Presence(BaseModel):
    """Whether an agent is there for work pushed to them, since when, and how many open tickets they hold."""

    agent: str
    status: Literal["available", "away", "calendar"]
    since: float | None = None
    open: int = 0
    there: bool = Field(description="Available now: said so, or follows a calendar that is open.")
