"""Redaction quality on eval/data/redaction.jsonl: hand-written ticket sentences with e-mail addresses,
phone numbers, cards, IBANs and secrets labelled, and with order and invoice numbers, dates, amounts,
versions, ticket ids and tracking numbers that must stay readable.

A finding is right when a labelled span of its kind overlaps it; a labelled span is found when a
finding of its kind overlaps it. The set was written by SmartSupport's authors, so it measures the
formats we thought of, and a few that are known to be missed (a UK number written without +44 under
the US region, an address spelt "at ... dot com", a password with no word before it).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from smartsupport.redact import KINDS, findings

SET = Path(__file__).resolve().parent / "data" / "redaction.jsonl"
LENGTH = 20_000


def measure(path: str | Path = SET) -> dict:
    """Precision and recall per kind and overall, and the milliseconds one 20,000-character text takes."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    counts = {kind: {"found": 0, "right": 0, "labelled": 0, "recalled": 0} for kind in KINDS}
    for row in rows:
        labelled = [(s["kind"], s["start"], s["end"]) for s in row["spans"]]
        found = findings(row["text"])
        for kind, start, end in found:
            counts[kind]["found"] += 1
            counts[kind]["right"] += any(_overlap(f, (kind, start, end)) for f in labelled)
        for kind, start, end in labelled:
            counts[kind]["labelled"] += 1
            counts[kind]["recalled"] += any(_overlap(f, (kind, start, end)) for f in found)
    total = {key: sum(c[key] for c in counts.values()) for key in ("found", "right", "labelled", "recalled")}
    result = {kind: _scores(c) for kind, c in counts.items()}
    result["overall"] = _scores(total)
    result["texts"] = len(rows)
    result["ms_20k"] = _time_20k(" ".join(row["text"] for row in rows))
    return result


def text(result: dict) -> str:
    """One line: precision/recall of each kind, overall, and the time of a 20,000-character text."""
    kinds = ", ".join(f"{kind} P {result[kind]['precision']:.3f} R {result[kind]['recall']:.3f}" for kind in KINDS)
    overall = result["overall"]
    return (f"redaction ({result['texts']} texts, {overall['labelled']} spans): {kinds}; overall P "
            f"{overall['precision']:.3f} R {overall['recall']:.3f}; {LENGTH:,} characters in {result['ms_20k']:.1f} ms")


def _overlap(a: tuple[str, int, int], b: tuple[str, int, int]) -> bool:
    return a[0] == b[0] and a[1] < b[2] and b[1] < a[2]


def _scores(c: dict) -> dict:
    return {"precision": c["right"] / c["found"] if c["found"] else 1.0,
            "recall": c["recalled"] / c["labelled"] if c["labelled"] else 1.0, **c}


def _time_20k(corpus: str) -> float:
    """Median of 5 runs on the set's own texts, repeated to 20,000 characters (the API's largest body)."""
    sample = (corpus * (LENGTH // max(len(corpus), 1) + 1))[:LENGTH]
    times = []
    for _ in range(5):
        started = time.perf_counter()
        findings(sample)
        times.append((time.perf_counter() - started) * 1000)
    return sorted(times)[2]
