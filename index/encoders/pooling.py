"""Pooling token vectors into text and span vectors: shared by both encoder backends so that they agree."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


def count_word_pieces(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Word pieces of each text by a Hugging Face tokenizer, without the special tokens."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False, truncation=False)["input_ids"]]


def length_batches(texts: Sequence[str], size: int) -> Iterator[np.ndarray]:
    """Positions of `texts` in batches of `size`, longest first, as sentence-transformers does:
    batches of similar lengths waste little padding."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    for start in range(0, len(texts), size):
        yield order[start : start + size]


def mean_pool(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit mean of each text's token vectors over its real (unpadded) tokens, as the Pooling layer does."""
    weights = mask[..., None].astype(np.float32)
    return unit((tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9))


def pool_batches(
    batches: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    count: int,
    dim: int,
    spans: Sequence[Sequence[tuple[int, int]]],
) -> tuple[np.ndarray, list[np.ndarray]]:
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


def is_mean_pooling(model: Any) -> bool:  # model: SentenceTransformer
    """Whether a sentence-transformers model is a transformer, mean pooling and at most normalisation."""
    layers = [type(m).__name__ for m in model]
    pooling = model[1].get_config_dict() if len(model) > 1 and layers[1] == "Pooling" else {}
    mean = pooling.get("pooling_mode") == "mean" or bool(
        pooling.get("pooling_mode_mean_tokens")
        and not any(v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")
    )
    return bool(layers) and layers[0] == "Transformer" and mean and all(name == "Normalize" for name in layers[2:])


def pool_spans(
    tokens: np.ndarray, positions: np.ndarray, spans: Sequence[tuple[int, int]], vector: np.ndarray
) -> np.ndarray:
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
    return unit(np.asarray(rows, dtype=np.float32).reshape(-1, tokens.shape[1]))


def unit(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
