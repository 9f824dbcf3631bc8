"""The vector index over chunk vectors, in FAISS: exact below a size limit, an inverted file (IVF) above it.

Exact search costs time in proportion to the collection and keeps every vector as float32; above
the limit (the `exact_limit` setting) an IVF index with float16 codes scans only the lists nearest
the query, at half the memory, at a recall@10 against exact search of 0.98 or more (see
`articlebot bench`). It is one of the derived indexes (index/storage/derived.py): saved as one file by
`ArticleIndex.save`, rebuilt from the database when that file is behind it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from ..records import Change
from ..storage.files import atomic_write
from .base import Selection, Selections, lists_for

if TYPE_CHECKING:
    from ..storage.base import Store

FILE_NAME = "vectors.faiss"
#: IVF lists scanned per query: PROBE_FACTOR · √lists (at least MIN_PROBES), for a recall@10
#: against exact search of at least 0.98 (`articlebot bench`): 45 of 316 lists at 100,000 chunks,
#: 80 of 1,000 at 1,000,000.
PROBE_FACTOR = 2.5
MIN_PROBES = 16
#: Training points per IVF list (FAISS warns below 39).
TRAINING_PER_LIST = 40
Kind = Literal["exact", "ivf"]


class FaissIndex:
    """Chunk vectors by id in one FAISS index, searched by inner product (the vectors are unit length: cosine)."""

    #: An IVF index's coarse quantiser, which the index points at: kept alive as long as the index.
    _quantizer: Any

    def __init__(self, index: Any) -> None:  # faiss.Index with ids (IndexIDMap2 or IndexIVF)
        import faiss

        self._faiss = faiss
        self._index = index
        self.kind: Kind = "ivf" if isinstance(faiss.try_extract_index_ivf(index), faiss.IndexIVF) else "exact"
        # An exact search of one question over 100,000 vectors or fewer takes about a millisecond on one
        # core; a second OpenMP thread costs more to wake than it saves (10 ms against 1.3 ms at 11,000
        # vectors when the other core is busy). An IVF scan is longer and spreads its lists over the cores.
        self._threads = 1 if self.kind == "exact" else (os.cpu_count() or 1)
        if self.kind == "ivf":
            self._ivf = faiss.extract_index_ivf(index)
            if self._ivf.direct_map.type != faiss.DirectMap.Hashtable:  # type: ignore[attr-defined]  # missing from faiss's stubs
                # Vectors by id (`vectors`), for the candidates that only the lexical side found.
                self._ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # type: ignore[attr-defined]
            self.nprobe = min(self._ivf.nlist, max(MIN_PROBES, math.ceil(PROBE_FACTOR * math.sqrt(self._ivf.nlist))))
            # One question at a time: spread its lists over the cores rather than the (single) query.
            self._ivf.parallel_mode = 1

    @classmethod
    def exact(cls, dim: int) -> FaissIndex:
        import faiss

        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def ivf(cls, dim: int, training: np.ndarray, lists: int) -> FaissIndex:
        """An empty IVF index (float16 codes) whose lists are trained on `training` vectors."""
        import faiss

        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        index.train(np.ascontiguousarray(training, dtype=np.float32))
        built = cls(index)
        built._quantizer = quantizer  # the IVF index points at it; keep it alive as long as the index
        return built

    @classmethod
    def deserialize(cls, data: np.ndarray) -> FaissIndex:
        import faiss

        return cls(faiss.deserialize_index(data))

    def serialize(self) -> np.ndarray:
        return self._faiss.serialize_index(self._index)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def add_batches(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> FaissIndex:
        for ids, vectors in batches:
            self.add(vectors, ids)
        return self

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of these ids (each must be present), as stored: exact, or decoded from the IVF's float16 codes."""
        if not len(ids):
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, allowed: Selection | None = None) -> list[tuple[int, float]]:
        """The `k` ids with the largest inner product with `query`, limited to `allowed` if given."""
        if self.ntotal == 0 or k <= 0 or (allowed is not None and not len(allowed)):
            return []
        faiss = self._faiss
        if allowed is not None and len(allowed) >= self.ntotal:
            allowed = None  # every chunk is allowed: skip the per-vector check
        selector = allowed.selector if allowed is not None else None
        if self.kind == "ivf":
            # A search limited to a small share of the chunks probes more lists to find as many.
            share = len(allowed) / self.ntotal if allowed is not None else 1.0
            probes = min(self._ivf.nlist, math.ceil(self.nprobe / max(share, 1e-9)))
            params = (
                faiss.SearchParametersIVF(sel=selector, nprobe=probes)
                if selector
                else faiss.SearchParametersIVF(nprobe=probes)
            )
        else:
            params = faiss.SearchParameters(sel=selector) if selector else None
        faiss.omp_set_num_threads(self._threads)
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), min(k, self.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


class FaissVectorIndex:
    """The chunks' vectors, searched by cosine, kept in step with the database (a derived index)."""

    name: ClassVar[str] = "vectors"
    saves_each_change: ClassVar[bool] = False

    def __init__(self, folder: Path, store: Store, exact_limit: int) -> None:
        """Load the saved index in `folder` (empty if there is none or it cannot be read)."""
        import faiss

        self.folder = Path(folder)
        self.store = store
        self.exact_limit = exact_limit
        self._selections = Selections()
        self._index = FaissIndex.exact(store.dim)
        path = self.folder / FILE_NAME
        if path.exists():
            try:
                saved = FaissIndex(faiss.read_index(str(path)))
                if saved.dim == store.dim:
                    self._index = saved
            except RuntimeError:
                pass  # a damaged file: empty, so that the count check has it rebuilt

    def __len__(self) -> int:
        return self._index.ntotal

    @property
    def kind(self) -> Kind:
        """ "exact" or "ivf": how vectors are searched now."""
        return self._index.kind

    def apply(self, change: Change) -> None:
        if len(change.removed):
            self._index.remove(change.removed)
        if len(change.added):
            self._index.add(change.vectors, change.added)
        self._selections.clear()

    def save(self) -> None:
        """Write the index as one file, atomically; an exact index grown past the limit becomes IVF first."""
        if self._index.kind == "exact" and self._index.ntotal >= self.exact_limit:
            self.rebuild(self.store)
        atomic_write(self.folder / FILE_NAME, self._index.serialize().tobytes())
        for old in self.folder.glob("vectors.*.faiss"):  # the per-generation files of older versions
            if old.name != FILE_NAME:
                old.unlink(missing_ok=True)

    def rebuild(self, store: Store) -> None:
        """From the database's vectors: exact below the limit, IVF trained on a sample above it."""
        count = store.count_chunks()
        if count < self.exact_limit:
            self._index = FaissIndex.exact(store.dim).add_batches(store.vector_batches())
        else:
            lists = lists_for(count)
            ids = store.chunk_ids()
            sample = np.random.default_rng(0).choice(ids, min(count, lists * TRAINING_PER_LIST), replace=False)
            training = np.concatenate([vectors for _, vectors in store.vector_batches(sample)])
            self._index = FaissIndex.ivf(store.dim, training, lists).add_batches(store.vector_batches())
        self._selections.clear()

    def allowed(self, collections: Sequence[str] | None, since: str = "") -> Selection | None:
        """The chunks of these collections' articles (published since `since`), read once per change
        of the index; None for every chunk."""
        return self._selections.get(self.store, collections, since)

    def search(
        self, query: np.ndarray, k: int, collections: Sequence[str] | None = None, since: str = ""
    ) -> list[tuple[int, float]]:
        """The `k` chunks (of `collections` if given, published since `since`) whose vectors are nearest
        `query`, as (id, cosine)."""
        return self._index.search(query, k, self.allowed(collections, since))

    def close(self) -> None:
        """Nothing runs in the background."""

    def vectors(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The vectors of these chunk ids as the index holds them (float16 precision once it is IVF),
        in order; missing ids are an error."""
        return self._index.vectors(np.asarray(ids, dtype=np.int64))

    def stored_vectors(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(the ids, their vectors): this index holds every chunk the database does."""
        held = np.asarray(ids, dtype=np.int64)
        return held, self.vectors(held)
