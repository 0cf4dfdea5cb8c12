"""Classification speed: the product's default classifier against the seed design's bart-large-mnli.

Nothing can be downloaded here, so the bart-large-mnli stand-in has the public model's shape and
random weights (speed does not depend on the weights) and borrows the packaged MiniLM's WordPiece
tokenizer. It runs through the product's own ``nli`` code path (transformers' zero-shot pipeline).
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Sequence

THREADS = 2
#: facebook/bart-large-mnli's published sizes.
BART_LARGE_MNLI = dict(vocab_size=50265, d_model=1024, encoder_layers=12, decoder_layers=12,
                       encoder_attention_heads=16, decoder_attention_heads=16, encoder_ffn_dim=4096,
                       decoder_ffn_dim=4096, max_position_embeddings=1024, num_labels=3,
                       id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
                       label2id={"contradiction": 0, "neutral": 1, "entailment": 2})


def _per_second(classify, texts: Sequence[str], batch: int, max_s: float) -> dict:
    """Tickets classified, tickets per second overall and in the fastest batch (the least disturbed
    by other work on the machine), classifying ``texts`` in batches of ``batch``; stops early after
    ``max_s`` seconds (a noisy machine can make a pass very slow)."""
    start, done, best = time.perf_counter(), 0, 0.0
    for i in range(0, len(texts), batch):
        began = time.perf_counter()
        n = len(classify(list(texts[i:i + batch])))
        done, best = done + n, max(best, n / (time.perf_counter() - began))
        if time.perf_counter() - start > max_s:
            break
    return {"tickets": done, "per_s": round(done / (time.perf_counter() - start), 2), "best_per_s": round(best, 2)}


def default_classifier(texts: Sequence[str], *, max_s: float, n_batched: int = 256, n_single: int = 64) -> dict:
    """The product's default (embedding) classifier, at batch 32 and at batch 1, in about ``max_s``
    seconds of timed work at most (split 4:3)."""
    from smartsupport.classify import Classifier
    from smartsupport.config import Settings
    from smartsupport.labels import load_label_set

    start = time.perf_counter()
    # The product's default precision (Settings), on the same threads as the baseline below.
    clf = Classifier(load_label_set(), threads=THREADS, precision=Settings().model_precision)
    load_s = time.perf_counter() - start
    clf.classify_texts(list(texts[:32]))  # warm-up
    return {"model": clf.model_name, "load_s": round(load_s, 1), "precision": clf.encoder.precision,
            "precision_reason": clf.encoder.precision_reason,
            "batch32": _per_second(clf.classify_texts, _cycle(texts, n_batched), 32, max_s=max_s * 4 / 7),
            "batch1": _per_second(clf.classify_texts, _cycle(texts, n_single), 1, max_s=max_s * 3 / 7)}


def precisions(texts: Sequence[str], *, max_s: float) -> dict:
    """Each precision forced, at batch 32 (64 tickets) and batch 1 (16 tickets), at most ``max_s``
    seconds of timed work each: what ``auto`` chose between, on this CPU today."""
    import torch

    from smartsupport.classify import Classifier
    from smartsupport.labels import load_label_set

    out = {"cpu_capability": torch.backends.cpu.get_cpu_capability()}
    for precision in ("fp32", "int8"):
        clf = Classifier(load_label_set(), threads=THREADS, precision=precision)
        clf.classify_texts(list(texts[:4]))  # warm-up
        out[precision] = {"batch32": _per_second(clf.classify_texts, _cycle(texts, 64), 32, max_s=max_s / 2),
                          "batch1": _per_second(clf.classify_texts, _cycle(texts, 16), 1, max_s=max_s / 2)}
        del clf
        gc.collect()
    return out


def _cycle(texts: Sequence[str], n: int) -> list[str]:
    return [texts[i % len(texts)] for i in range(n)]


def save_random_bart(folder: Path) -> None:
    """A bart-large-mnli-shaped classifier with random weights, and a tokenizer Bart can use, in ``folder``."""
    from transformers import AutoTokenizer, BartConfig, BartForSequenceClassification

    from smartsupport.models import default_embedding_model

    # No token_type_ids (Bart takes none); [SEP] plays eos so the head finds the same eos count per row.
    tokenizer = AutoTokenizer.from_pretrained(default_embedding_model(),
                                              model_input_names=["input_ids", "attention_mask"])
    config = BartConfig(**BART_LARGE_MNLI, eos_token_id=tokenizer.sep_token_id, pad_token_id=tokenizer.pad_token_id)
    model = BartForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    del model
    gc.collect()


def bart_nli(texts: Sequence[str], folder: Path, *, max_s: float, n: int = 12) -> dict:
    """Tickets per second of the random-weight bart-large-mnli through Classifier(backend="nli")."""
    import torch
    from transformers.utils import logging as hf_logging

    from smartsupport import models
    from smartsupport.classify import Classifier
    from smartsupport.labels import load_label_set

    hf_logging.disable_progress_bar()
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    save_random_bart(folder)
    clf = Classifier(load_label_set(), backend="nli", model=str(folder), threads=THREADS)
    prepare_s = time.perf_counter() - start
    try:
        clf.classify_texts(list(texts[:1]))  # warm-up
        return {"params_m": round(sum(p.numel() for p in clf.nli.pipe.model.parameters()) / 1e6, 1),
                "labels": len(clf.names), "prepare_s": round(prepare_s, 1),
                **_per_second(clf.classify_texts, _cycle(texts, n), 1, max_s)}
    finally:
        del clf
        models.nli_model.cache_clear()  # the only other reference to the ~1.6 GB model
        gc.collect()
