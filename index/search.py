"""Hybrid retrieval: dense (FAISS) and lexical (BM25) candidates, fused on comparable scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from .lexical import LexicalIndex
from .store import Store
from .vectors import Selection

Mode = Literal["bm25", "dense", "fused", "hybrid"]
#: bm25 and dense alone; fused: their weighted sum; hybrid: fused, then re-ranked by the best
#: sentence of each passage (done by ArticleIndex, which has the sentence vectors).
MODES: tuple[Mode, ...] = ("bm25", "dense", "fused", "hybrid")
#: Weight of the dense cosine against normalised BM25 in hybrid mode.
DENSE_WEIGHT = 0.4
#: Candidates each side contributes before fusion.
CANDIDATES = 50


def retrieve(store: Store, lexical: LexicalIndex, query_vector: np.ndarray, query_terms: Sequence[str],
             k: int, mode: Mode = "hybrid", dense_weight: float | None = None, candidates: int | None = None,
             collections: Sequence[str] | None = None, allowed: Selection | None = None) -> list[tuple[int, float, float, float]]:
    """The best `k` chunks for a query as (chunk id, score, dense, lexical), best first.

    `collections` limits the search to those collections' chunks, and `allowed` (their chunk ids)
    says the same to the vector index.

    Both sides score every candidate either side found, so a chunk found only by BM25 still
    gets its true cosine (and the other way round) before the weighted sum.
    """
    if mode not in MODES:
        raise ValueError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    dense_weight = DENSE_WEIGHT if dense_weight is None else dense_weight
    pool = max(k, candidates or CANDIDATES)
    dense_hits = dict(store.search(query_vector, pool, allowed)) if mode != "bm25" else {}
    lexical_hits = dict(lexical.top(query_terms, pool, collections)) if mode != "dense" else {}
    ids = sorted(set(dense_hits) | set(lexical_hits))
    if not ids:
        return []
    missing = [i for i in ids if i not in dense_hits]
    if missing:
        dense_hits.update(zip(missing, (store.indexed_vectors(missing) @ query_vector).tolist()))
    # BM25 is scored in every mode: the quote model reads it as evidence whatever ranked the passages.
    missing = [i for i in ids if i not in lexical_hits]
    if missing:
        lexical_hits.update(lexical.scores(query_terms, missing))
    results = []
    for chunk_id in ids:
        dense, lex = dense_hits[chunk_id], lexical_hits.get(chunk_id, 0.0)
        score = {"dense": dense, "bm25": lex}.get(mode, dense_weight * dense + (1 - dense_weight) * lex)  # fused
        results.append((chunk_id, score, dense, lex))
    results.sort(key=lambda r: -r[1])
    return results[:k]
