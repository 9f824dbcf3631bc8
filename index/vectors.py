"""The FAISS index over chunk vectors: exact below a size limit, an inverted file (IVF) above it.

Exact search costs time in proportion to the collection and keeps every vector as float32; above
`EXACT_LIMIT` chunks an IVF index with float16 codes scans only the lists nearest the query, at
half the memory, at a recall@10 against exact search of 0.98 or more (see `articlebot bench`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Literal

import numpy as np

#: Chunks up to which search is exact (flat inner product).
EXACT_LIMIT = 100_000
#: IVF lists scanned per query: PROBE_FACTOR · √lists (at least MIN_PROBES), for a recall@10
#: against exact search of at least 0.98 (`articlebot bench`): 45 of 316 lists at 100,000 chunks,
#: 80 of 1,000 at 1,000,000.
PROBE_FACTOR = 2.5
MIN_PROBES = 16
#: Training points per IVF list (FAISS warns below 39).
TRAINING_PER_LIST = 40
Kind = Literal["exact", "ivf"]


class Selection:
    """Chunk ids a search is limited to, with the FAISS selector built once for repeated searches."""

    def __init__(self, ids: np.ndarray) -> None:
        import faiss

        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self.selector = faiss.IDSelectorBatch(self.ids) if len(self.ids) else None

    def __len__(self) -> int:
        return len(self.ids)


def lists_for(count: int) -> int:
    """IVF lists for `count` vectors: about √count, so a list and the list centroids cost alike to scan."""
    return int(min(65536, max(16, round(math.sqrt(count)))))


class VectorIndex:
    """Chunk vectors by id, searched by inner product (the vectors are unit length: cosine)."""

    def __init__(self, index) -> None:  # index: faiss.Index with ids (IndexIDMap2 or IndexIVF)
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
            if self._ivf.direct_map.type != faiss.DirectMap.Hashtable:
                # Vectors by id (`vectors`), for the candidates that only the lexical side found.
                self._ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            self.nprobe = min(self._ivf.nlist, max(MIN_PROBES, math.ceil(PROBE_FACTOR * math.sqrt(self._ivf.nlist))))
            # One question at a time: spread its lists over the cores rather than the (single) query.
            self._ivf.parallel_mode = 1

    @classmethod
    def exact(cls, dim: int) -> VectorIndex:
        import faiss

        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)))

    @classmethod
    def ivf(cls, dim: int, training: np.ndarray, lists: int) -> VectorIndex:
        """An empty IVF index (float16 codes) whose lists are trained on `training` vectors."""
        import faiss

        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFScalarQuantizer(quantizer, dim, lists, faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(training, dtype=np.float32))
        built = cls(index)
        built._quantizer = quantizer  # the IVF index points at it; keep it alive as long as the index
        return built

    @classmethod
    def deserialize(cls, data: np.ndarray) -> VectorIndex:
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

    def add_batches(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> VectorIndex:
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
            params = faiss.SearchParametersIVF(sel=selector, nprobe=probes) if selector else faiss.SearchParametersIVF(nprobe=probes)
        else:
            params = faiss.SearchParameters(sel=selector) if selector else None
        faiss.omp_set_num_threads(self._threads)
        scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), min(k, self.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
