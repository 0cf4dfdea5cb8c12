"""Incidents' shared state in Redis, and the small values the tracker and the registry both use.

  ss:incidents:log             stream: {k: t, id, t, cat, v} a ticket seen (v: float16, base64);
                               {k: a, id, inc} a ticket assigned to an incident. Trimmed to a bound.
  ss:incidents:lock            held while a worker decides (one decision at a time, any host)
  ss:incidents                 zset: incident id -> opened at
  ss:incidents:open            set: ids of the open incidents
  ss:incidents:version         counter, bumped by every change to an incident
  ss:incident:<id>             hash: id, title, category, status (open|closed|merged), opened_at,
                               updated_at, size, sum (float32 base64: the members' summed vectors),
                               merged_into, closed_at
  ss:incident:<id>:members     zset: ticket id -> joined at
  ss:incident:<id>:events      set: the subjects of its events
  ss:incident:<id>:event:<n>   an incident.opened / incident.updated event: payload and deliveries
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import numpy as np

LOG = "ss:incidents:log"
LOCK = "ss:incidents:lock"
ALL = "ss:incidents"
OPEN = "ss:incidents:open"
#: Bumped by every change to an incident: workers reload the open ones only when it moved.
VERSION = "ss:incidents:version"
#: Sizes at which an incident.updated event fires (and stragglers are swept in).
MILESTONES = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
TITLE_CHARS = 90


def incident_key(incident_id: str) -> str:
    return f"ss:incident:{incident_id}"


def event_subject(incident_id: str, name: str) -> str:
    """The webhook subject of one incident event, e.g. ``incident:<id>:event:opened``."""
    return f"incident:{incident_id}:event:{name}"


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


def encode(vector: np.ndarray, dtype) -> str:
    return base64.b64encode(np.asarray(vector, dtype=dtype).tobytes()).decode()


def decode(raw: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(raw), dtype=dtype).astype(np.float32)
