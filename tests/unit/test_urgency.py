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
