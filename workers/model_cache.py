"""This process's classifier: loaded once, rebuilt when the labels file changes, refreshed with
operators' corrections (of categories and of urgency levels), and scoring around the traffic centre
that every model process shares through Redis."""

from __future__ import annotations

import logging

import numpy as np

from smartsupport import urgency
from smartsupport.centring import TrafficCentre
from smartsupport.classify import Classifier
from smartsupport.errors import StoreUnavailable
from smartsupport.labels import LabelSet, load_label_set

from .runtime import current_labels, settings, store

log = logging.getLogger(__name__)


class ModelCache:
    """The classifier of this process and the semantic severity estimator that shares its embedding model."""

    classifier: Classifier | None = None
    severity: urgency.SemanticSeverity | None = None
    #: The label set the classifier was built for (the installation's, see runtime.current_labels).
    label_set: LabelSet | None = None
    corrections_version = -1
    urgency_version = -1
    #: The traffic centre as this process last wrote it to Redis.
    centre_raw: str | None = None

    @classmethod
    def current(cls) -> Classifier:
        cfg = settings()
        label_set = current_labels()
        if cls.classifier is None or label_set is not cls.label_set:
            cls.classifier, cls.label_set = Classifier.from_settings(cfg, labels=label_set), label_set
            cls.corrections_version = -1
            encoder = getattr(cls.classifier, "encoder", None)  # the nli backend has none
            cls.severity, cls.urgency_version = (urgency.SemanticSeverity(encoder) if encoder else None), -1
            cls.centre_raw = None
        s = store()
        version = s.corrections_version()
        if version != cls.corrections_version:
            cls.classifier.set_corrections(s.corrections())
            cls.corrections_version = version
        version = s.corrections_version("urgency")
        if cls.severity is not None and version != cls.urgency_version:
            cls.severity.set_corrections(s.corrections("urgency"))
            cls.urgency_version = version
        return cls.classifier

    @classmethod
    def classify(cls, texts: list[str]) -> tuple[list, list[float | None], np.ndarray | None]:
        """Categories, semantic severities and embeddings, from one forward pass over the batch."""
        classifier = cls.current()
        if cls.severity is None:
            return classifier.classify_texts(texts), [None] * len(texts), None
        cls._follow_traffic(classifier)
        features = classifier.features(texts)
        vectors = features[:, :classifier.dim]  # the embeddings; any columns after are the classifier's own
        categories = classifier.classify_features(features)
        # around the centre the categories were chosen with, before this batch moves it
        severities = cls.severity.of_vectors(vectors, centre=classifier.centre)
        cls._learn_traffic(classifier, vectors, categories)
        return categories, [float(v) for v in severities], vectors

    @classmethod
    def _follow_traffic(cls, classifier: Classifier) -> None:
        """Score around the centre the model processes share (one learnt for other labels or another
        model is not used: this process's own is written over it after the batch). The one this
        process wrote last, still there, is what it holds already: not parsed again."""
        raw = store().traffic_centre()
        if raw and raw != cls.centre_raw:
            try:
                classifier.set_centre(TrafficCentre.from_bytes(raw))
            except ValueError:
                log.warning("the stored traffic centre is unreadable; starting from this process's own")

    @classmethod
    def _learn_traffic(cls, classifier: Classifier, vectors: np.ndarray, categories: list) -> None:
        centre = classifier.centre.update(vectors, [c.label for c in categories])
        classifier.set_centre(centre)
        cls.centre_raw = centre.to_bytes().decode()
        store().save_traffic_centre(cls.centre_raw)

    @classmethod
    def warm_up(cls) -> None:
        """Load the model when the process starts, not on the first ticket (Redis may be away yet)."""
        try:
            cls.current()
        except StoreUnavailable:  # the model is loaded already: the corrections come on the first ticket
            if cls.classifier is None:
                Classifier.from_settings(settings(), labels=load_label_set(settings().labels_file))
