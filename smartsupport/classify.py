"""Zero-shot classification of tickets into a configurable label set, with probabilities.

The default backend embeds the ticket and each label's anchors (description sentences and
examples) with a sentence-embedding model and compares them by cosine similarity; the ``nli``
backend asks an NLI model whether "This support ticket is about <label>" follows from the text.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .config import Settings
from .labels import Label, load_labels
from .ticket import Category, Ticket

#: Softmax temperature turning cosine similarities into probabilities.
DEFAULT_TEMPERATURE = 0.05


class Classifier:
    def __init__(self, labels: Sequence[Label], *, backend: str = "embedding", model: str | None = None,
                 review_threshold: float = 0.5, review_margin: float = 0.1, threads: int | None = None,
                 temperature: float = DEFAULT_TEMPERATURE) -> None:
        from . import models

        self.labels = tuple(labels)
        self.names = [label.name for label in self.labels]
        self.backend = backend
        self.review_threshold = review_threshold
        self.review_margin = review_margin
        self.temperature = temperature
        if backend == "nli":
            self.nli = models.nli_model(model, threads=threads)
            self.model_name = self.nli.name
        else:
            self.encoder = models.embedding_model(model, threads=threads)
            self.model_name = self.encoder.name
            self._index_labels()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Classifier":
        return cls(load_labels(settings.labels_file), backend=settings.classifier, model=settings.model,
                   review_threshold=settings.review_threshold, review_margin=settings.review_margin,
                   threads=settings.torch_threads)

    def _index_labels(self) -> None:
        anchors = [label.anchors() for label in self.labels]
        vectors = self.encoder.embed([text for group in anchors for text in group])
        self._anchor_vectors: list[np.ndarray] = []
        start = 0
        for group in anchors:
            self._anchor_vectors.append(vectors[start:start + len(group)])
            start += len(group)
        protos = np.stack([v.mean(axis=0) for v in self._anchor_vectors])
        self._prototypes = protos / np.linalg.norm(protos, axis=1, keepdims=True)

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """Per ticket and label: the mean of prototype cosine and best-anchor cosine."""
        proto = vectors @ self._prototypes.T
        best = np.stack([(vectors @ a.T).max(axis=1) for a in self._anchor_vectors], axis=1)
        return 0.5 * proto + 0.5 * best

    def classify(self, ticket: Ticket) -> Category:
        return self.classify_texts([ticket.text])[0]

    def classify_texts(self, texts: Sequence[str]) -> list[Category]:
        if self.backend == "nli":
            rows = [[scores[name] for name in self.names] for scores in self.nli.scores(texts, self.names)]
            probs = np.asarray(rows, dtype=np.float64)
        else:
            sims = self.similarities(self.encoder.embed(texts))
            probs = _softmax(sims / self.temperature)
        return [self._category(row) for row in probs]

    def _category(self, probs: np.ndarray) -> Category:
        order = np.argsort(-probs)
        top = float(probs[order[0]])
        second = float(probs[order[1]]) if len(order) > 1 else 0.0
        return Category(
            label=self.names[order[0]],
            confidence=round(top, 4),
            scores={name: round(float(p), 4) for name, p in zip(self.names, probs)},
            needs_review=top < self.review_threshold or (top - second) < self.review_margin,
            model=self.model_name,
        )


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
