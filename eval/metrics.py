"""Classification and calibration metrics (numpy only)."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    return float(np.mean([g == p for g, p in zip(gold, predicted)])) if gold else 0.0


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    scores = []
    for label in sorted(set(gold)):
        tp = sum(g == label and p == label for g, p in zip(gold, predicted))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def top_confusions(gold: Sequence[str], predicted: Sequence[str], *, n: int = 5) -> list[tuple[str, str, int]]:
    counts = Counter((g, p) for g, p in zip(gold, predicted) if g != p)
    return [(g, p, c) for (g, p), c in counts.most_common(n)]


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 15) -> float:
    """Mean gap between confidence and accuracy over equal-width confidence bins, weighted by size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        mask = (confidence > low) & (confidence <= high)
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def fit_temperature(similarities: np.ndarray, gold_index: np.ndarray) -> float:
    """The softmax temperature that minimises the negative log-likelihood of the gold labels."""
    best_t, best_nll = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.003), np.log(1.0), 200)):
        z = similarities / t
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll = -log_p[np.arange(len(gold_index)), gold_index].mean()
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def concordance(scores: Sequence[float], tiers: Sequence[int]) -> float:
    """Share of pairs from different tiers that the scores put in the right order (a tie in score
    counts as wrong), as ``eval.run._agreement``; vectorised, for sets of thousands."""
    s, t = np.asarray(scores, dtype=np.float64), np.asarray(tiers)
    pairs = t[:, None] > t[None, :]
    return float((s[:, None] > s[None, :])[pairs].mean()) if pairs.any() else float("nan")
