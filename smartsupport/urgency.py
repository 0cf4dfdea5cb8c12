"""Urgency: a score S in [0,1] from severity signals, sentiment and meaning, with its explanation.

Signals come in tiers (critical > urgent > moderate), each with a weight. Fired weights combine
as a noisy-OR, ``R = 1 - prod(1 - w)``, so R stays in [0,1] and adding a signal never lowers it.
A signal reports something only when the ticket says it happened: asking about it ("What do you
do to prevent data breaches?", "in case of an outage", a policy enquiry) turns the signals after
the cue, in the same sentence, off; courtesy formulas ("I look forward to hearing from you") never
fire. Signals and sentiment read the normalised text (smartsupport/normalize.py).
Negative sentiment and shouting are weak extra terms. When the model worker has estimated the
ticket's *semantic severity* (how much it reads like each tier's descriptions, 0 = low .. 1 =
critical), ``S = a * severity + (1 - a) * R``; else ``S = R``. Hedges ("no rush") damp the total.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

from .centring import TrafficCentre, centred
from .normalize import normalize
from .severity import SeverityCorrections
from .ticket import Signal, Ticket, Urgency, UrgencyLevel

DEFAULT_SIGNALS_FILE = Path(__file__).with_name("data") / "signals.json"
_SUFFIX = r"(?:s|es|ed|d|ing)?"


@dataclass(frozen=True)
class Rules:
    """The parsed signals file."""

    tiers: tuple[tuple[str, float, tuple[str, ...]], ...]
    negations: frozenset[str]
    hedges: tuple[str, ...]
    hedge_factor: float
    sentiment_weight: float
    shouting_weight: float
    baseline: float
    levels: tuple[tuple[UrgencyLevel, float], ...]
    #: (tier, weight, phrase, regex), longest phrase first.
    patterns: tuple[tuple[str, float, str, re.Pattern[str]], ...]
    semantic_weight: float = 0.0
    semantic_temperature: float = 0.05
    #: Descriptions of each level, low to critical, for the semantic severity.
    anchors: tuple[tuple[str, ...], ...] = ()
    #: Cues of asking rather than reporting; a signal after one in its sentence does not fire.
    asking: re.Pattern[str] | None = None
    #: Openings of a question about the company ("do you", "is your"): the whole question is asking.
    questions: re.Pattern[str] | None = None
    #: Courtesy formulas, whose words never fire a signal.
    courtesy: re.Pattern[str] | None = None
    #: For some tiers, how many of their phrases count at most (the strongest).
    max_per_tier: tuple[tuple[str, int], ...] = ()

    @classmethod
    def load(cls, path: Path | str = DEFAULT_SIGNALS_FILE) -> "Rules":
        raw = json.loads(Path(path).read_text())
        tiers = tuple((name, float(t["weight"]), tuple(p.lower() for p in t["phrases"]))
                      for name, t in raw["tiers"].items())
        # Longer phrases first, so that "data breach" wins over "breach" for the same words.
        patterns = tuple(sorted((
            (tier, weight, phrase, re.compile(r"(?<![\w'])" + re.escape(phrase) + _SUFFIX + r"(?![\w'])"))
            for tier, weight, phrases in tiers for phrase in phrases
        ), key=lambda p: -len(p[2])))
        levels = sorted(((UrgencyLevel(k), float(v)) for k, v in raw["levels"].items()), key=lambda kv: -kv[1])
        semantic = raw.get("semantic", {})
        asking = raw.get("asking", {})
        return cls(
            asking=_alternation(asking.get("cues", ())),
            questions=_alternation(asking.get("questions", ()), anchor=r"^\W*"),
            courtesy=_alternation(raw.get("courtesy", ())),
            max_per_tier=tuple((str(k), int(v)) for k, v in raw.get("max_per_tier", {}).items()),
            semantic_weight=float(semantic.get("weight", 0.0)),
            semantic_temperature=float(semantic.get("temperature", 0.05)),
            anchors=tuple(tuple(semantic.get("anchors", {}).get(level.value, ())) for level in UrgencyLevel),
            tiers=tiers,
            negations=frozenset(w.lower() for w in raw["negations"]),
            hedges=tuple(h.lower() for h in raw["hedges"]),
            hedge_factor=float(raw["hedge_factor"]),
            sentiment_weight=float(raw["sentiment_weight"]),
            shouting_weight=float(raw["shouting_weight"]),
            baseline=float(raw["baseline"]),
            levels=tuple(levels),
            patterns=patterns,
        )

    def level_for(self, score: float) -> UrgencyLevel:
        for level, low in self.levels:
            if score >= low:
                return level
        return UrgencyLevel.LOW


@lru_cache(maxsize=4)
def load_rules(path: str | None = None) -> Rules:
    return Rules.load(path or DEFAULT_SIGNALS_FILE)


def find_signals(text: str, rules: Rules) -> list[Signal]:
    """Severity phrases in ``text`` that are not negated, not asked about and not part of a
    courtesy formula, at most one per phrase. Linear in the text's length: each match looks at a
    bounded stretch before and after it, and the characters already claimed are marked, not listed."""
    lowered = text.lower()
    fired: dict[str, Signal] = {}
    claimed = bytearray(len(lowered))  # 1 where a longer phrase (or a courtesy formula) took the words
    for match in rules.courtesy.finditer(lowered) if rules.courtesy else ():
        claimed[match.start():match.end()] = b"\x01" * (match.end() - match.start())
    # a match needs the phrase itself: skip the regex of every phrase the text does not hold
    present = [rule for rule in rules.patterns if rule[2] in lowered]  # longest phrase first
    for index, (tier, weight, phrase, pattern) in enumerate(present):
        last = index == len(present) - 1  # no shorter phrase left for this one's matches to claim from
        for match in pattern.finditer(lowered):
            start, end = match.span()
            if claimed.find(1, start, end) != -1:
                continue
            claimed[start:end] = b"\x01" * (end - start)
            if phrase in fired:
                if last:
                    break
                continue  # one signal per phrase; this match only claims its words
            if _negated(lowered, start, rules.negations) or _asked(lowered, start, end, rules):
                continue
            fired[phrase] = Signal(tier=tier, phrase=phrase, weight=weight)
    return sorted(fired.values(), key=lambda s: -s.weight)


def score(ticket: Ticket, *, rules: Rules | None = None, sentiment: float | None = None,
          severity: float | None = None) -> Urgency:
    """Urgency of ``ticket``; ``sentiment`` (VADER compound, -1..1) is computed when not given;
    ``severity`` (0..1) is the model worker's semantic estimate, if it made one."""
    rules = rules or load_rules()
    text = normalize(ticket.text)
    signals = _counted(find_signals(text, rules), rules)
    compound = sentiment_of(text) if sentiment is None else sentiment
    weights = [rules.baseline] + [s.weight for s in signals]
    extra: list[Signal] = []
    negativity = max(0.0, -compound)
    if negativity > 0.05:
        extra.append(Signal(tier="sentiment", phrase=f"negative tone ({compound:+.2f})",
                            weight=round(rules.sentiment_weight * negativity, 4)))
    if _shouting(text):
        extra.append(Signal(tier="shouting", phrase="capitals or !!!", weight=rules.shouting_weight))
    weights += [s.weight for s in extra]
    value = 1.0
    for w in weights:
        value *= 1.0 - min(max(w, 0.0), 1.0)
    s = 1.0 - value
    if severity is not None and rules.semantic_weight > 0:
        a = rules.semantic_weight
        contribution = round(a * severity, 4)
        s = contribution + (1.0 - a) * s
        nearest = list(UrgencyLevel)[min(3, int(round(severity * 3)))].value
        extra.append(Signal(tier="semantic", phrase=f"reads like a {nearest} ticket ({severity:.2f})",
                            weight=contribution))
    lowered = text.lower()
    hedges = [h for h in rules.hedges if h in lowered]
    if hedges:
        s *= rules.hedge_factor
        extra.append(Signal(tier="hedge", phrase=hedges[0], weight=round(rules.hedge_factor - 1.0, 4)))
    s = round(min(max(s, 0.0), 1.0), 4)
    return Urgency(score=s, level=rules.level_for(s), signals=tuple(signals) + tuple(extra), sentiment=compound)


class SemanticSeverity:
    """How much texts read like each level's descriptions: the expected level, 0 (low) to 1 (critical),
    moved towards the levels operators gave similar tickets (``corrections``, smartsupport/severity.py).

    Given the classifier's traffic centre (``of_vectors(..., centre=)``), tickets are compared minus
    that centre with the anchors minus their own centre, as the classifier compares them with its
    labels: what every ticket of the traffic shares (formal e-mail wording) reads like no level.
    Measured with ``make eval`` on the e-mail set's tune half (int8): concordance with its priority
    0.574 → 0.576, low-priority tickets at webhook level 21.6 % → 20.9 %; our own set's pairwise
    ordering agreement 0.933 → 0.926 (docs/measurements.md).

    ``encoder`` is anything with ``embed(texts) -> L2-normalised vectors`` (the classifier's model).
    """

    def __init__(self, encoder, rules: Rules | None = None, *, corrections: SeverityCorrections | None = None) -> None:
        self.rules = rules or load_rules()
        self.encoder = encoder
        self.anchors = [encoder.embed(list(texts)) for texts in self.rules.anchors]
        # the mean of every description (a mean of the levels' means scored the tune half the same)
        own_centre = np.concatenate(self.anchors).mean(axis=0)
        self.centred_anchors = [centred(a, own_centre) for a in self.anchors]
        self.corrections = corrections or SeverityCorrections.from_examples(())

    def set_corrections(self, corrections: Iterable[tuple[UrgencyLevel | str, str]]) -> None:
        """Learn operators' ``(level, ticket text)`` corrections; the texts are embedded as the
        model worker embeds tickets (normalised). An empty list forgets them all."""
        pairs = list(corrections)
        vectors = self.encoder.embed([normalize(text) for _, text in pairs]) if pairs else []
        self.corrections = SeverityCorrections.from_examples(
            zip([level for level, _ in pairs], vectors), floor=self.corrections.floor, weight=self.corrections.weight)

    def of_vectors(self, vectors: np.ndarray, *, centre: TrafficCentre | None = None) -> np.ndarray:
        """Severities of the tickets with embeddings ``vectors``, around ``centre`` when given."""
        compared, anchors = (vectors, self.anchors) if centre is None else (centre.apply(vectors), self.centred_anchors)
        sims = np.stack([0.5 * (compared @ a.T).max(axis=1) + 0.5 * (compared @ a.T).mean(axis=1)
                         for a in anchors], axis=1)
        z = (sims - sims.max(axis=1, keepdims=True)) / self.rules.semantic_temperature
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        severity = p @ np.linspace(0.0, 1.0, len(self.anchors))
        return np.round(self.corrections.adjust(vectors, severity), 4)


#: The API's pre-score reads the start of a ticket only: it orders the queue, the worker scores the
#: whole text, and a POST's cost must not grow with a long body's matches.
TRIAGE_CHARS = 2000


def triage_priority(text: str, *, threshold: float, rules: Rules | None = None) -> int:
    """A broker priority (0 first) from the severity signals of the ticket's first TRIAGE_CHARS
    characters, before any model has run: under a backlog, tickets that look urgent are classified first."""
    rules = rules or load_rules()
    estimate = score(Ticket(id="", body=text[:TRIAGE_CHARS]), rules=rules, sentiment=0.0).score
    if estimate >= threshold:
        return 0
    return 3 if estimate >= dict(rules.levels)[UrgencyLevel.MEDIUM] else 6


@lru_cache(maxsize=1)
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment_of(text: str) -> float:
    """VADER compound sentiment of ``text`` in [-1, 1]."""
    return float(_vader().polarity_scores(text[:5000])["compound"])


#: How far before a phrase its clause is read for a negation, and its sentence for an asking cue.
CLAUSE_CHARS = 120
SENTENCE_CHARS = 400


def _negated(lowered: str, start: int, negations: frozenset[str]) -> bool:
    # Only the words of the same clause count: "not slow, but down" still fires "down".
    clause = re.split(r"[.,;:!?\n]| but ", lowered[max(0, start - CLAUSE_CHARS):start])[-1]
    words = re.findall(r"[\w']+", clause)[-3:]
    return any(w in negations or w.endswith("n't") for w in words)


def _counted(signals: list[Signal], rules: Rules) -> list[Signal]:
    """The signals that add to the score: all of them, except past a tier's ``max_per_tier``
    (``signals`` come strongest first)."""
    caps, seen, kept = dict(rules.max_per_tier), {}, []
    for s in signals:
        seen[s.tier] = seen.get(s.tier, 0) + 1
        if seen[s.tier] <= caps.get(s.tier, len(signals)):
            kept.append(s)
    return kept


def _asked(lowered: str, start: int, end: int, rules: Rules) -> bool:
    """Whether the phrase at ``start:end`` is asked about rather than reported: an asking cue
    earlier in its sentence, or a question about the company ("Do you ...?", "Is your ...?")."""
    floor = max(0, start - SENTENCE_CHARS)
    begin = max(max(lowered.rfind(c, floor, start) for c in ".!?\n") + 1, floor)
    if rules.asking and rules.asking.search(lowered, begin, start):
        return True
    if rules.questions and rules.questions.match(lowered[begin:start]):
        ceiling = min(len(lowered), end + SENTENCE_CHARS)
        stop = min((i for i in (lowered.find(c, end, ceiling) for c in ".!?\n") if i >= 0), default=ceiling)
        return lowered[stop:stop + 1] == "?"
    return False


def _alternation(phrases, *, anchor: str = r"(?<![\w'])") -> re.Pattern[str] | None:
    """One regex for a list of phrases, whole words only, longest first; None for no phrases."""
    phrases = sorted({p.lower().strip() for p in phrases if p.strip()}, key=len, reverse=True)
    if not phrases:
        return None
    return re.compile(anchor + "(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![\w'])")


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    caps = sum(c.isupper() for c in letters)
    return "!!" in text or (len(letters) >= 12 and caps / len(letters) > 0.6)


def score_for_level(score: float, level: UrgencyLevel, rules: Rules | None = None) -> float:
    """The score closest to ``score`` that lies in ``level``'s range: what an operator's correction to
    ``level`` makes of a ticket's score, so that it sorts among the tickets of that level."""
    rules = rules or load_rules()
    lows = dict(rules.levels)
    low = lows.get(level, 0.0)
    above = [v for v in lows.values() if v > low]
    high = min(above) - 1e-4 if above else 1.0
    return round(min(max(score, low), high), 4)
