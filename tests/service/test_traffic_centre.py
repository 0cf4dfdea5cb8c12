"""The traffic centre the model processes share through a real Redis: written every few seconds,
not after every batch, and no process's tickets lost when several write it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from smartsupport.centring import TrafficCentre
from smartsupport.classify import Classifier
from smartsupport.labels import load_label_set
from workers import model_cache
from workers.model_cache import ModelCache


@pytest.fixture
def processes(store, monkeypatch):
    """Two model processes' caches, each with its own classifier, on the test's store."""
    monkeypatch.setattr(model_cache, "store", lambda: store)
    store.r.delete("ss:classifier:centre")

    def process(name):
        cache = type(name, (ModelCache,), {})
        cache.classifier = Classifier(load_label_set(), threads=2)
        return cache
    return process("first"), process("second")


def batch(cache, n: int, label: str = "Billing", *, now: float | None = None) -> None:
    """One batch of ``n`` tickets classified as ``label`` in ``cache``'s process, at ``now`` on its clock."""
    rng = np.random.default_rng(n)
    vectors = rng.normal(size=(n, cache.classifier.dim)).astype(np.float32)
    cache._follow_traffic(cache.classifier)
    cache._learn_traffic(cache.classifier, vectors, [SimpleNamespace(label=label)] * n, now=now)


def stored_seen(store) -> float:
    return TrafficCentre.from_bytes(store.model_state.traffic_centre()).seen


def test_the_centre_is_written_while_young_then_every_few_seconds_and_no_ticket_is_lost(processes, store):
    first, second = processes
    start, interval = 1000.0, model_cache.CENTRE_WRITE_S  # the processes' clock (monotonic seconds)

    # While the centre is young (under CENTRE_YOUNG tickets), every batch is written at once
    for _ in range(10):
        batch(first, 10, now=start)
    assert stored_seen(store) == 100
    # The other process starts from it, and writes its first batch at once
    batch(second, 50, "Technical", now=start)
    assert stored_seen(store) == 150

    # Then many batches within the interval write nothing...
    for i in range(20):
        batch(first, 1, now=start + interval * i / 20)
        batch(second, 1, now=start + interval * i / 20)
    assert stored_seen(store) == 150
    # ...each process scoring around the shared centre plus its own batches
    assert first.classifier.centre.seen == 170 and second.classifier.centre.seen == 170

    # Once the interval has passed, each writes the latest stored centre plus what it saw
    batch(first, 1, now=start + interval)
    assert stored_seen(store) == 171
    batch(second, 1, now=start + interval)
    assert stored_seen(store) == 192  # every ticket of both processes counted once
    assert first.classifier.centre.seen == 171 and second.classifier.centre.seen == 192


def test_a_deleted_centre_is_written_again_at_the_next_batch(processes, store, monkeypatch):
    first, _ = processes
    for _ in range(12):
        batch(first, 10)
    store.r.delete("ss:classifier:centre")

    batch(first, 1)

    assert stored_seen(store) == 121


def test_tally_then_absorb_is_update(processes):
    first, _ = processes
    centre = first.classifier.centre
    vectors = np.random.default_rng(0).normal(size=(5, first.classifier.dim))
    labels = ["Billing", "Technical", "Billing", "Legal", "no such label"]

    absorbed = centre.absorb(*centre.tally(vectors, labels))

    updated = centre.update(vectors, labels)
    assert np.array_equal(absorbed.sums, updated.sums) and np.array_equal(absorbed.counts, updated.counts)
    assert updated.seen == 4
