"""Label sets: each category has a name, a description and optional example tickets.

A labels file is JSON: ``{"labels": [{"name", "description", "examples": [...]}, ...],
"temperature"?: float}``; the temperature, when present, was calibrated for that label set.
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


def load_label_set(path: Path | str | None = None) -> LabelSet:
    """Read and check a labels file (the built-in Billing/Technical/Legal set by default)."""
    path = Path(path or DEFAULT_LABELS_FILE)
    try:
        raw = json.loads(path.read_text())
        labels = tuple(
            Label(
                name=str(item["name"]).strip(),
                description=str(item.get("description", "")).strip(),
                examples=tuple(str(e).strip() for e in item.get("examples", []) if str(e).strip()),
            )
            for item in raw["labels"]
        )
        temperature = float(raw.get("temperature", DEFAULT_TEMPERATURE))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"SMARTSUPPORT_LABELS_FILE {path}: {exc}") from exc
    names = [label.name for label in labels]
    if len(labels) < 2 or len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"SMARTSUPPORT_LABELS_FILE {path}: needs at least two labels with unique, non-empty names")
    if not 0 < temperature <= 10:
        raise ConfigError(f"SMARTSUPPORT_LABELS_FILE {path}: temperature must be in (0, 10]")
    return LabelSet(labels, temperature)


def load_labels(path: Path | str | None = None) -> tuple[Label, ...]:
    return load_label_set(path).labels
