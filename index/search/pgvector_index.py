"""Dense search in PostgreSQL: pgvector over the chunks' vectors (index/storage/postgres.py).

The database is the index, so this derived index has nothing to apply or rebuild; it forgets what
it cached about the collection when a change arrives, and `save` (re)builds pgvector's index when the
collection has grown enough. Measured with `python tools/pg_vectors.py` (docs/performance.md), on
the passages `articlebot bench` searches: at 100,000 chunks pgvector's HNSW (m 16, ef_construction
64) found at most 0.78 of the exact top 50 even at ef_search 400 (7.4 ms): the many near-copies of
a passage, as news has them (one agency story run by many outlets), defeat its graph. IVFFlat with
√n lists found 0.974 scanning 20 lists (7.3 ms) and 0.989 scanning 40 (11.8 ms), where an exact scan
takes 57 ms. So: exact below EXACT_LIMIT chunks (an IVFFlat index needs rows to train its lists on),
IVFFlat above, rebuilt (concurrently, in the background) each time √n has doubled.

A search limited to some collections or dates is filtered after the lists are scanned, so it scans
more lists in proportion to the share it may keep, and scans its allowed rows exactly when they
are few or it still found too few.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from ..records import Change
from ..storage.base import Store
from ..storage.database import postgres_modules
from ..storage.postgres import WRITE_LOCK, PostgresStore
from .base import Selection, Selections, lists_for

#: Chunks up to which every search is exact (about 4 ms at 5,000 on this machine).
EXACT_LIMIT = 5_000
#: Lists scanned per query: PROBE_FACTOR · √lists, at least MIN_PROBES (36 of 316 at 100,000 chunks).
PROBE_FACTOR = 2.0
MIN_PROBES = 10
#: The index is rebuilt once the lists it should have (√chunks) reach this multiple of those it has.
REBUILD_GROWTH = 2.0
#: A limited search scans its allowed rows exactly when they are at most this share of all.
EXACT_SHARE = 0.1
#: Seconds between checks of the index another process may have built.
RECHECK_S = 30.0
#: pgvector's index over the chunks' vectors, and the lock of the process building it.
VECTOR_INDEX = "chunks_vector"
_BUILD_LOCK = WRITE_LOCK + 1


class PostgresVectorIndex:
    """The chunks' vectors in PostgreSQL, searched by cosine (the vectors are unit length)."""

    name: ClassVar[str] = "vectors"
    saves_each_change: ClassVar[bool] = False

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self._selections = Selections()
        self._count: int | None = None
        self._lists = self._stored_lists()
        self._checked = time.monotonic()
        self._building: threading.Thread | None = None

    def __len__(self) -> int:
        return self.store.count_chunks()

    @property
    def kind(self) -> str:
        """ "exact" or "ivfflat": how vectors are searched now."""
        return "ivfflat" if self._current_lists() else "exact"

    def _current_lists(self) -> int:
        if time.monotonic() - self._checked > RECHECK_S:  # another process may have (re)built it
            self._lists, self._checked = self._stored_lists(), time.monotonic()
        return self._lists

    def apply(self, change: Change) -> None:
        """The database already holds the change; what was cached about the collection is stale."""
        self._selections.clear()
        self._count = None

    def save(self) -> None:
        """Nothing to write, but an IVFFlat index is built once the collection is large enough, and
        rebuilt as it grows; in the background, since it takes seconds (6 s at 100,000 chunks)."""
        count = self.store.count_chunks()
        wanted = lists_for(count) if count > EXACT_LIMIT else 0
        if not wanted or (self._lists and wanted < REBUILD_GROWTH * self._lists):
            return
        if self._building is not None and self._building.is_alive():
            return
        self._building = threading.Thread(target=self._build, args=(wanted,), name="articlebot-ivfflat", daemon=True)
        self._building.start()

    def _build(self, lists: int) -> None:
        self._build_index(lists)
        self._lists, self._checked = self._stored_lists(), time.monotonic()

    def wait_for_build(self, timeout: float | None = None) -> None:
        """Wait for a build `save` started."""
        if self._building is not None:
            self._building.join(timeout)

    def close(self) -> None:
        """Let a build finish: a process that added articles and exits (`articlebot ingest`) leaves the
        index built."""
        self.wait_for_build()

    def rebuild(self, store: Store) -> None:
        self.apply(Change(np.zeros(0, dtype=np.int64)))

    def allowed(self, collections: Sequence[str] | None, since: str = "") -> Selection | None:
        """The chunks of these collections' articles (published since `since`), read once per change;
        None for every chunk."""
        return self._selections.get(self.store, collections, since)

    def search(
        self, query: np.ndarray, k: int, collections: Sequence[str] | None = None, since: str = ""
    ) -> list[tuple[int, float]]:
        """The `k` chunks (of `collections` if given, published since `since`) whose vectors are nearest
        `query`, as (id, cosine)."""
        lists = self._current_lists()
        if k <= 0:
            return []
        probes = min(lists, max(MIN_PROBES, math.ceil(PROBE_FACTOR * math.sqrt(lists)))) if lists else 0
        allowed = self.allowed(collections, since)
        if allowed is None:
            return self._nearest(query, k, None, "", probes, exact=not lists)
        if not len(allowed):
            return []
        if self._count is None:
            self._count = self.store.count_chunks()
        share = len(allowed) / max(self._count, 1)
        if not lists or len(allowed) <= EXACT_LIMIT or share <= EXACT_SHARE:
            return self._nearest(query, k, collections, since, 1, exact=True)
        hits = self._nearest(query, k, collections, since, min(lists, math.ceil(probes / share)), exact=False)
        if len(hits) < min(k, len(allowed)):
            return self._nearest(query, k, collections, since, 1, exact=True)
        return hits

    def stored_vectors(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(those of these ids the database still holds, in order, and their vectors): another process may
        have removed chunks that this process's BM25 index, not yet following, still returns."""
        return self.store.stored_vectors(ids)

    # -- pgvector's SQL ---------------------------------------------------------------------------

    def _stored_lists(self) -> int:
        """The lists of the IVFFlat index over the chunks' vectors; 0 if there is none (searches are exact)."""
        row = self.store.db.one(
            "SELECT c.reloptions FROM pg_class c WHERE c.relname = ? AND c.relkind = 'i'", (VECTOR_INDEX,)
        )
        options = dict(o.split("=", 1) for o in (row[0] or [])) if row else {}
        return int(options.get("lists", 0)) if row else 0

    def _build_index(self, lists: int) -> bool:
        """(Re)build the IVFFlat index with `lists` lists, trained on the vectors stored now, without
        blocking reads or writes (CREATE INDEX CONCURRENTLY, then a swap); False if another process
        is building it already."""
        psycopg, _, _ = postgres_modules()
        # A connection of its own, not the pool's: a build takes seconds to minutes, and holds a session lock.
        with psycopg.connect(self.store.db.url, autocommit=True, connect_timeout=10) as db:
            if not db.execute("SELECT pg_try_advisory_lock(%s)", (_BUILD_LOCK,)).fetchone()[0]:
                return False
            try:
                db.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}_new")  # left by a build that was interrupted
                db.execute("SET maintenance_work_mem = '512MB'")  # the k-means of the lists runs in memory
                # Inner product: the vectors are unit length, so it ranks as cosine does.
                db.execute(
                    f"CREATE INDEX CONCURRENTLY {VECTOR_INDEX}_new ON chunks USING ivfflat (vector vector_ip_ops) "
                    f"WITH (lists = {int(lists)})"
                )
                with db.transaction():
                    db.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
                    db.execute(f"ALTER INDEX {VECTOR_INDEX}_new RENAME TO {VECTOR_INDEX}")
            finally:
                db.execute("SELECT pg_advisory_unlock(%s)", (_BUILD_LOCK,))
        return True

    def _nearest(
        self, query: np.ndarray, k: int, collections: Sequence[str] | None, since: str, probes: int, exact: bool
    ) -> list[tuple[int, float]]:
        """The `k` chunks (of `collections`, published since `since`) with the largest inner product with
        `query`, as (id, inner product): by the IVFFlat index scanning `probes` lists, or `exact`ly."""
        where, args = self.store.articles_where(collections, since)
        join = "JOIN articles a ON a.id = c.article_id" if where else ""
        # `+ 0` hides the ordering from the vector index, so that the planner sorts every allowed row.
        order = "(c.vector <#> ?) + 0" if exact else "c.vector <#> ?"
        vector = np.asarray(query, dtype=np.float32)
        with self.store.db.transaction():
            self.store.db.change(f"SET LOCAL ivfflat.probes = {max(1, int(probes))}")
            rows = self.store.db.rows(
                f"SELECT c.id, -(c.vector <#> ?) FROM chunks c {join} {where} ORDER BY {order} LIMIT ?",
                (vector, *args, vector, int(k)),
            )
        return [(int(i), float(s)) for i, s in rows]
