"""Quality on tickets SmartSupport's authors did not write: ../shared/data/outside-tickets.

Two public sets, for evaluation only (nothing of them may be copied into this repository):
  * bueck_dev.jsonl: formal e-mail tickets with a department (queue) and a priority. Billing is
    "Billing and Payments"; Technical is "Technical Support", "IT Support" and "Service Outages and
    Maintenance" (the departments that map cleanly); other departments are not scored for the
    category, but all tickets are scored for urgency against their priority.
  * bitext_dev.jsonl: short chat messages with a category. INVOICE, PAYMENT, REFUND and
    CANCELLATION_FEE are Billing; ACCOUNT (sign-up, password, editing or closing an account) counts
    as right when labelled Technical or Other (it is how the product is used, or nothing of ours);
    every other category fits none of Billing/Technical/Legal, so the right answer is the fallback
    label (Other).

Each file is split in two halves by the SHA-256 of the ticket's text (first byte even: TUNE, odd:
REPORT). The tune half was looked at while choosing label descriptions, normalisation and
thresholds; the report half only gives the figures that are reported. Both are printed, labelled.

Tickets go through the classifier in batches of 32 in file order, as in the model worker: each
batch is scored with the traffic centre learnt from the batches before it (a fresh install at the
start of each set), then updates it; the semantic severity reads the tickets around the same
centre. Set OUTSIDE_TICKETS_DIR to read the sets from elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from smartsupport.classify import Classifier, softmax
from smartsupport.ticket import Ticket
from smartsupport.urgency import SemanticSeverity, score

from .metrics import concordance, expected_calibration_error, macro_f1

HERE = Path(__file__).resolve().parent
OUTSIDE_DIR = Path(os.environ.get("OUTSIDE_TICKETS_DIR", HERE.parent.parent / "shared" / "data" / "outside-tickets"))
BUECK_QUEUES = {"Billing and Payments": "Billing", "Technical Support": "Technical", "IT Support": "Technical",
                "Service Outages and Maintenance": "Technical"}
BITEXT_BILLING = frozenset({"INVOICE", "PAYMENT", "REFUND", "CANCELLATION_FEE"})
PRIORITIES = ("low", "medium", "high")
HALVES = ("report", "tune")
BATCH = 32


@dataclass(frozen=True)
class Row:
    subject: str
    body: str
    #: Labels that count as right; empty when the ticket is not scored for its category.
    accepted: frozenset[str]
    group: str  # the set's own class (department or category)
    priority: int | None
    half: str

    @property
    def text(self) -> str:
        return Ticket(id="", body=self.body, subject=self.subject).text


def half_of(text: str) -> str:
    """TUNE or REPORT, from the text alone (stable across runs, machines and file orders)."""
    return "tune" if hashlib.sha256(text.encode()).digest()[0] % 2 == 0 else "report"


def load_bueck(directory: Path = OUTSIDE_DIR) -> list[Row]:
    rows = []
    for line in (directory / "bueck_dev.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        label = BUECK_QUEUES.get(r["queue"])
        row = Row(r["subject"] or "", r["body"], frozenset({label}) if label else frozenset(), r["queue"],
                  PRIORITIES.index(r["priority"]), "")
        rows.append(replace(row, half=half_of(row.text)))
    return rows


def load_bitext(directory: Path = OUTSIDE_DIR, *, fallback: str = "Other") -> list[Row]:
    rows = []
    for line in (directory / "bitext_dev.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        category = r["category"]
        accepted = {"Billing"} if category in BITEXT_BILLING else (
            {"Technical", fallback} if category == "ACCOUNT" else {fallback})
        rows.append(Row("", r["text"], frozenset(accepted), category, None, half_of(r["text"])))
    return rows


def stream(clf: Classifier, texts: list[str], *, severity: SemanticSeverity, batch: int = BATCH):
    """Categories, probabilities and semantic severities of ``texts`` as the model worker would give
    them, from a fresh traffic centre that learns from each batch after scoring it."""
    clf.set_centre(clf.fresh_centre())
    categories, probs, severities = [], [], []
    for i in range(0, len(texts), batch):
        features = clf.features(texts[i:i + batch])
        vectors = features[:, :clf.dim]
        sims = clf.similarities(features)
        found = clf.classify_features(features)
        categories += found
        probs.append(softmax(sims / clf.temperature))
        severities.append(severity.of_vectors(vectors, centre=clf.centre))
        clf.set_centre(clf.centre.update(vectors, [c.label for c in found]))
    return categories, np.concatenate(probs), np.concatenate(severities)


def outside_quality(clf: Classifier, *, threshold: float, directory: Path = OUTSIDE_DIR) -> dict | None:
    """Print and return category and urgency quality on both outside sets, per half."""
    if not (directory / "bueck_dev.jsonl").is_file() or not (directory / "bitext_dev.jsonl").is_file():
        print(f"\n== Outside tickets: skipped, {directory} has no bueck_dev.jsonl/bitext_dev.jsonl "
              "(set OUTSIDE_TICKETS_DIR) ==")
        return None
    severity = SemanticSeverity(clf.encoder)
    results = {}
    fallback = clf.fallback or "Other"
    for name, rows in (("bueck", load_bueck(directory)), ("bitext", load_bitext(directory, fallback=fallback))):
        categories, probs, severities = stream(clf, [r.text for r in rows], severity=severity)
        if name != "bueck":  # no priorities to compare with
            severities = None
        print(f"\n== Outside tickets: {name} ({len(rows)}, {clf.encoder.precision}; fallback {clf.fallback}) ==")
        for half in HALVES:
            idx = [i for i, r in enumerate(rows) if r.half == half]
            result = _category_quality(clf, [rows[i] for i in idx], [categories[i] for i in idx], probs[idx])
            if severities is not None:
                result |= _urgency_quality([rows[i] for i in idx], severities[idx], threshold)
            results[(name, half)] = result
            _print(name, half, result)
    clf.set_centre(clf.fresh_centre())  # what it learnt of these sets is not the caller's traffic
    return results


def _category_quality(clf: Classifier, rows: list[Row], categories, probs: np.ndarray) -> dict:
    scored = [j for j, r in enumerate(rows) if r.accepted]
    predicted = [categories[j].label for j in scored]
    right = np.array([p in rows[j].accepted for p, j in zip(predicted, scored)])
    flagged = np.array([categories[j].needs_review for j in scored])
    # For macro-F1 a right answer's gold label is the answer; a wrong one's the first accepted label.
    gold = [p if ok else sorted(rows[j].accepted)[0] for p, ok, j in zip(predicted, right, scored)]
    result = {
        "n": len(scored), "accuracy": float(right.mean()), "macro_f1": macro_f1(gold, predicted),
        "ece": expected_calibration_error(np.array([categories[j].confidence for j in scored]), right),
        "wrong_flagged": float(flagged[~right].mean()) if (~right).any() else float("nan"),
        "right_flagged": float(flagged[right].mean()) if right.any() else float("nan"),
        "labels_by_group": {g: dict(Counter(categories[j].label for j in range(len(rows)) if rows[j].group == g))
                            for g in sorted({r.group for r in rows})},
    }
    billing_gold = np.array(["Billing" in rows[j].accepted for j in scored])
    billing_said = np.array([p == "Billing" for p in predicted])
    result["billing_precision"] = float((billing_gold & billing_said).sum() / max(billing_said.sum(), 1))
    result["billing_recall"] = float((billing_gold & billing_said).sum() / max(billing_gold.sum(), 1))
    two = [k for k, j in enumerate(scored) if rows[j].accepted <= {"Billing", "Technical"}]
    if two:  # Billing vs Technical alone: the better of the two labels, whatever the others scored
        b, t = clf.names.index("Billing"), clf.names.index("Technical")
        pick = ["Billing" if probs[scored[k], b] >= probs[scored[k], t] else "Technical" for k in two]
        result["billing_vs_technical"] = float(np.mean([p in rows[scored[k]].accepted for p, k in zip(pick, two)]))
    return result


def _urgency_quality(rows: list[Row], severities: np.ndarray, threshold: float) -> dict:
    scores = np.array([score(Ticket(id="", body=r.body, subject=r.subject), severity=float(s)).score
                       for r, s in zip(rows, severities)])
    priorities = np.array([r.priority for r in rows])
    return {"urgency_concordance": concordance(scores, priorities),
            "webhook_rate": {p: float((scores[priorities == i] >= threshold).mean())
                             for i, p in enumerate(PRIORITIES) if (priorities == i).any()}}


def _print(name: str, half: str, r: dict) -> None:
    print(f"  {half.upper():<6} n={r['n']:4d}  accuracy {r['accuracy']:.3f}  macro-F1 {r['macro_f1']:.3f}  "
          f"ECE {r['ece']:.3f}  flagged: wrong {r['wrong_flagged']:.1%} right {r['right_flagged']:.1%}")
    if "billing_vs_technical" in r:
        print(f"         Billing vs Technical (those two labels only) {r['billing_vs_technical']:.3f}")
    if name == "bitext":
        print(f"         Billing precision {r['billing_precision']:.3f} recall {r['billing_recall']:.3f}")
        for group, counts in r["labels_by_group"].items():
            ranked = sorted(counts.items(), key=lambda kv: -kv[1])
            print(f"         {group:<17} " + "  ".join(f"{k} {v}" for k, v in ranked))
    if "urgency_concordance" in r:
        rates = "  ".join(f"{p} {v:.1%}" for p, v in r["webhook_rate"].items())
        print(f"         urgency concordance with priority {r['urgency_concordance']:.3f}; webhook level: {rates}")
