import numpy as np
import pytest

from smartsupport.centring import TrafficCentre
from smartsupport.classify import Classifier
from smartsupport.labels import load_label_set

LABELS = ("Billing", "Technical", "Legal")


def unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


@pytest.fixture
def fresh():
    prior = unit(np.eye(3, 8) + 0.1)  # each label's mean anchor
    return TrafficCentre.fresh(LABELS, prior, fingerprint="test")


def test_a_fresh_centre_is_the_mean_of_the_labels_anchor_means(fresh):
    assert fresh.seen == 0
    assert np.allclose(fresh.centre, fresh.prior.mean(axis=0))
    assert np.allclose(fresh.centre, fresh.prior_centre)


def test_the_first_tickets_of_a_fresh_install_barely_move_the_centre(fresh):
    # Given one odd ticket far from every anchor
    odd = unit(np.r_[np.zeros(7), 1.0])[None]

    after_one = fresh.update(odd, ["Billing"])

    # Then the centre moves by its weight, one ticket against the prior's 20, of one label in three
    moved = np.linalg.norm(after_one.centre - fresh.centre)
    assert 0 < moved < np.linalg.norm(odd[0] - fresh.prior[0]) / 3 / 20
    # And the update is a new value: the fresh centre is untouched
    assert fresh.seen == 0 and after_one.seen == 1


def test_a_flood_of_one_label_moves_the_centre_at_most_its_capped_share(fresh):
    flood = np.repeat(unit(np.r_[np.zeros(7), 1.0])[None], 5000, axis=0)

    flooded = fresh.update(flood, ["Technical"] * len(flood))

    # Technical's part is at most max_share tickets and the rest anchors; it is one part in three
    expected = fresh.centre + fresh.max_share * (flood[0] - fresh.prior[1]) / 3
    assert np.allclose(flooded.centre, expected, atol=1e-6)


def test_old_tickets_fade_past_the_window(fresh):
    small = TrafficCentre.fresh(LABELS, fresh.prior, window=10)
    a, b = unit(np.r_[1.0, np.zeros(7)])[None], unit(np.r_[np.zeros(7), 1.0])[None]

    state = small.update(np.repeat(a, 10, axis=0), ["Legal"] * 10)
    for _ in range(10):  # then ten batches of one newer ticket
        state = state.update(b, ["Legal"])

    assert state.counts[2] == pytest.approx(10)
    mean = state.sums[2] / state.counts[2]
    assert mean[-1] > mean[0] > 0  # the recent tickets weigh more than the older ones, which still count


def test_tickets_under_a_label_the_centre_does_not_track_are_skipped(fresh):
    assert fresh.update(unit(np.ones((2, 8))), ["Other", "Other"]) is fresh


def test_the_centre_survives_serialisation_exactly(fresh):
    state = fresh.update(unit(np.random.default_rng(0).normal(size=(40, 8))), ["Billing", "Legal"] * 20)

    copy = TrafficCentre.from_bytes(state.to_bytes())

    assert copy.labels == state.labels and copy.fingerprint == "test"
    assert np.array_equal(copy.sums, state.sums) and np.array_equal(copy.counts, state.counts)
    assert np.array_equal(copy.centre, state.centre)


@pytest.mark.parametrize("data", [b"", b"not json", b'{"format": 99}', b'{"format": 1, "labels": ["a"]}'])
def test_anything_else_is_not_a_centre(data):
    with pytest.raises(ValueError):
        TrafficCentre.from_bytes(data)


def test_a_centre_learnt_from_traffic_removes_what_its_tickets_share(fresh):
    # Given traffic whose tickets of every label share one direction that no anchor has
    tickets = unit(np.eye(3, 8) + np.r_[np.zeros(7), 3.0])
    state = fresh
    for _ in range(100):
        state = state.update(tickets, LABELS)

    def alike(centre):
        centred = centre.apply(tickets)
        assert np.allclose(np.linalg.norm(centred, axis=1), 1)
        return float(centred[0] @ centred[1])

    # Then, centred on what the traffic taught, two tickets of different labels are less alike
    assert alike(state) < alike(fresh) - 0.05


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_label_set(), threads=2)


def test_the_classifier_starts_from_its_fresh_centre_and_rejects_another_label_sets(classifier):
    assert classifier.centre.fingerprint == classifier.fingerprint
    assert classifier.centre.seen == 0

    other = TrafficCentre.fresh(classifier.centre.labels, classifier.centre.prior, fingerprint="another label set")

    assert not classifier.set_centre(other)
    assert classifier.centre.fingerprint == classifier.fingerprint


def test_a_stored_centre_gives_the_same_categories_in_another_process(classifier):
    texts = ["My card was charged twice for one order", "The dashboard shows a 502 error since the update"]
    features = classifier.features(texts)
    learnt = classifier.centre.update(features[:, :classifier.dim], ["Billing", "Technical"])

    assert classifier.set_centre(TrafficCentre.from_bytes(learnt.to_bytes()))
    try:
        other = Classifier(load_label_set(), threads=2, centre=TrafficCentre.from_bytes(learnt.to_bytes()))
        assert other.centre.seen == 2
        assert [c.scores for c in other.classify_features(features)] == \
            [c.scores for c in classifier.classify_features(features)]
    finally:
        classifier.set_centre(classifier.fresh_centre())


def test_the_first_tickets_of_a_fresh_install_keep_their_categories(classifier):
    # Given a few tickets classified on a fresh install
    texts = ["Please send me the invoice for March", "The app crashes when I upload a photo",
             "Our lawyer asks for the signed data processing agreement", "Where is my parcel?"]
    features = classifier.features(texts)
    before = [c.label for c in classifier.classify_features(features)]

    # When the centre learns from them, one at a time, as a new install would
    for row, label in zip(features[:, :classifier.dim], before):
        classifier.set_centre(classifier.centre.update(row[None], [label]))
    try:
        # Then the same tickets keep their categories
        assert [c.label for c in classifier.classify_features(features)] == before == [
            "Billing", "Technical", "Legal", "Other"]
    finally:
        classifier.set_centre(classifier.fresh_centre())
