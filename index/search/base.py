"""What the index needs of its vector search, whichever it is (`FaissVectorIndex` in the folder,
`PostgresVectorIndex` in the shared database): a derived index that finds the chunks nearest a question,
limited to the chunks a search may see (`Selection`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from ..storage.derived import DerivedIndex

if TYPE_CHECKING:
    from ..storage.base import Store


class Selection:
    """Chunk ids a search is limited to, with the FAISS selector built once for repeated searches."""

    def __init__(self, ids: np.ndarray) -> None:
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._selector: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def selector(self) -> Any:  # faiss.IDSelectorBatch | None
        if self._selector is None and len(self.ids):
            import faiss

            self._selector = faiss.IDSelectorBatch(self.ids)
        return self._selector


class Selections:
    """The chunks a search may return, per (collections, since), read from the database once per change
    (a vector index clears them when it applies one)."""

    def __init__(self) -> None:
        self._cached: dict[tuple[tuple[str, ...] | None, str], Selection] = {}

    def get(self, store: Store, collections: Sequence[str] | None, since: str = "") -> Selection | None:
        """None for every chunk."""
        if collections is None and not since:
            return None
        key = (tuple(collections) if collections is not None else None, since)
        if key not in self._cached:
            self._cached[key] = Selection(store.chunk_ids(key[0], since))
        return self._cached[key]

    def clear(self) -> None:
        self._cached.clear()


def lists_for(count: int) -> int:
    """IVF lists for `count` vectors: about √count, so a list and the list centroids cost alike to scan."""
    return int(min(65536, max(16, round(math.sqrt(count)))))


class VectorIndex(DerivedIndex, Protocol):
    """The chunks' vectors, searched by cosine, kept in step with the database."""

    @property
    def kind(self) -> str:
        """How vectors are searched now ("exact", or the approximate index's name)."""
        ...

    def allowed(self, collections: Sequence[str] | None, since: str = "") -> Selection | None:
        """The chunks of these collections' articles (published since `since`); None for every chunk."""
        ...

    def search(
        self, query: np.ndarray, k: int, collections: Sequence[str] | None = None, since: str = ""
    ) -> list[tuple[int, float]]:
        """The `k` chunk ids nearest `query` (with their cosine), of these collections' articles
        published since `since`."""
        ...

    def stored_vectors(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(the ids it holds of these, their vectors)."""
        ...

    def close(self) -> None:
        """Stop what runs in the background."""
        ...
