import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from smartsupport.ticket import Ticket, UrgencyLevel
from smartsupport.urgency import find_signals, load_rules, score

RULES = load_rules()
CRITICAL = [p for tier, _, phrases in RULES.tiers if tier == "critical" for p in phrases]
words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd", "Zs")), max_size=200)
severities = st.one_of(st.none(), st.floats(0, 1))


def urgency(text: str, **kwargs):
    return score(Ticket.new(body=text), **kwargs)


def test_outage_with_asap_is_critical_and_explains_itself():
    result = urgency("Our production API is down and every checkout fails, fix ASAP")

    assert result.level is UrgencyLevel.CRITICAL
    assert {("critical", "is down"), ("urgent", "asap"), ("moderate", "fails")} <= {
        (s.tier, s.phrase) for s in result.signals}


def test_polite_invoice_request_is_low():
    result = urgency("Can you send me an invoice with our VAT number?")

    assert result.level is UrgencyLevel.LOW
    assert not [s for s in result.signals if s.tier in ("critical", "urgent", "moderate")]


def test_calm_outage_without_keywords_like_urgent_is_still_critical():
    assert urgency("Since this morning none of our customers can log in.").level is UrgencyLevel.CRITICAL


def test_negated_signal_does_not_fire():
    fired = find_signals("The site is not down, it just feels a bit slow", RULES)
    assert not [s for s in fired if s.tier == "critical"]


def test_negation_only_reaches_its_own_clause():
    phrases = {s.phrase for s in find_signals("It is not slow, but the server is down", RULES)}
    assert "is down" in phrases and "slow" not in phrases


def test_hedge_lowers_the_score():
    plain = urgency("The export button gives an error")
    hedged = urgency("The export button gives an error, no rush at all")

    assert hedged.score < plain.score
    assert any(s.tier == "hedge" for s in hedged.signals)


def test_shouting_about_a_typo_is_not_critical():
    result = urgency("URGENT!!! THERE IS A TYPO IN MY INVOICE")

    assert result.level in (UrgencyLevel.LOW, UrgencyLevel.MEDIUM)


@settings(max_examples=200, deadline=None)
@given(text=words, sentiment=st.floats(-1, 1), severity=severities)
def test_score_stays_between_zero_and_one(text, sentiment, severity):
    assert 0.0 <= urgency(text, sentiment=sentiment, severity=severity).score <= 1.0


@settings(max_examples=150, deadline=None)
@given(text=words, phrase=st.sampled_from(CRITICAL), sentiment=st.floats(-1, 1), severity=severities)
def test_adding_a_critical_signal_never_lowers_the_score(text, phrase, sentiment, severity):
    before = urgency(text, sentiment=sentiment, severity=severity).score
    after = urgency(f"{text}. {phrase}", sentiment=sentiment, severity=severity).score

    assert after >= before


@settings(max_examples=150, deadline=None)
@given(text=words, phrase=st.sampled_from(CRITICAL), sentiment=st.floats(-1, 1), severity=severities)
def test_negating_a_signal_never_raises_the_score(text, phrase, sentiment, severity):
    plain = urgency(f"{text}. {phrase}", sentiment=sentiment, severity=severity).score
    negated = urgency(f"{text}. not {phrase}", sentiment=sentiment, severity=severity).score

    assert negated <= plain


@settings(max_examples=50, deadline=None)
@given(text=words)
def test_the_same_text_always_gets_the_same_score(text):
    assert urgency(text) == urgency(text)


def test_semantic_severity_reads_an_outage_as_critical_and_a_how_to_as_low():
    from smartsupport.models import embedding_model
    from smartsupport.urgency import SemanticSeverity

    encoder = embedding_model(threads=2)
    outage, howto = SemanticSeverity(encoder).of_vectors(encoder.embed([
        "Since this morning nobody in our company can open the app, everything is broken",
        "How do I change the colour of my avatar?"]))

    assert outage > 0.8 and howto < 0.5 and outage - howto > 0.3
    assert urgency("Since this morning nobody can open the app", severity=float(outage)).level in (
        UrgencyLevel.HIGH, UrgencyLevel.CRITICAL)
    semantic = [s for s in urgency("x", severity=0.9).signals if s.tier == "semantic"]
    assert semantic and semantic[0].weight > 0


def test_around_the_traffic_centre_the_severity_still_tells_an_outage_from_a_how_to():
    from smartsupport.classify import Classifier
    from smartsupport.labels import load_label_set
    from smartsupport.urgency import SemanticSeverity

    clf = Classifier(load_label_set(), threads=2)
    severity = SemanticSeverity(clf.encoder)
    # a traffic of formal e-mails about one product: what they share is the centre's
    topics = ["invoice", "export", "login", "plan"] * 10
    traffic = clf.encoder.embed([f"Regarding our Acme Cloud subscription number {i}, we would like to kindly ask "
                                 f"about the {topic}." for i, topic in enumerate(topics)])
    centre = clf.centre.update(traffic, ["Billing", "Technical", "Technical", "Billing"] * 10)
    tickets = clf.encoder.embed(["Since this morning nobody in our company can open the app, everything is broken",
                                 "How do I change the colour of my avatar?"])

    outage, howto = severity.of_vectors(tickets, centre=centre)

    assert outage > 0.8 and howto < 0.5
    assert not np.allclose([outage, howto], severity.of_vectors(tickets), atol=1e-3)  # the centre counts


def fired(text: str) -> set[tuple[str, str]]:
    return {(s.tier, s.phrase) for s in urgency(text).signals if s.tier in ("critical", "urgent", "moderate")}


@pytest.mark.parametrize("asking, reporting", [
    ("What do you do to prevent data breaches?", "We had a data breach this morning."),
    ("What happens to our tickets in case of an outage?", "There is an outage and our tickets do not load."),
    ("Do you have a policy for handling a security incident?", "We are reporting a security incident."),
    ("Is your service ever down for maintenance?", "Your service is down for all of our agents."),
    ("We are interested in information about ransomware protection.", "Ransomware encrypted our shared drive."),
])
def test_asking_about_a_problem_fires_nothing_but_reporting_it_does(asking, reporting):
    assert not fired(asking)
    assert [s for s in urgency(reporting).signals if s.tier == "critical"]
    assert urgency(asking).score < urgency(reporting).score


@pytest.mark.parametrize("text", [
    "We want stronger encryption to prevent unauthorized access to our records.",
    "Please advise on firewall rules that protect against a data breach.",
    "Outdated software could lead to a security incident, so we plan an upgrade.",
])
def test_guarding_against_a_problem_is_not_reporting_it(text):
    assert not [s for s in urgency(text).signals if s.tier == "critical"]


def test_an_investigation_is_critical_only_when_someone_opens_one():
    cause = "An investigation showed that the export stopped because of a wrong setting."
    regulator = "The tax office opened an investigation and wants our records."
    assert not [s for s in urgency(cause).signals if s.tier == "critical"]
    assert ("critical", "opened an investigation") in fired(regulator)


def test_an_asking_cue_only_turns_off_what_follows_it_in_its_sentence():
    phrases = {p for _, p in fired("Our site is down, and what do you do in case of an outage? The export fails too.")}
    assert {"is down", "fails"} <= phrases and "outage" not in phrases


@pytest.mark.parametrize("courtesy", [
    "I look forward to hearing from you.", "Looking forward to hearing back soon.",
    "Thank you for your prompt assistance.", "Please reply at your earliest convenience.",
])
def test_courtesy_never_fires_a_signal(courtesy):
    assert not fired(courtesy)
    assert not [s for s in find_signals(courtesy, RULES) if s.tier in ("critical", "urgent", "moderate")]


@settings(max_examples=100, deadline=None)
@given(text=words, courtesy=st.sampled_from(["Thank you for your help.", "I look forward to hearing from you soon.",
                                             "Best regards,", "I hope this message finds you well."]),
       sentiment=st.floats(-1, 1), severity=severities)
def test_adding_a_courtesy_line_never_raises_the_score(text, courtesy, sentiment, severity):
    plain = urgency(text, sentiment=sentiment, severity=severity).score
    polite = urgency(f"{text}\n\n{courtesy}", sentiment=sentiment, severity=severity).score

    assert polite <= plain


def test_saying_something_is_wrong_three_ways_counts_once():
    result = urgency("There is an issue: a problem with the export, an error every time.", sentiment=0.0)

    moderate = [s for s in result.signals if s.tier == "moderate"]
    assert len(moderate) == 1
    assert result.score == urgency("There is an issue with the export.", sentiment=0.0).score


def test_operators_urgency_corrections_move_the_next_similar_ticket_only():
    from smartsupport.models import embedding_model
    from smartsupport.urgency import SemanticSeverity

    encoder = embedding_model(threads=2)
    severity = SemanticSeverity(encoder)
    similar, unrelated = encoder.embed(["The nightly sync to the warehouse stopped and reports are empty",
                                        "How do I change the colour of my avatar?"])
    before = severity.of_vectors(np.stack([similar, unrelated]))

    # An operator says a ticket like the first one is not urgent at all
    severity.set_corrections([("low", "Nightly sync to our data warehouse stopped, all reports are empty")])
    after = severity.of_vectors(np.stack([similar, unrelated]))

    assert before[0] > 0.6 and after[0] < before[0] - 0.3
    assert after[1] == pytest.approx(before[1], abs=1e-4)
    # And forgetting the corrections gives the descriptions' severity back
    severity.set_corrections([])
    assert np.allclose(severity.of_vectors(np.stack([similar, unrelated])), before)


def test_corrections_pull_towards_their_level_more_the_closer_and_the_more_they_agree():
    from smartsupport.severity import SeverityCorrections

    x = np.array([1.0, 0.0, 0.0])
    near, far = np.array([[0.9, np.sqrt(1 - 0.81), 0.0]]), np.array([[0.5, np.sqrt(0.75), 0.0]])
    one = SeverityCorrections.from_examples([("low", x)])
    two = SeverityCorrections.from_examples([("low", x), ("low", x)])

    assert one.adjust(far, np.array([1.0]))[0] == 1.0  # under the floor: no pull at all
    assert one.adjust(near, np.array([1.0]))[0] < 1.0
    assert two.adjust(near, np.array([1.0]))[0] < one.adjust(near, np.array([1.0]))[0]
    assert one.adjust(x[None], np.array([1.0]))[0] == pytest.approx(1 / 3)  # weight 2: two thirds of the way
    mixed = SeverityCorrections.from_examples([("low", x), ("critical", x)])
    assert mixed.adjust(x[None], np.array([0.5]))[0] == pytest.approx(0.5)
