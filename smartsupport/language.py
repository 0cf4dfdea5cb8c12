"""The language a ticket is written in, and whether the model reads it.

lingua (lingua-language-detector) tells apart only the languages the deployment lists
(``SMARTSUPPORT_LANGUAGES``, ISO 639-1 codes): fewer candidates are both faster and more accurate,
and a rule can only name a language that can be detected. Its confidence values are relative to
the listed languages and add up to 1. A ticket gets the top language only when that language holds
more than 0.7 of the confidence, well ahead of all the other listed languages together (a rule
routes by it, and it flags the ticket for review); otherwise (a few words such as "refund $299",
an order number, no letters at all) the language is undecided: ``Language(None, 0.0)``. An
undecided ticket matches no language rule and is not flagged for its language.

A ticket in a language that is not listed is taken for the closest listed one or left undecided
(with en,de,fr,es: Portuguese comes out Spanish, Dutch German, Italian Spanish or undecided), so
list every language customers write in. With a single language listed, every ticket is in it.

The model reads the languages it was trained on (``SMARTSUPPORT_MODEL_LANGUAGES``).
``review_reason`` says why a ticket detected in another language needs a person instead of a
category the model guessed as if it were English.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Collection, Iterable

import lingua

#: Languages told apart when SMARTSUPPORT_LANGUAGES is not set.
DEFAULT_LANGUAGES = ("en", "de", "fr", "es")
#: What the default model, all-MiniLM-L6-v2 (smartsupport/models.py), reads: it was trained on
#: English sentence pairs only. A multilingual model lists its languages in SMARTSUPPORT_MODEL_LANGUAGES.
DEFAULT_MODEL_LANGUAGES = ("en",)
#: The top language needs more than this share of the confidence, else the language is undecided.
#: At 0.5 one short English sentence in 120 ("Are you SOC 2 Type II certified? Our procurement
#: questionnaire asks.") came out French at 0.60, and went to the French desk (docs/measurements.md).
MIN_CONFIDENCE = 0.7
#: Only the start of a long ticket is read: lingua is sure within a few sentences, and its cost
#: grows with the length (about 0.4 ms per 1,000 characters).
MAX_CHARS = 2000


@dataclass(frozen=True)
class Language:
    """An ISO 639-1 code (None: undecided) and lingua's confidence in it, 0..1."""

    code: str | None
    confidence: float

    @property
    def name(self) -> str:
        """The language's English name ("German"), or "undecided"."""
        return language_name(self.code) if self.code else "undecided"


def language_name(code: str) -> str:
    """The English name of an ISO 639-1 code lingua knows: ``de`` → "German"."""
    return _lingua_language(code).name.title()


def known_codes(codes: Iterable[str]) -> tuple[str, ...]:
    """``codes`` lower-cased, each once, in their order; ValueError naming the first that is not an
    ISO 639-1 code of a language lingua detects (75 languages), or when there are none."""
    found: list[str] = []
    for code in codes:
        code = code.strip().lower()
        try:
            _lingua_language(code)
        except ValueError:
            raise ValueError(f"{code!r} is not the ISO 639-1 code of a language lingua detects "
                             "(e.g. en, de, fr, es, it, nl, pt)") from None
        if code not in found:
            found.append(code)
    if not found:
        raise ValueError("must list at least one ISO 639-1 language code, e.g. en,de,fr,es")
    return tuple(found)


class LanguageDetector:
    """Tells apart the listed languages; ``detector(codes)`` builds one per process. The language
    models load here rather than on the first ticket: for en,de,fr,es about 0.6 s and 140 MB."""

    def __init__(self, codes: Iterable[str], *, low_accuracy: bool = False) -> None:
        self.codes = known_codes(codes)
        builder = lingua.LanguageDetectorBuilder.from_languages(*[_lingua_language(c) for c in self.codes])
        if low_accuracy:  # trigrams only: ~3 MB a language, less accurate on short texts
            builder = builder.with_low_accuracy_mode()
        self._lingua = builder.with_preloaded_language_models().build()

    def detect(self, text: str) -> Language:
        """The listed language ``text`` is written in, with lingua's confidence; undecided
        (``Language(None, 0.0)``) unless one language holds more than MIN_CONFIDENCE."""
        values = self._lingua.compute_language_confidence_values(text[:MAX_CHARS])
        if not values or values[0].value <= MIN_CONFIDENCE:
            return Language(None, 0.0)
        top = values[0]
        return Language(top.language.iso_code_639_1.name.lower(), round(top.value, 4))


@lru_cache(maxsize=4)
def detector(codes: tuple[str, ...]) -> LanguageDetector:
    """The process's detector for ``codes`` (e.g. ``Settings.languages``), built on first use."""
    return LanguageDetector(codes)


def review_reason(language: Language, model_languages: Collection[str]) -> str | None:
    """Why a ticket needs a person because the model cannot read it, e.g. "written in German (de,
    0.98): the model reads English only"; None when the model reads it or it is undecided."""
    if language.code is None or language.code in model_languages:
        return None
    names = [language_name(code) for code in model_languages]
    reads = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return (f"written in {language.name} ({language.code}, {language.confidence:.2f}): "
            f"the model reads {reads} only")


def _lingua_language(code: str) -> lingua.Language:
    """ValueError when lingua has no language with this ISO 639-1 code."""
    return lingua.Language.from_iso_code_639_1(lingua.IsoCode639_1.from_str(code))
