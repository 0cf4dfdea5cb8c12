"""Language detection (smartsupport/language.py) on text SmartSupport's authors did not write.

  * The Debian Reference (Osamu Aoki and its translators, GPL-2+), Debian's
    debian-reference-{en,de,fr,es} packages: every paragraph (HTML ``<p>``) of 30 characters or more
    is labelled with the language of its edition. Translations lag behind the English text, so a
    translated edition keeps some English paragraphs: a German, French or Spanish paragraph is kept
    only when fewer than half of its words occur in the English paragraph at the same place of the
    same chapter (chapters whose paragraphs do not line up are left out). This drops the untranslated
    paragraphs, and with them some translated ones made mostly of names and commands.
    ``make language-sample`` (scripts/fetch_language_sample.sh) puts the chapters in
    LANGUAGE_SAMPLE_DIR (default .smartsupport/language-sample).
  * The English outside tickets (eval/outside.py), when present: the share of real English tickets
    that would be flagged for their language (detected as another language).

Run alone with ``python -m eval.language``; ``make eval`` runs it too.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from smartsupport.language import DEFAULT_LANGUAGES, LanguageDetector

from .outside import OUTSIDE_DIR

HERE = Path(__file__).resolve().parent
SAMPLE_DIR = Path(os.environ.get("LANGUAGE_SAMPLE_DIR", HERE.parent / ".smartsupport" / "language-sample"))
MIN_CHARS = 30
FLOOR = 0.95
#: Length buckets (characters) for the accuracy and the time per text.
BUCKETS = ((30, 100), (100, 300), (300, 2000), (2000, 10 ** 6))
#: The English outside sets and the field holding each one's text.
OUTSIDE_SETS = {"bitext_dev.jsonl": "text", "bueck_dev.jsonl": "body", "cfpb_dev.jsonl": "text"}


class _Paragraphs(HTMLParser):
    """The text of each outermost ``<p>`` of a page, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.parts, self.found = 0, [], []

    def handle_starttag(self, tag, attrs) -> None:
        self.depth += tag == "p"

    def handle_endtag(self, tag) -> None:
        if tag == "p" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.found.append(" ".join("".join(self.parts).split()))
                self.parts = []

    def handle_data(self, data) -> None:
        if self.depth:
            self.parts.append(data)


def paragraphs(page: Path) -> list[str]:
    parser = _Paragraphs()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.found


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+", text.lower()))


def load_sample(directory: Path = SAMPLE_DIR) -> dict[str, list[str]]:
    """Paragraphs by language code: English as published, the translations without the paragraphs
    that share half their words or more with the English one at the same place."""
    english = {page.name.split(".")[0]: paragraphs(page) for page in sorted(directory.glob("*.en.html"))}
    sample = {"en": [p for found in english.values() for p in found if len(p) >= MIN_CHARS]}
    for code in ("de", "fr", "es"):
        sample[code] = []
        for chapter, originals in english.items():
            page = directory / f"{chapter}.{code}.html"
            translated = paragraphs(page) if page.is_file() else []
            if len(translated) != len(originals):
                continue
            for original, paragraph in zip(originals, translated):
                words = _words(paragraph)
                if len(paragraph) >= MIN_CHARS and len(words & _words(original)) < len(words) / 2:
                    sample[code].append(paragraph)
    return sample


def measure(detector: LanguageDetector, texts: list[str], code: str) -> dict:
    """Accuracy (undecided counts as wrong), the share undecided, what the wrong ones were taken
    for, and accuracy and milliseconds per text by length bucket."""
    found, ms = [], []
    for one in texts:
        started = time.perf_counter()
        found.append(detector.detect(one).code)
        ms.append((time.perf_counter() - started) * 1000)
    result = {"n": len(texts), "accuracy": _share(found, code), "undecided": _share(found, None),
              "taken_for": Counter(c for c in found if c not in (code, None)), "buckets": {}}
    for low, high in BUCKETS:
        index = [i for i, one in enumerate(texts) if low <= len(one) < high]
        if index:
            result["buckets"][(low, high)] = {"n": len(index), "accuracy": _share([found[i] for i in index], code),
                                              "ms": sum(ms[i] for i in index) / len(index)}
    return result


def _share(found: list, code: str | None) -> float:
    return sum(c == code for c in found) / len(found) if found else float("nan")


def text(code: str, result: dict) -> str:
    """One line per language: accuracy, undecided, confusions, and the buckets."""
    buckets = ", ".join(f"{low}-{high if high < 10 ** 6 else '…'} ch. n={b['n']} acc {b['accuracy']:.3f} "
                        f"{b['ms']:.2f} ms" for (low, high), b in result["buckets"].items())
    wrong = ", ".join(f"{c} {n}" for c, n in result["taken_for"].most_common()) or "none"
    return (f"{code} n={result['n']:5d}  accuracy {result['accuracy']:.4f}  undecided {result['undecided']:.4f}  "
            f"taken for: {wrong}\n      {buckets}")


def english_tickets(detector: LanguageDetector, directory: Path = OUTSIDE_DIR) -> list[str]:
    """Per English outside set: the share flagged for its language (decided, and not English)."""
    lines = []
    for name, field in OUTSIDE_SETS.items():
        path = directory / name
        if path.is_file():
            texts = [json.loads(line)[field] for line in path.read_text(encoding="utf-8").splitlines()]
            found = Counter(detector.detect(t).code for t in texts)
            flagged = sum(n for c, n in found.items() if c not in ("en", None))
            lines.append(f"{name}: {len(texts)} English tickets, flagged as another language "
                         f"{flagged / len(texts):.2%}, undecided {found[None] / len(texts):.2%}")
    return lines


def language_quality(directory: Path = SAMPLE_DIR) -> dict | None:
    """Print and return, per language and lingua mode, the accuracy on the sample; None when absent."""
    if not any(directory.glob("*.de.html")):
        print(f"\n== Language detection: skipped, {directory} holds no sample "
              "(make language-sample, or set LANGUAGE_SAMPLE_DIR) ==")
        return None
    source = (directory / "SOURCE").read_text().split("\n") if (directory / "SOURCE").is_file() else ["?"]
    sample = load_sample(directory)
    print(f"\n== Language detection among {','.join(DEFAULT_LANGUAGES)} (the Debian Reference: "
          f"{', '.join(filter(None, source))}; floor {FLOOR} for de/fr/es) ==")
    results = {}
    for mode, low_accuracy in (("high accuracy (the default)", False), ("low accuracy", True)):
        started = time.perf_counter()
        detector = LanguageDetector(DEFAULT_LANGUAGES, low_accuracy=low_accuracy)
        print(f"  lingua {mode}, built in {time.perf_counter() - started:.2f} s:")
        results[mode] = {code: measure(detector, texts, code) for code, texts in sample.items()}
        for code, result in results[mode].items():
            print("    " + text(code, result))
        for line in english_tickets(detector):
            print("    " + line)
    default = results["high accuracy (the default)"]
    met = all(default[code]["accuracy"] >= FLOOR for code in ("de", "fr", "es"))
    print(f"  floor {FLOOR} for de, fr and es with the default: {'met' if met else 'NOT MET'}")
    return results


if __name__ == "__main__":
    language_quality()
