"""Fusing the dense and lexical scores of candidate passages into one ranking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

Mode = Literal["bm25", "dense", "fused", "hybrid"]
#: bm25 and dense alone; fused: their weighted sum; hybrid: fused, then re-ranked by the best
#: sentence of each passage (index/answer/retrieval.py).
MODES: tuple[Mode, ...] = ("bm25", "dense", "fused", "hybrid")
#: Weight of the dense cosine against normalised BM25 (both in [0, ~1]) in fused and hybrid mode.
DENSE_WEIGHT = 0.4


class Hit(NamedTuple):
    """A candidate chunk with its ranking score and the two scores it came from."""

    chunk_id: int
    score: float
    dense: float
    lexical: float


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def fuse(
    dense: Mapping[int, float], lexical: Mapping[int, float], mode: Mode, k: int, dense_weight: float = DENSE_WEIGHT
) -> list[Hit]:
    """The best `k` of the candidates, best first. Every candidate has a dense score (both sides'
    candidates are scored by cosine); one without a lexical score holds none of the query's terms."""
    ids = sorted(dense)
    cosines = [dense[i] for i in ids]
    bm25s = [lexical.get(i, 0.0) for i in ids]
    if mode == "dense":
        scores = cosines
    elif mode == "bm25":
        scores = bm25s
    else:  # fused, hybrid
        scores = [dense_weight * c + (1 - dense_weight) * b for c, b in zip(cosines, bm25s)]
    hits = sorted(map(Hit, ids, scores, cosines, bm25s), key=lambda h: -h.score)
    return hits[:k]
