"""This process's classifier: loaded once, rebuilt when the labels file changes, refreshed with
operators' corrections (of categories and of urgency levels), and scoring around the traffic centre
that every model process shares through Redis."""

from __future__ import annotations

import logging
import time

import numpy as np

from smartsupport import urgency
from smartsupport.centring import TrafficCentre
from smartsupport.classify import Classifier
from smartsupport.errors import StoreUnavailable
from smartsupport.labels import LabelSet, load_label_set

from .runtime import current_labels, settings, store

log = logging.getLogger(__name__)

#: Seconds between a process's writes of the traffic centre it learnt (about 33 KB each). Every
#: batch wrote it before: most of the append-only file's bytes per ticket, and so of each fsync.
CENTRE_WRITE_S = 5.0
#: What warm_up runs through the model: a short and a long ticket.
WARM_UP_TEXTS = ("Refund please", "Since this morning every export fails with a timeout error and our team "
                 "cannot send the monthly report to the customers who wait for it; please have a look today")
#: Until the centre has seen this many tickets, each batch moves it noticeably: each one is written at once.
CENTRE_YOUNG = 100.0


class ModelCache:
    """The classifier of this process and the semantic severity estimator that shares its embedding model."""

    classifier: Classifier | None = None
    severity: urgency.SemanticSeverity | None = None
    #: The label set the classifier was built for (the installation's, see runtime.current_labels).
    label_set: LabelSet | None = None
    corrections_version = -1
    urgency_version = -1
    #: The stored traffic centre as this process last read or wrote it (None: none stored).
    centre_raw: str | None = None
    #: What this process's batches added to the centre since it last wrote it (``TrafficCentre.tally``).
    centre_pending: tuple[np.ndarray, np.ndarray] | None = None
    centre_written_at = float("-inf")

    @classmethod
    def current(cls) -> Classifier:
        cfg = settings()
        label_set = current_labels()
        if cls.classifier is None or label_set is not cls.label_set:
            cls.classifier, cls.label_set = Classifier.from_settings(cfg, labels=label_set), label_set
            cls.corrections_version = -1
            encoder = getattr(cls.classifier, "encoder", None)  # the nli backend has none
            cls.severity, cls.urgency_version = (urgency.SemanticSeverity(encoder) if encoder else None), -1
            cls.centre_raw, cls.centre_pending, cls.centre_written_at = None, None, float("-inf")
        s = store()
        version = s.corrections.version()
        if version != cls.corrections_version:
            cls.classifier.set_corrections(s.corrections.examples())
            cls.corrections_version = version
        version = s.corrections.version("urgency")
        if cls.severity is not None and version != cls.urgency_version:
            cls.severity.set_corrections(s.corrections.examples("urgency"))
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
        """Score around the centre the model processes share, plus what this process saw since it
        last wrote it. A stored centre learnt for other labels or another model is not used (this
        process's own is written over it); the one last read or written, still there, is not parsed
        again."""
        raw = store().model_state.traffic_centre()
        if not raw:
            cls.centre_raw = None
            return
        if raw == cls.centre_raw:
            return
        try:
            shared = TrafficCentre.from_bytes(raw)
        except ValueError:
            log.warning("the stored traffic centre is unreadable; starting from this process's own")
            return
        cls.centre_raw = raw
        classifier.set_centre(shared.absorb(*cls.centre_pending) if cls.centre_pending else shared)

    @classmethod
    def _learn_traffic(cls, classifier: Classifier, vectors: np.ndarray, categories: list, *,
                       now: float | None = None) -> None:
        """Move this process's centre by the batch; write it to the store when none is stored, while
        it is young, or every CENTRE_WRITE_S by ``now`` (time.monotonic() unless given)."""
        young = classifier.centre.seen < CENTRE_YOUNG
        sums, counts = classifier.centre.tally(vectors, [c.label for c in categories])
        if counts.any():
            classifier.set_centre(classifier.centre.absorb(sums, counts))
            pending = cls.centre_pending
            cls.centre_pending = (sums, counts) if pending is None else (pending[0] + sums, pending[1] + counts)
        now = time.monotonic() if now is None else now
        due = young or cls.centre_raw is None or now - cls.centre_written_at >= CENTRE_WRITE_S
        if cls.centre_pending is None or not due:
            return
        raw = classifier.centre.to_bytes().decode()
        store().model_state.save_traffic_centre(raw)
        cls.centre_raw, cls.centre_pending, cls.centre_written_at = raw, None, now

    @classmethod
    def warm_up(cls) -> None:
        """Load the model when the process starts, not on the first ticket (Redis may be away yet),
        and run it once: a first forward pass costs several times a later one (torch sets up its
        kernels), and the process says it is ready only after this (workers.readiness)."""
        try:
            classifier = cls.current()
        except StoreUnavailable:  # the model is loaded already: the corrections come on the first ticket
            classifier = cls.classifier or Classifier.from_settings(settings(),
                                                                    labels=load_label_set(settings().labels_file))
        texts = list(WARM_UP_TEXTS)
        if getattr(classifier, "encoder", None) is None:  # the nli backend
            classifier.classify_texts(texts)
            return
        features = classifier.features(texts)  # what a batch runs, without learning from these texts
        classifier.classify_features(features)
        if cls.severity is not None:
            cls.severity.of_vectors(features[:, :classifier.dim], centre=classifier.centre)
