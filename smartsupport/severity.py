"""Operators' urgency corrections, learnt without retraining.

When an operator sets a ticket's urgency level by hand, the ticket's embedding becomes an anchor of
that level. The semantic severity of a later ticket (``SemanticSeverity``, 0 = low .. 1 = critical)
moves towards the levels of the corrected tickets it resembles: not at all below ``floor``
similarity (tickets that merely share the domain), most for near-duplicates, and more the more
corrections agree. A correction therefore changes the next similar ticket at once, and a correction
of an odd ticket changes nothing else.

    k_j    = weight * clip((cos(v, x_j) - floor) / (1 - floor), 0, 1) ** 2
    target = sum_j k_j * level_j / sum_j k_j
    share  = sum_j k_j / (sum_j k_j + 1)
    severity' = (1 - share) * severity + share * target

One near-identical correction with the default weight moves the severity two thirds of the way
to its level; the level descriptions in signals.json keep the rest. Pure numpy: one matrix product
per batch of tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .ticket import UrgencyLevel

#: Similarity under which a correction says nothing about a ticket.
DEFAULT_FLOOR = 0.6
#: What one near-identical correction weighs against the level descriptions (which weigh 1).
DEFAULT_WEIGHT = 2.0
_LEVELS = list(UrgencyLevel)


def level_value(level: UrgencyLevel | str) -> float:
    """A level as a severity: low 0, medium 1/3, high 2/3, critical 1."""
    return _LEVELS.index(UrgencyLevel(level)) / (len(_LEVELS) - 1)


@dataclass(frozen=True)
class SeverityCorrections:
    """Corrected tickets' embeddings (L2-normalised) and the severity of the level they were given."""

    vectors: np.ndarray
    values: np.ndarray
    floor: float = DEFAULT_FLOOR
    weight: float = DEFAULT_WEIGHT

    @classmethod
    def from_examples(cls, examples: Iterable[tuple[UrgencyLevel | str, np.ndarray]], *,
                      floor: float = DEFAULT_FLOOR, weight: float = DEFAULT_WEIGHT) -> "SeverityCorrections":
        """From ``(level, embedding)`` pairs, e.g. the tickets behind ``POST /api/tickets/<id>/urgency``;
        a ticket corrected twice should appear once, with its latest level."""
        pairs = [(level_value(level), np.asarray(vector, dtype=np.float32)) for level, vector in examples]
        if not pairs:
            return cls(np.zeros((0, 0), dtype=np.float32), np.zeros(0), floor, weight)
        if not 0 <= floor < 1 or weight < 0:
            raise ValueError("floor must be in [0, 1) and weight at least 0")
        return cls(np.stack([v for _, v in pairs]), np.array([value for value, _ in pairs]), floor, weight)

    def __len__(self) -> int:
        return len(self.values)

    def adjust(self, vectors: np.ndarray, severity: np.ndarray) -> np.ndarray:
        """``severity`` of the tickets with embeddings ``vectors``, moved towards the levels of the
        corrected tickets each one resembles (unchanged where it resembles none)."""
        severity = np.asarray(severity, dtype=np.float64)
        if not len(self) or not len(vectors):
            return severity
        closeness = np.clip((vectors @ self.vectors.T - self.floor) / (1.0 - self.floor), 0.0, 1.0)
        k = self.weight * closeness ** 2
        total = k.sum(axis=1)
        target = (k @ self.values) / np.maximum(total, 1e-12)
        share = total / (total + 1.0)
        return (1.0 - share) * severity + share * target
