"""Dense search in PostgreSQL: pgvector's HNSW index over the chunks' vectors (index/pg_store.py).

The database is the index, so this derived index has nothing to apply, save or rebuild: it only
forgets what it cached about the collection when a change arrives. HNSW (not IVFFlat) because it
needs no training on the data (an IVFFlat index built on an empty or young table keeps poor lists
as the collection grows) and keeps its recall as rows are added and deleted. pgvector filters a
limited search (a server's collections, `since`) after the HNSW walk, so such a search asks the
walk for more candidates in proportion to the share it may keep, and falls back to an exact scan
of the allowed rows when that share is small or the walk still brings too few.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from .derived import Change
from .pg_store import PgStore
from .vectors import Selection

#: Candidates the HNSW walk keeps per result asked for (pgvector's `hnsw.ef_search`), at least
#: MIN_EF_SEARCH: chosen by `tools/pg_vectors.py` for a recall of the top 50 against exact search
#: of 0.98 or more (docs/performance.md).
EF_PER_RESULT = 4
MIN_EF_SEARCH = 100
#: pgvector's ceiling for hnsw.ef_search.
MAX_EF_SEARCH = 1000
#: A limited search scans its allowed rows exactly when they are at most this many, or this share of all.
EXACT_ROWS = 20_000
EXACT_SHARE = 0.1


class PgVectorIndex:
    """The chunks' vectors in PostgreSQL, searched by cosine (the vectors are unit length)."""

    name: ClassVar[str] = "vectors"
    saves_each_change: ClassVar[bool] = False
    kind = "hnsw"

    def __init__(self, store: PgStore) -> None:
        self.store = store
        self._selections: dict[tuple[tuple[str, ...] | None, str], Selection] = {}
        self._count: int | None = None

    def __len__(self) -> int:
        return self.store.count_chunks()

    def apply(self, change: Change) -> None:
        """The database already holds the change; what was cached about the collection is stale."""
        self._selections.clear()
        self._count = None

    def save(self) -> None:
        """Nothing to write: the database is the index."""

    def rebuild(self, store: PgStore) -> None:
        self.apply(Change(np.zeros(0, dtype=np.int64)))

    def allowed(self, collections: Sequence[str] | None, since: str = "") -> Selection | None:
        """The chunks of these collections' articles (published since `since`), read once per change;
        None for every chunk."""
        if collections is None and not since:
            return None
        key = (tuple(collections) if collections is not None else None, since)
        if key not in self._selections:
            self._selections[key] = Selection(self.store.chunk_ids(key[0], since))
        return self._selections[key]

    def search(self, query: np.ndarray, k: int, collections: Sequence[str] | None = None,
               since: str = "") -> list[tuple[int, float]]:
        """The `k` chunks (of `collections` if given, published since `since`) whose vectors are nearest
        `query`, as (id, cosine)."""
        if k <= 0:
            return []
        ef = min(MAX_EF_SEARCH, max(MIN_EF_SEARCH, EF_PER_RESULT * k))
        allowed = self.allowed(collections, since)
        if allowed is None:
            return self.store.nearest(query, k, None, "", ef, exact=False)
        if not len(allowed):
            return []
        if self._count is None:
            self._count = self.store.count_chunks()
        share = len(allowed) / max(self._count, 1)
        if len(allowed) <= EXACT_ROWS or share <= EXACT_SHARE:
            return self.store.nearest(query, k, collections, since, ef, exact=True)
        hits = self.store.nearest(query, k, collections, since, min(MAX_EF_SEARCH, math.ceil(ef / share)), exact=False)
        if len(hits) < min(k, len(allowed)):
            return self.store.nearest(query, k, collections, since, ef, exact=True)
        return hits

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The vectors of these chunk ids, in order; missing ids are an error."""
        return self.store.vectors_of(ids)
