"""Label sets: each category has a name, a description and optional example tickets."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

DEFAULT_LABELS_FILE = Path(__file__).with_name("data") / "labels.json"


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""
    examples: tuple[str, ...] = ()

    def anchors(self) -> tuple[str, ...]:
        """The texts that stand for this label: its description, sentence by sentence, and examples."""
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", self.description) if s.strip()]
        return tuple(dict.fromkeys([*sentences, *self.examples])) or (self.name,)


def load_labels(path: Path | str | None = None) -> tuple[Label, ...]:
    """Read a labels file: ``{"labels": [{"name", "description", "examples"?}, ...]}``."""
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
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"SMARTSUPPORT_LABELS_FILE {path}: {exc}") from exc
    names = [label.name for label in labels]
    if len(labels) < 2 or len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"SMARTSUPPORT_LABELS_FILE {path}: needs at least two labels with unique, non-empty names")
    return labels
