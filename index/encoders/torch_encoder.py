"""The encoder on torch: the sentence-transformers model that turns passages and questions into vectors."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..settings import PACKAGED_MODEL
from .base import resolve_model
from .pooling import count_word_pieces, is_mean_pooling, length_batches, pool_batches, pool_spans, unit


class TorchEncoder:
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
            # Typed as Any: its outputs are tensors or dicts of them, by what is asked.
            loaded: Any = SentenceTransformer(location, device=device)
        except Exception as exc:  # the library raises many types for a bad name or folder
            raise ModelError(f"cannot load embedding model {model!r}: {exc}") from exc
        self._model = loaded
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
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
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
        outputs = self._model.encode(
            list(texts), batch_size=self.batch_size, output_value=None, convert_to_numpy=False, show_progress_bar=False
        )
        offsets = self._tokenizer(
            list(texts), return_offsets_mapping=True, truncation=True, max_length=self.max_tokens
        )["offset_mapping"]
        vectors = unit(np.stack([o["sentence_embedding"].float().cpu().numpy() for o in outputs]))
        pooled = []
        for output, text_offsets, text_spans, vector in zip(outputs, offsets, spans, vectors):
            positions = np.asarray(text_offsets, dtype=np.int64).reshape(-1, 2)
            tokens = output["token_embeddings"][: len(positions)].float().cpu().numpy()
            pooled.append(pool_spans(tokens, positions, text_spans, vector))
        return np.ascontiguousarray(vectors, dtype=np.float32), pooled

    def _encode_mean_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """`encode_with_spans` for mean-pooling models, batch by batch: one tokenization (with offsets)
        and the token vectors pooled as each batch comes, instead of kept for every text."""
        import torch

        transformer, device = self._model[0].auto_model, self._model.device

        def batches() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
            for chosen in length_batches(texts, self.batch_size):
                encoded = self._tokenizer(
                    [texts[i] for i in chosen],
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_offsets_mapping=True,
                    return_tensors="pt",
                )
                offsets = encoded.pop("offset_mapping").numpy()
                with torch.inference_mode():
                    tokens = transformer(**{k: v.to(device) for k, v in encoded.items()}).last_hidden_state
                yield chosen, tokens.float().cpu().numpy(), encoded["attention_mask"].numpy(), offsets

        return pool_batches(batches(), len(texts), self.dim, spans)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without the special tokens the model adds."""
        return count_word_pieces(self._tokenizer, texts)
