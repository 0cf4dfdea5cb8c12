"""This process's classifier: loaded once, rebuilt when the labels file changes, refreshed with corrections."""

from __future__ import annotations

import os

import numpy as np

from smartsupport import urgency
from smartsupport.classify import Classifier
from smartsupport.errors import StoreUnavailable

from .runtime import settings, store


class ModelCache:
    """The classifier of this process and the semantic severity estimator that shares its embedding model."""

    classifier: Classifier | None = None
    severity: urgency.SemanticSeverity | None = None
    labels_mtime: float | None = None
    corrections_version = -1

    @classmethod
    def current(cls) -> Classifier:
        cfg = settings()
        mtime = os.stat(cfg.labels_file).st_mtime if cfg.labels_file else None
        if cls.classifier is None or mtime != cls.labels_mtime:
            cls.classifier, cls.labels_mtime, cls.corrections_version = Classifier.from_settings(cfg), mtime, -1
            encoder = getattr(cls.classifier, "encoder", None)  # the nli backend has none
            cls.severity = urgency.SemanticSeverity(encoder) if encoder else None
        version = store().corrections_version()
        if version != cls.corrections_version:
            cls.classifier.set_corrections(store().corrections())
            cls.corrections_version = version
        return cls.classifier

    @classmethod
    def classify(cls, texts: list[str]) -> tuple[list, list[float | None], np.ndarray | None]:
        """Categories, semantic severities and embeddings, from one forward pass over the batch."""
        classifier = cls.current()
        if cls.severity is None:
            return classifier.classify_texts(texts), [None] * len(texts), None
        features = classifier.features(texts)
        vectors = features[:, :classifier.dim]  # the embeddings; any columns after are the classifier's own
        return classifier.classify_features(features), [float(v) for v in cls.severity.of_vectors(vectors)], vectors

    @classmethod
    def warm_up(cls) -> None:
        """Load the model when the process starts, not on the first ticket (Redis may be away yet)."""
        try:
            cls.current()
        except StoreUnavailable:
            Classifier.from_settings(settings())
