"""`make eval`: classification and urgency quality on labelled sets, with calibration and throughput.

Sets:
  * eval/data/support_tickets.csv: our hand-written Billing/Technical/Legal tickets with urgency tiers;
  * eval/data/redaction.jsonl: support sentences with labelled personal data (and look-alikes), for
    the precision and recall of redaction (smartsupport/redact.py);
  * the Debian Reference in English, German, French and Spanish (eval/language.py; fetched by
    scripts/fetch_language_sample.sh, skipped when absent): language detection per language;
  * Banking77 test (eval/data/banking77, PolyAI, CC BY 4.0, vendored with its licence): 77 intents,
    labels described in eval/data/banking77_labels.json; corrections (examples per label) are drawn from train.csv only.
Temperatures are fitted on held-out data: a train.csv slice for Banking77, the other fold for our set.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import os
import time
from pathlib import Path

import numpy as np

from smartsupport.classify import Classifier, softmax
from smartsupport.config import Settings
from smartsupport.labels import load_label_set
from smartsupport.ticket import Ticket
from smartsupport.urgency import SemanticSeverity, score

from .incidents import incident_quality
from .language import language_quality
from .metrics import accuracy, expected_calibration_error, fit_temperature, macro_f1, top_confusions
from .outside import outside_quality
from .redaction import measure as redaction_quality, text as redaction_text

HERE = Path(__file__).resolve().parent
SUPPORT_SET = HERE / "data" / "support_tickets.csv"
BANKING_LABELS = HERE / "data" / "banking77_labels.json"
BANKING_DIR = Path(os.environ.get("BANKING77_DIR", HERE / "data" / "banking77"))
TIERS = ["low", "medium", "high", "critical"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def report(title: str, names: list[str], probs: np.ndarray, gold: list[str], clf: Classifier,
           sims: np.ndarray | None = None) -> dict[str, float]:
    """Print and return accuracy, macro-F1, review rate, unflagged accuracy and ECE (the review
    rate with the classifier's similarity rules too when ``sims`` are given)."""
    none = np.zeros(len(probs), dtype=bool)
    unmatched, unsure = (clf.unmatched(sims), clf.unsure(sims)) if sims is not None else (none, none)
    cats = [clf._category(row, unmatched=u, unsure=v) for row, u, v in zip(probs, unmatched, unsure)]
    predicted = [c.label for c in cats]
    flagged = np.array([c.needs_review for c in cats])
    correct = np.array([p == g for p, g in zip(predicted, gold)])
    result = {
        "accuracy": accuracy(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "flagged": float(flagged.mean()),
        "unflagged_accuracy": float(correct[~flagged].mean()) if (~flagged).any() else float("nan"),
        "ece": expected_calibration_error(probs.max(axis=1), correct),
    }
    print(f"  {title:<34} acc {result['accuracy']:.3f}  macro-F1 {result['macro_f1']:.3f}  "
          f"flagged {result['flagged']:.1%}  acc(unflagged) {result['unflagged_accuracy']:.3f}  "
          f"ECE {result['ece']:.3f}")
    return result


def support_set(clf: Classifier) -> None:
    rows = read_csv(SUPPORT_SET)
    texts, gold = [r["text"] for r in rows], [r["category"] for r in rows]
    print(f"\n== Billing/Technical/Legal set ({len(rows)} tickets, {SUPPORT_SET.relative_to(HERE.parent)}) ==")
    sims = clf.similarities(clf.features(texts))
    gold_index = np.array([clf.names.index(g) for g in gold])
    report(f"temperature {clf.temperature:g} (labels file)", clf.names, softmax(sims / clf.temperature), gold, clf,
           sims)
    # Two-fold cross-fitting: each half is scored with the temperature fitted on the other half.
    folds = np.arange(len(rows)) % 2
    probs = np.zeros_like(sims)
    fitted = []
    for k in (0, 1):
        t = fit_temperature(sims[folds != k], gold_index[folds != k])
        fitted.append(t)
        probs[folds == k] = softmax(sims[folds == k] / t)
    report(f"calibrated (T fitted {fitted[0]:.3f}/{fitted[1]:.3f})", clf.names, probs, gold, clf, sims)
    predicted = [clf.names[i] for i in probs.argmax(axis=1)]
    print("  confusions (gold → predicted):", top_confusions(gold, predicted) or "none")
    print(f"  temperature fitted on the whole set (for the labels file): {fit_temperature(sims, gold_index):.4f}")


def banking77(*, precision: str, shots: tuple[int, ...], sample: int | None) -> None:
    label_set = load_label_set(BANKING_LABELS)
    clf = Classifier(label_set, threads=2, precision=precision)
    test = read_csv(BANKING_DIR / "test.csv")
    train = read_csv(BANKING_DIR / "train.csv")
    if sample:
        test = [test[i] for i in np.random.default_rng(0).choice(len(test), sample, replace=False)]
    rng = np.random.default_rng(77)
    by_label: dict[str, list[str]] = {}
    for row in train:
        by_label.setdefault(row["category"], []).append(row["text"])
    # Held out for calibration: 5 train rows per label, never used as corrections.
    calib_rows = {name: list(rng.permutation(texts)) for name, texts in by_label.items()}
    calibration = [(name, t) for name, texts in calib_rows.items() for t in texts[:5]]
    pool = {name: texts[5:] for name, texts in calib_rows.items()}
    started = time.perf_counter()
    vectors, layered = clf.encoder.embed([r["text"] for r in test], layers=True)
    rate = len(test) / (time.perf_counter() - started)
    calib_vectors, calib_layered = clf.encoder.embed([t for _, t in calibration], layers=True)
    calib_gold = np.array([clf.names.index(n) for n, _ in calibration])
    gold = [r["category"] for r in test]
    print(f"\n== Banking77 test ({len(test)} queries, 77 labels, {precision}; labels from "
          f"{BANKING_LABELS.relative_to(HERE.parent)}; corrections from train.csv) ==")
    for k in shots:
        clf.set_corrections([(name, t) for name, texts in pool.items() for t in texts[:k]])
        # What clf.features() gives, computed once for every k: the embeddings, then the layered features.
        features, calib_features = np.c_[vectors, layered], np.c_[calib_vectors, calib_layered]
        t = fit_temperature(clf.similarities(calib_features), calib_gold)
        report(f"{k} corrections/label (T {t:.3f}, {t / clf.temperature:.2f}× the labels file's)", clf.names,
               softmax(clf.similarities(features) / t), gold, clf)
    # As the model worker sees traffic: in an order of arrival (shuffled, fixed seed), batches of 32,
    # each scored around the traffic centre learnt from the batches before it.
    clf.set_corrections([])
    order = np.random.default_rng(0).permutation(len(test))
    clf.set_centre(clf.fresh_centre())
    streamed = []
    for i in range(0, len(order), 32):
        found = clf.classify_features(vectors[order[i:i + 32]])
        streamed += [c.label for c in found]
        clf.set_centre(clf.centre.update(vectors[order[i:i + 32]], [c.label for c in found]))
    clf.set_centre(clf.fresh_centre())
    print(f"  0 corrections/label, streamed in batches of 32 with the traffic centre learning: acc "
          f"{accuracy([gold[i] for i in order], streamed):.3f}")
    print(f"  embedding throughput while scoring the test set: {rate:.0f} texts/s")


def throughput(precision: str) -> None:
    clf = Classifier(load_label_set(), threads=2, precision=precision)
    texts = [r["text"] for r in read_csv(SUPPORT_SET)]
    texts = list(itertools.islice(itertools.cycle(texts), 256))
    clf.classify_texts(texts[:16])
    started = time.perf_counter()
    for text in texts[:64]:
        clf.classify_texts([text])
    single = 64 / (time.perf_counter() - started)
    started = time.perf_counter()
    for i in range(0, len(texts), 32):
        clf.classify_texts(texts[i:i + 32])
    batched = len(texts) / (time.perf_counter() - started)
    print(f"  classify, {precision}: batch 1 {single:6.1f} tickets/s   batch 32 (backlog) {batched:6.1f} tickets/s")


def urgency_quality(clf: Classifier) -> None:
    rows = read_csv(SUPPORT_SET)
    tiers = [TIERS.index(r["urgency"]) for r in rows]
    # As the model worker of a fresh install: the severity reads the embeddings the classifier made
    # (of the normalised text), around the classifier's traffic centre (here its anchors' alone).
    severities = SemanticSeverity(clf.encoder).of_vectors(clf.features([r["text"] for r in rows])[:, :clf.dim],
                                                          centre=clf.fresh_centre())
    scores = [score(Ticket.new(body=r["text"]), severity=float(v)).score for r, v in zip(rows, severities)]
    rule_only = [score(Ticket.new(body=r["text"])).score for r in rows]
    from smartsupport.config import Settings

    threshold = Settings().urgency_threshold
    halves = (range(0, len(rows), 2), range(1, len(rows), 2))
    print(f"\n== Urgency on the Billing/Technical/Legal set (threshold {threshold}) ==")
    even, odd = (_agreement(scores, tiers, half) for half in halves)
    alone = _agreement(rule_only, tiers, range(len(rows)))
    print(f"  pairwise ordering agreement {_agreement(scores, tiers, range(len(rows))):.3f} "
          f"(even rows {even:.3f}, odd rows {odd:.3f}; signals alone {alone:.3f})")
    fired = np.array(scores) >= threshold
    urgent = np.array(tiers) >= TIERS.index("high")
    tp = int((fired & urgent).sum())
    precision, recall = tp / max(fired.sum(), 1), tp / max(urgent.sum(), 1)
    print(f"  webhook for high+critical: precision {precision:.3f}  recall {recall:.3f}")
    for tier in TIERS:
        mask = np.array([TIERS[t] == tier for t in tiers])
        print(f"  {tier:<8} n={mask.sum():3d}  mean S {np.mean(np.array(scores)[mask]):.3f}  "
              f"webhook fired {fired[mask].mean():.1%}")


def _agreement(scores, tiers, rows) -> float:
    """Share of pairs from different tiers that the scores put in the right order."""
    agree = total = 0
    for i, j in itertools.combinations(list(rows), 2):
        if tiers[i] != tiers[j]:
            total += 1
            agree += (scores[i] - scores[j]) * (tiers[i] - tiers[j]) > 0
    return agree / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 600-query sample of Banking77, fp32 only")
    args = parser.parse_args()
    print(f"SmartSupport evaluation, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs")
    default = Classifier(load_label_set(), threads=2)
    support_set(default)
    urgency_quality(default)
    incident_quality(default.encoder)
    print("\n== Redaction (eval/data/redaction.jsonl, written for this set) ==")
    print("  " + redaction_text(redaction_quality()))
    language_quality()
    precisions = ("fp32",) if args.quick else ("fp32", "int8")
    for precision in precisions:
        clf = default if precision == "fp32" else Classifier(load_label_set(), threads=2, precision=precision)
        if outside_quality(clf, threshold=Settings().urgency_threshold) is None:
            break  # the sets are absent: said once is enough
    for precision in precisions:
        banking77(precision=precision, shots=(0, 1, 4, 8), sample=600 if args.quick else None)
    print("\n== Classification throughput (2 threads, Billing/Technical/Legal labels) ==")
    for precision in precisions:
        throughput(precision)


if __name__ == "__main__":
    main()
