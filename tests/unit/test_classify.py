import json

import numpy as np
import pytest

from smartsupport.classify import Classifier, WhitenedSpace
from smartsupport.errors import ConfigError
from smartsupport.labels import load_label_set, load_labels
from smartsupport.models import default_embedding_model


@pytest.fixture(scope="module")
def classifier():
    return Classifier(load_label_set(), threads=2)


@pytest.mark.parametrize("text, label", [
    ("Our production API is down and every checkout fails, fix ASAP", "Technical"),
    ("Can you send me an invoice with our VAT number?", "Billing"),
    ("I was charged twice for my subscription this month", "Billing"),
    ("Under GDPR, please delete all personal data you hold about me", "Legal"),
    ("The mobile app crashes every time I open settings", "Technical"),
    ("Our lawyers need the signed data processing agreement", "Legal"),
])
def test_clear_tickets_get_the_right_category(classifier, text, label):
    assert classifier.classify_texts([text])[0].label == label


def test_every_label_gets_a_probability_and_they_sum_to_one(classifier):
    category = classifier.classify_texts(["refund pls"])[0]

    assert set(category.scores) == {"Billing", "Technical", "Legal", "Other"}
    assert sum(category.scores.values()) == pytest.approx(1.0, abs=1e-3)
    assert category.confidence == max(category.scores.values())


def test_low_confidence_is_flagged_for_review(classifier):
    strict = Classifier(load_labels(), threads=2, review_threshold=0.999, review_margin=0.0)

    assert strict.classify_texts(["hello"])[0].needs_review
    assert not classifier.classify_texts(["Please send me last month's invoice as a PDF"])[0].needs_review


def test_a_close_second_is_flagged_for_review_whatever_the_top_probability():
    # Given a ticket whose top label leads the second by some margin m (the margin rule alone: the
    # labels without the label set's fallback and similarity gap)
    text = "Please send me last month's invoice as a PDF"
    plain = Classifier(load_labels(), threads=2, review_threshold=0.0, review_margin=0.0)
    top, second = sorted(plain.classify_texts([text])[0].scores.values(), reverse=True)[:2]
    lead = top - second

    # Then with no threshold it is flagged exactly when the margin asked for exceeds that lead
    wider = Classifier(load_labels(), threads=2, review_threshold=0.0, review_margin=lead + 0.01)
    narrower = Classifier(load_labels(), threads=2, review_threshold=0.0, review_margin=max(lead - 0.01, 0.0))
    assert wider.classify_texts([text])[0].needs_review
    assert not narrower.classify_texts([text])[0].needs_review


def test_a_custom_label_set_is_used(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"labels": [
        {"name": "Shipping", "description": "Parcels, delivery, tracking numbers, couriers, late packages."},
        {"name": "Returns", "description": "Sending an item back, return labels, exchanges.",
         "examples": ["How do I return these shoes?"]},
    ]}))

    text = "Where is my parcel? The tracking number shows nothing"
    category = Classifier(load_labels(path)).classify_texts([text])[0]

    assert category.label == "Shipping" and set(category.scores) == {"Shipping", "Returns"}


@pytest.mark.parametrize("content", ['{"labels": [{"name": "only one"}]}', "not json",
                                     '{"labels": [{"name": "a"}, {"name": "a"}]}'])
def test_a_bad_labels_file_raises_config_error(tmp_path, content):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="SMARTSUPPORT_LABELS_FILE"):
        load_labels(path)


def test_nli_backend_runs_the_zero_shot_pipeline_on_a_tiny_model_built_here(tmp_path):
    # Given a tiny NLI model with random weights, saved like a hub model (config, weights, tokenizer)
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(default_embedding_model())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
                        label2id={"entailment": 0, "neutral": 1, "contradiction": 2})
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    # When the nli backend loads it by path and classifies two tickets
    nli = Classifier(load_labels(), backend="nli", model=str(tmp_path))
    results = nli.classify_texts(["My invoice is wrong", "The server is down"])

    # Then every label gets a probability from the entailment scores, summing to one
    for category in results:
        assert set(category.scores) == {"Billing", "Technical", "Legal", "Other"}
        assert sum(category.scores.values()) == pytest.approx(1.0, abs=1e-3)
        assert category.label in category.scores and category.model == str(tmp_path)


def test_a_correction_becomes_an_example_even_for_labels_without_any(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"labels": [{"name": "Shipping", "description": "Parcels and delivery."},
                                           {"name": "Returns", "description": "Sending items back."}]}))
    classifier = Classifier(load_labels(path))
    text = "My order arrived damaged, can I get a replacement?"
    before = classifier.classify_texts([text])[0].label
    other = "Returns" if before == "Shipping" else "Shipping"

    classifier.set_corrections([(other, "The order came broken, I want a replacement")])

    assert classifier.classify_texts([text])[0].label == other


def test_the_whitened_space_centres_shrinks_and_normalises():
    rng = np.random.default_rng(0)
    # Two labels whose anchors vary a lot along axis 0 (wording) and differ along axis 1 (meaning)
    a = np.c_[rng.normal(0, 3, 20), rng.normal(1, 0.1, 20), rng.normal(0, 0.1, (20, 2))].astype(np.float32)
    b = np.c_[rng.normal(0, 3, 20), rng.normal(-1, 0.1, 20), rng.normal(0, 0.1, (20, 2))].astype(np.float32)
    space = WhitenedSpace([a, b])
    za, zb = space(a), space(b)
    assert np.allclose(np.linalg.norm(za, axis=1), 1, atol=1e-5)
    # The within-label direction is shrunk: in the whitened space the labels separate along axis 1
    assert (za[:, 1] > 0).all() and (zb[:, 1] < 0).all()
    assert np.abs(za[:, 0]).mean() < np.abs(a[:, 0] / np.linalg.norm(a, axis=1)).mean()
    # Full shrinkage is centring only
    plain = WhitenedSpace([a, b], shrinkage=1.0)(a)
    centred = a - np.concatenate([a, b]).mean(axis=0)
    assert np.allclose(plain, centred / np.linalg.norm(centred, axis=1, keepdims=True), atol=1e-5)


def test_corrections_switch_scoring_to_the_whitened_space(classifier):
    text = "Where can I download last year's receipts?"
    before = classifier.probabilities([text])[0]
    classifier.set_corrections([("Billing", "I need copies of my old receipts")])
    try:
        after = classifier.probabilities([text])[0]
        assert classifier.features([text]).shape[1] > classifier.dim  # the layered features are in use
        assert not np.allclose(after, before)
        assert after[classifier.names.index("Billing")] >= before[classifier.names.index("Billing")] - 0.05
        assert classifier.names[int(after.argmax())] == "Billing"
    finally:
        classifier.set_corrections([])
    assert np.allclose(classifier.probabilities([text])[0], before)


SHOP_LABELS = {"fallback": "Other", "fallback_threshold": 0.1, "labels": [
    {"name": "Shipping", "description": "Parcels, delivery, tracking numbers, couriers, late packages."},
    {"name": "Returns", "description": "Sending an item back, return labels, exchanges, refunds for returned items."},
    {"name": "Sizing", "description": "Which size to order, measurements, size charts, clothes too small or too big."},
]}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    path = tmp_path_factory.mktemp("labels") / "labels.json"
    path.write_text(json.dumps(SHOP_LABELS))
    return Classifier(load_label_set(path), threads=2)


def test_a_bare_fallback_label_is_added_and_chosen_when_no_label_is_close(shop):
    # The labels file names a fallback it does not describe: it becomes a label of its own
    assert shop.names == ["Shipping", "Returns", "Sizing", "Other"] and shop.fallback == "Other"

    unrelated = shop.classify_texts(["What is the capital of Australia?"])[0]
    parcel = shop.classify_texts(["Where is my parcel? The tracking number shows nothing"])[0]

    assert unrelated.label == "Other" and unrelated.needs_review is True
    assert unrelated.confidence == unrelated.scores["Other"]
    assert parcel.label == "Shipping" and not parcel.needs_review


def test_without_a_fallback_every_ticket_gets_its_nearest_label(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"labels": SHOP_LABELS["labels"]}))
    classifier = Classifier(load_label_set(path), threads=2)

    label = classifier.classify_texts(["What is the capital of Australia?"])[0].label
    assert classifier.fallback is None and label in {"Shipping", "Returns", "Sizing"}


@pytest.mark.parametrize("text", ["Where is my parcel? It was supposed to arrive on Monday.",
                                  "Please unsubscribe me from the newsletter"])
def test_the_default_labels_send_what_fits_none_of_them_to_other(classifier, text):
    assert classifier.fallback == "Other"
    assert classifier.classify_texts([text])[0].label == "Other"


@pytest.mark.parametrize("text", [
    "How should we configure encryption and access rights for the patient files on our storage server?",
    "Someone got in through an old unpatched server; we changed every password and need help closing the hole.",
])
def test_securing_systems_and_sensitive_records_is_technical_not_legal(classifier, text):
    assert classifier.classify_texts([text])[0].label == "Technical"


def test_what_the_law_requires_after_a_breach_stays_legal(classifier):
    text = "After the breach, how many hours do we have under GDPR to notify the data protection authority?"
    assert classifier.classify_texts([text])[0].label == "Legal"


def test_a_close_call_between_two_labels_is_flagged(tmp_path):
    # Given the same label set with and without a review gap wider than any real lead
    texts = ["Where is my parcel? The tracking number shows nothing", "I want to send these shoes back"]
    flags = {}
    for gap in (0.0, 2.0):
        path = tmp_path / f"labels-{gap}.json"
        path.write_text(json.dumps({"labels": SHOP_LABELS["labels"], "review_gap": gap}))
        classifier = Classifier(load_label_set(path), threads=2, review_threshold=0.0, review_margin=0.0)
        flags[gap] = [c.needs_review for c in classifier.classify_texts(texts)]

    assert flags == {0.0: [False, False], 2.0: [True, True]}


@pytest.mark.parametrize("extra", [{"fallback": ""}, {"fallback_threshold": 3}, {"review_gap": -0.1}])
def test_a_bad_fallback_or_review_gap_raises_config_error(tmp_path, extra):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"labels": SHOP_LABELS["labels"], "fallback": "Other", **extra}))
    with pytest.raises(ConfigError, match="SMARTSUPPORT_LABELS_FILE"):
        load_label_set(path)


def test_the_model_reads_the_ticket_without_its_courtesy(classifier):
    plain = "The mobile app crashes every time I open settings."
    formal = (f"Hello support team,\n\nI hope you are well. {plain}\n\n"
              "Thanks so much for your help. I look forward to your reply.\n\nKind regards,\nSam")

    assert np.allclose(classifier.features([formal]), classifier.features([plain]))
