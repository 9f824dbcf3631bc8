"""The article store in PostgreSQL (ARTICLEBOT_DATABASE_URL), for an index several processes share
(index/storage/sql_store.py has the SQL): what PostgreSQL does its own way.

Chunks keep their vectors in a pgvector column, which index/search/pgvector_index.py searches. Every
add or remove also appends a row to the `changes` log and NOTIFYs the other processes (`CHANNEL`);
each process follows that log to keep its own derived indexes (BM25 in tantivy: PostgreSQL's ts_rank
is not BM25 and ranks worse, see docs/performance.md) in step. Writers take one advisory lock, so
generations and chunk ids commit in the order they are given: a follower reading "after generation
g" never skips a change committed late. The generations each derived index was saved at are this
process's own (its index folder), kept in a file there, since the database is shared.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..errors import StoreError
from ..records import Change
from ..settings import Settings
from .database import PostgresDatabase, postgres_modules, redact
from .files import atomic_write
from .sql_store import SCHEMA, SQLStore

log = logging.getLogger(__name__)

#: The channel changes are announced on; the payload is the new generation.
CHANNEL = "articlebot_changes"
#: The advisory lock writers hold for their transaction: any fixed number.
WRITE_LOCK = 0x61727469636C65
#: The derived indexes' saved generations, in the process's own index folder.
GENERATIONS_FILE = "generations.json"
#: Changes kept in the log; a process further behind than this rebuilds from the tables instead.
KEPT_CHANGES = 100_000
#: Seconds between the listener's checks that its index is closing.
_STOP_POLL_S = 0.2

#: What PostgreSQL holds beside the shared tables: the chunk ids' sequence and the change log.
_OWN_SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS chunk_ids;
CREATE TABLE IF NOT EXISTS changes (
    generation bigint PRIMARY KEY,
    article_id text NOT NULL,
    old_story text NOT NULL,
    removed bigint[] NOT NULL,
    added bigint[] NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
"""


class PostgresStore(SQLStore):
    """Articles, chunks and vectors in a PostgreSQL database; methods are safe to call from several threads."""

    shared = True
    db: PostgresDatabase

    def __init__(self, url: str, folder: Path, model: str, dim: int, pool_size: int = 4) -> None:
        """Open (creating the tables if needed) the database at `url` for vectors of `model` with `dim`
        dimensions; `folder` is this process's own index folder."""
        self.folder = Path(folder)
        self.dim = dim
        self._where, self._elsewhere = redact(url), "another database"
        self._generations_lock = threading.Lock()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db = PostgresDatabase(url, pool_size=pool_size, vectors=True, label="the index database")
        try:
            self.db.apply(SCHEMA.format(bigint="bigint", blob="bytea", vector=f"vector({int(dim)})") + _OWN_SCHEMA)
            self._check_model(model, dim)
            # Which database this is, kept beside the generations this process saved against it:
            # another database (a migrated or recreated one) numbers its chunks its own way.
            self.database_id = self._meta("id") or ""
        except postgres_modules()[0].Error as exc:
            self.db.close()
            raise StoreError(f"{redact(url)}: cannot open the index database ({str(exc).strip()})") from None
        except BaseException:
            self.db.close()
            raise

    # -- what PostgreSQL does its own way ----------------------------------------------------------

    def _first_meta(self) -> dict[str, str]:
        return {"id": uuid.uuid4().hex}

    def _lock_writers(self) -> None:
        self.db.rows("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK,))

    def _new_chunk_ids(self, count: int) -> list[int]:
        return sorted(r[0] for r in self.db.rows("SELECT nextval('chunk_ids') FROM generate_series(1, ?)", (count,)))

    def _vector_value(self, vector: np.ndarray) -> Any:
        return vector  # pgvector's adapter writes it

    def _vectors(self, values: Sequence[Any]) -> np.ndarray:
        if not values:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([v.to_numpy() for v in values]).astype(np.float32, copy=False)

    def _log(self, article_id: str, old_story: str, removed: Sequence[int], added: Sequence[int]) -> int:
        """Append the change to the log, announce it (delivered at commit), and return its generation."""
        generation = int(self.db.rows("SELECT COALESCE(MAX(generation), 0) + 1 FROM changes")[0][0])
        self.db.change(
            "INSERT INTO changes (generation, article_id, old_story, removed, added) VALUES (?, ?, ?, ?, ?)",
            (generation, article_id, old_story, list(removed), list(added)),
        )
        self.db.change("DELETE FROM changes WHERE generation <= ?", (generation - KEPT_CHANGES,))
        self.db.rows("SELECT pg_notify(?, ?)", (CHANNEL, str(generation)))
        return generation

    # -- generations -------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Counts committed changes (the newest in the change log)."""
        return int(self.db.rows("SELECT COALESCE(MAX(generation), 0) FROM changes")[0][0])

    def _generations(self) -> dict[str, int]:
        """The saved generations, if they were saved against this database (none otherwise)."""
        try:
            saved = json.loads((self.folder / GENERATIONS_FILE).read_text())
            if saved.pop("database", None) != self.database_id:
                return {}
            return {k: int(v) for k, v in saved.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def saved_generation(self, derived: str) -> int:
        """The generation this process's derived index named `derived` was last saved at (-1: never)."""
        with self._generations_lock:
            return self._generations().get(derived, -1)

    def set_saved_generation(self, derived: str, generation: int) -> None:
        with self._generations_lock:
            saved = self._generations()
            saved[derived] = generation
            atomic_write(self.folder / GENERATIONS_FILE, json.dumps({"database": self.database_id, **saved}).encode())

    def changes_after(self, generation: int) -> list[Change] | None:
        """The changes committed after `generation`, oldest first, each with the chunks it added that
        are still stored (a later change may have removed some), without their vectors (the database
        is this store's vector index). None if the log no longer reaches back that far (the caller
        rebuilds from the tables)."""
        rows = self.db.rows(
            "SELECT generation, article_id, old_story, removed, added FROM changes "
            "WHERE generation > ? ORDER BY generation",
            (generation,),
        )
        # Generations have no gaps (one writer at a time), so a first row past generation + 1, or
        # none while the log is ahead, means the change after `generation` was pruned.
        if rows and rows[0][0] != generation + 1:
            return None
        if not rows and self.generation > generation:
            return None
        added = [i for row in rows for i in row[4]]
        chunks = (
            {
                r[0]: r[1:]
                for r in self.db.rows(
                    "SELECT c.id, a.collection, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id "
                    "WHERE c.id = ANY(?)",
                    (added,),
                )
            }
            if added
            else {}
        )
        changes = []
        for generation_, article_id, old_story, removed, new in rows:
            kept = [i for i in new if i in chunks]
            texts = [chunks[i] for i in kept]
            changes.append(
                Change(
                    np.asarray(removed, dtype=np.int64),
                    np.asarray(kept, dtype=np.int64),
                    texts[0][0] if texts else "",
                    texts[0][1] if texts else "",
                    tuple(t[2] for t in texts),
                    generation=generation_,
                    article_id=article_id,
                    old_story=old_story,
                )
            )
        return changes

    def listen(self, on_change: Callable[[], None], stop: threading.Event, quiet: float = 5.0) -> None:
        """Call `on_change` whenever another process may have committed a change: at each notification,
        and every `quiet` seconds without one (a notification sent while this connection was down
        is not lost). Runs until `stop` is set; for a thread of its own."""
        psycopg, _, _ = postgres_modules()
        failing = False
        while not stop.is_set():
            try:
                with psycopg.connect(self.db.url, autocommit=True, connect_timeout=10) as db:
                    db.execute(f"LISTEN {CHANNEL}")
                    on_change()  # what was committed while not listening
                    if failing:
                        log.info("following the database's changes again")
                        failing = False
                    while not stop.is_set():
                        waited = time.monotonic()
                        # In short waits, so that a closing index's `stop` ends this thread at once.
                        while not stop.is_set() and time.monotonic() - waited < quiet:
                            if any(True for _ in db.notifies(timeout=min(quiet, _STOP_POLL_S), stop_after=1)):
                                break
                        if not stop.is_set():
                            on_change()
            except Exception as exc:  # the database went away, or taking a change failed: say so once, retry
                if not failing and not stop.is_set():
                    log.warning("cannot follow the database's changes (%s); trying again every second", exc)
                failing = True
                stop.wait(1.0)


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """A new, empty database on the server of `url`, dropped afterwards: where the measuring tools
    (eval, bench) build their indexes, so that they never write into the database `url` names."""
    psycopg, _, _ = postgres_modules()
    name = f"articlebot_scratch_{uuid.uuid4().hex[:12]}"
    parts = urlsplit(url)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        raise StoreError(
            f"{redact(url)}: cannot create a scratch database to measure in ({str(exc).strip()})"
        ) from None
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def scratch_store(settings: Settings) -> Iterator[Settings]:
    """`settings` for a throwaway index: with a PostgreSQL store, on a scratch database of its server."""
    if not settings.database_url:
        yield settings
        return
    with scratch_database(settings.database_url) as url:
        yield replace(settings, database_url=url)
