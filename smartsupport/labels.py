"""Label sets: each category has a name, a description and optional example tickets.

A labels file is JSON: ``{"labels": [{"name", "description", "examples": [...]}, ...],
"temperature"?: float, "fallback"?: str, "fallback_threshold"?: float, "review_gap"?: float}``; the
temperature, when present, was calibrated for that label set, and so was ``review_gap``: a ticket
whose best label's similarity leads the second's by less is flagged for review (0: no such rule).
``fallback`` names the label given to a ticket that no label is close enough to (its centred
similarity to every label is under ``fallback_threshold``): such a ticket is flagged for review.
The fallback may be one of the labels, with a description and examples of its own (what typically
falls outside the others), or a bare name, added as a label that only the threshold chooses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

DEFAULT_LABELS_FILE = Path(__file__).with_name("data") / "labels.json"
#: Softmax temperature used when a labels file carries no calibrated one.
DEFAULT_TEMPERATURE = 0.05
#: Centred similarity under which no label counts as close (see ``Classifier``).
DEFAULT_FALLBACK_THRESHOLD = 0.1


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""
    examples: tuple[str, ...] = ()

    def description_texts(self) -> tuple[str, ...]:
        """The label's name (underscores read as spaces) and each sentence of its description."""
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", self.description) if s.strip()]
        return tuple(dict.fromkeys([self.name.replace("_", " "), *sentences]))


@dataclass(frozen=True)
class LabelSet:
    labels: tuple[Label, ...]
    temperature: float = DEFAULT_TEMPERATURE
    #: The label for tickets that fit none of the others, or None (every ticket gets its nearest label).
    fallback: str | None = None
    fallback_threshold: float = DEFAULT_FALLBACK_THRESHOLD
    #: Flag a ticket whose two best labels' similarities are closer than this (0: never on that ground).
    review_gap: float = 0.0


def load_label_set(path: Path | str | None = None) -> LabelSet:
    """Read and check a labels file (the built-in Billing/Technical/Legal set by default)."""
    path = Path(path or DEFAULT_LABELS_FILE)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"SMARTSUPPORT_LABELS_FILE {path}: {exc}") from exc
    return parse_label_set(text, source=f"SMARTSUPPORT_LABELS_FILE {path}")


def parse_label_set(text: str, *, source: str = "labels") -> LabelSet:
    """Check the text of a labels file (``source`` names it in errors)."""
    try:
        raw = json.loads(text)
        labels = tuple(
            Label(
                name=str(item["name"]).strip(),
                description=str(item.get("description", "")).strip(),
                examples=tuple(str(e).strip() for e in item.get("examples", []) if str(e).strip()),
            )
            for item in raw["labels"]
        )
        temperature = float(raw.get("temperature", DEFAULT_TEMPERATURE))
        fallback = str(raw["fallback"]).strip() if raw.get("fallback") is not None else None
        threshold = float(raw.get("fallback_threshold", DEFAULT_FALLBACK_THRESHOLD))
        review_gap = float(raw.get("review_gap", 0.0))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    names = [label.name for label in labels]
    if len(labels) < 2 or len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"{source}: needs at least two labels with unique, non-empty names")
    if not 0 < temperature <= 10:
        raise ConfigError(f"{source}: temperature must be in (0, 10]")
    if fallback == "" or not -1 <= threshold <= 1:
        raise ConfigError(f"{source}: fallback needs a name and a threshold in [-1, 1]")
    if not 0 <= review_gap <= 2:
        raise ConfigError(f"{source}: review_gap must be in [0, 2]")
    if fallback and fallback not in names:
        labels += (Label(name=fallback),)
    return LabelSet(labels, temperature, fallback, threshold, review_gap)


def load_labels(path: Path | str | None = None) -> tuple[Label, ...]:
    return load_label_set(path).labels
