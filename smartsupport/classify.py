"""Zero-shot classification of tickets into a configurable label set, with probabilities.

The default backend embeds the ticket and compares it, by cosine similarity, with two kinds of
anchors per label: its *description* (the label name and each sentence of its description) and its
*examples* (those in the labels file plus every ticket an operator corrected to that label). A label's
score mixes the nearest anchor and the mean anchor (prototype) of each kind; corrections therefore
change the next similar ticket's category at once, with no retraining. Scores become probabilities
through a softmax whose temperature is calibrated on held-out data (``make eval``).

The ``nli`` backend asks an NLI model whether "This support ticket is about <label>." follows from
the text, one pass per label (transformers' zero-shot-classification pipeline).
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .config import Settings
from .labels import Label, LabelSet, load_label_set
from .ticket import Category, Ticket


def description_weight(examples: int, *, described: bool) -> float:
    """How much a label's description counts next to its ``examples``: all of it with none, less
    with every example, and more when it is a real description rather than the name alone.
    ``1 / (1 + n / k)`` with k = 4 (described) or 1 (name only), both chosen on held-out rows of
    Banking77's train.csv, never on its test set."""
    return 1.0 / (1.0 + examples / (4.0 if described else 1.0))


class Classifier:
    def __init__(self, labels: Sequence[Label] | LabelSet, *, backend: str = "embedding", model: str | None = None,
                 review_threshold: float = 0.5, review_margin: float = 0.1, threads: int | None = None,
                 temperature: float | None = None, precision: str = "fp32") -> None:
        from . import models

        label_set = labels if isinstance(labels, LabelSet) else LabelSet(tuple(labels))
        self.labels = label_set.labels
        self.names = [label.name for label in self.labels]
        self.backend = backend
        self.review_threshold = review_threshold
        self.review_margin = review_margin
        self.temperature = temperature or label_set.temperature
        self._corrections: tuple[tuple[str, str], ...] = ()
        if backend == "nli":
            self.nli = models.nli_model(model, threads=threads)
            self.model_name = self.nli.name
        else:
            self.encoder = models.embedding_model(model, threads=threads, precision=precision)
            self.model_name = self.encoder.name
            self._descriptions = [self._anchors(label.description_texts()) for label in self.labels]
            self._examples = [self._anchors(label.examples) for label in self.labels]

    @classmethod
    def from_settings(cls, settings: Settings) -> "Classifier":
        return cls(load_label_set(settings.labels_file), backend=settings.classifier, model=settings.model,
                   review_threshold=settings.review_threshold, review_margin=settings.review_margin,
                   threads=settings.torch_threads, precision=settings.model_precision)

    # -- corrections ------------------------------------------------------------------------

    def set_corrections(self, corrections: Iterable[tuple[str, str]]) -> None:
        """Use ``(label, text)`` pairs confirmed by operators as extra examples of their labels."""
        corrections = tuple(c for c in corrections if c[0] in self.names)
        if self.backend == "nli" or corrections == self._corrections:
            self._corrections = corrections
            return
        vectors = self.encoder.embed([text for _, text in corrections]) if corrections else None
        examples = []
        for i, label in enumerate(self.labels):
            rows = [vectors[j] for j, (name, _) in enumerate(corrections) if name == label.name]
            base = self._anchors(label.examples)
            if rows:
                base = np.concatenate([base, np.stack(rows)]) if len(base) else np.stack(rows)
            examples.append(base)
        self._examples = examples
        self._corrections = corrections

    # -- scoring ----------------------------------------------------------------------------

    def _anchors(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.encoder.embed(list(texts))

    def similarities(self, vectors: np.ndarray) -> np.ndarray:
        """Per ticket and label, a cosine-like score in [-1, 1]."""
        columns = []
        for label, desc, examples in zip(self.labels, self._descriptions, self._examples):
            score = _nearest_and_prototype(vectors, desc)
            if len(examples):
                w = description_weight(len(examples), described=bool(label.description))
                score = w * score + (1 - w) * _nearest_and_prototype(vectors, examples)
            columns.append(score)
        return np.stack(columns, axis=1)

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        if self.backend == "nli":
            rows = [[scores[name] for name in self.names] for scores in self.nli.scores(texts, self.names)]
            return np.asarray(rows, dtype=np.float64)
        return softmax(self.similarities(self.encoder.embed(texts)) / self.temperature)

    def classify(self, ticket: Ticket) -> Category:
        return self.classify_texts([ticket.text])[0]

    def classify_texts(self, texts: Sequence[str]) -> list[Category]:
        return [self._category(row) for row in self.probabilities(texts)]

    def classify_vectors(self, vectors: np.ndarray) -> list[Category]:
        """Categories for texts the caller already embedded with ``self.encoder``."""
        return [self._category(row) for row in softmax(self.similarities(vectors) / self.temperature)]

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


def _nearest_and_prototype(vectors: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    sims = vectors @ anchors.T
    prototype = anchors.mean(axis=0)
    prototype /= max(float(np.linalg.norm(prototype)), 1e-9)
    return 0.5 * sims.max(axis=1) + 0.5 * (vectors @ prototype)


def softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
