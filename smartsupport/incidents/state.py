"""The small values the tracker and the registry both use: the policy, a ticket seen, an
incident's title. Their state in Redis is the store's incidents part (smartsupport/store/incidents.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

#: Sizes at which an incident.updated event fires (and stragglers are swept in).
MILESTONES = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
TITLE_CHARS = 90


@dataclass(frozen=True)
class Policy:
    similarity: float = 0.6
    min_tickets: int = 5
    window_s: float = 3600.0
    recent_max: int = 10_000

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        return cls(similarity=settings.incident_similarity, min_tickets=settings.incident_min_tickets,
                   window_s=float(settings.incident_window_s), recent_max=settings.incident_recent_max)


@dataclass(frozen=True)
class Seen:
    """One classified ticket, as the tracker needs it."""

    ticket_id: str
    text: str
    vector: np.ndarray
    category: str
    at: float


def title_of(text: str) -> str:
    first = text.strip().split("\n", 1)[0]
    sentence = re.split(r"(?<=[.!?])\s", first, maxsplit=1)[0].strip()
    return sentence if len(sentence) <= TITLE_CHARS else sentence[:TITLE_CHARS - 1].rstrip() + "…"


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm else vector.astype(np.float32)
