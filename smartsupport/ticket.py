"""The ticket and the results the pipeline attaches to it."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

STATUSES = ("queued", "processing", "done", "failed")


class UrgencyLevel(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class WebhookStatus(str, Enum):
    NOT_NEEDED = "not_needed"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Ticket:
    """What a customer submitted; never changes after it is accepted."""

    id: str
    body: str
    subject: str = ""
    customer: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    #: Fingerprint of the key that submitted it (lets submit-only keys read their own tickets).
    submitter: str = ""

    @classmethod
    def new(cls, *, body: str, subject: str = "", customer: dict | None = None,
            metadata: dict | None = None, submitter: str = "", now: float | None = None) -> "Ticket":
        return cls(
            id=uuid.uuid4().hex,
            body=body,
            subject=subject,
            customer=dict(customer or {}),
            metadata=dict(metadata or {}),
            created_at=time.time() if now is None else now,
            submitter=submitter,
        )

    @property
    def text(self) -> str:
        """Subject and body as one text, the input of the models."""
        return f"{self.subject}\n{self.body}".strip() if self.subject else self.body

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Category:
    """Which label the classifier chose, with a probability for every label."""

    label: str
    confidence: float
    scores: dict[str, float]
    needs_review: bool
    model: str = ""
    corrected: bool = False
    #: Why a person should look at it beyond the model being unsure (e.g. the ticket's language).
    review_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Signal:
    """One severity cue found in a ticket and what it added to the urgency."""

    tier: str
    phrase: str
    weight: float


@dataclass(frozen=True)
class Urgency:
    score: float
    level: UrgencyLevel
    signals: tuple[Signal, ...] = ()
    sentiment: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": self.level.value,
            "signals": [asdict(s) for s in self.signals],
            "sentiment": self.sentiment,
        }
