"""The database in PostgreSQL (ARTICLEBOT_DATABASE_URL): the same verbs as the SQLite store
(index/storage/sqlite.py), for an index several processes share.

Articles, chunks (with their vectors, in a pgvector column that index/search/pgvector_index.py searches) and
sentences live in PostgreSQL. Every add or remove is one transaction that also appends a row to the
`changes` log and NOTIFYs the other processes (`CHANNEL`); each process follows that log to keep its
own derived indexes (BM25 in tantivy: PostgreSQL's ts_rank is not BM25 and ranks worse, see
docs/performance.md) in step. Writers take one advisory lock, so generations and chunk ids commit in
the order they are given: a follower reading "after generation g" never skips a change committed
late. The generations each derived index was saved at are this process's own (its index folder),
kept in a file there, since the database is shared.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from ..errors import StoreError
from ..records import Article, Change, Chunk, NewSentence, article_key
from ..settings import Settings
from .files import atomic_write
from .sqlite import SCHEMA_VERSION, StoreReads

log = logging.getLogger(__name__)

#: The channel changes are announced on; the payload is the new generation.
CHANNEL = "articlebot_changes"
#: The advisory lock writers (and the schema's creation) hold for their transaction: any fixed number.
_WRITE_LOCK = 0x61727469636C65
#: The derived indexes' saved generations, in the process's own index folder.
GENERATIONS_FILE = "generations.json"
#: Changes kept in the log; a process further behind than this rebuilds from the tables instead.
KEPT_CHANGES = 100_000
#: Seconds between the listener's checks that its index is closing.
_STOP_POLL_S = 0.2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id text PRIMARY KEY,
    source text NOT NULL,
    title text NOT NULL,
    url text NOT NULL,
    outlet text NOT NULL,
    author text NOT NULL,
    published text NOT NULL,
    text text NOT NULL,
    content_hash text NOT NULL,
    collection text NOT NULL,
    added_by text NOT NULL,
    added_at text NOT NULL,
    story text NOT NULL DEFAULT '',
    signature bytea
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE UNIQUE INDEX IF NOT EXISTS articles_source ON articles(collection, source);
CREATE INDEX IF NOT EXISTS articles_story ON articles(story);
CREATE SEQUENCE IF NOT EXISTS chunk_ids;
CREATE TABLE IF NOT EXISTS chunks (
    id bigint PRIMARY KEY,
    article_id text NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start integer NOT NULL,
    "end" integer NOT NULL,
    paragraph integer NOT NULL,
    vector vector({dim}) NOT NULL,
    text text NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS sentences (
    chunk_id bigint NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    start integer NOT NULL,
    "end" integer NOT NULL,
    vector bytea NOT NULL,
    terms text NOT NULL,
    cues integer NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_chunk ON sentences(chunk_id);
CREATE TABLE IF NOT EXISTS changes (
    generation bigint PRIMARY KEY,
    article_id text NOT NULL,
    old_story text NOT NULL,
    removed bigint[] NOT NULL,
    added bigint[] NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);
"""
#: The vector index (index/search/pgvector_index.py says why IVFFlat): its name, and the lock of the process building it.
VECTOR_INDEX = "chunks_vector"
_BUILD_LOCK = _WRITE_LOCK + 1


def redact(url: str) -> str:
    """The URL without its password, for messages: in its user part (up to its last `@`, as a password
    written unencoded may hold `/` or `@`) and in a `password=` parameter, which libpq reads too."""
    url = re.sub(r"(://[^:/@?]*):.*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.IGNORECASE)


def postgres_modules():  # -> (psycopg, psycopg_pool, pgvector's register_vector)
    """The postgres extra's modules, imported when first needed, or StoreError naming the extra."""
    try:
        import psycopg
        import psycopg_pool
        from pgvector.psycopg import register_vector
    except ImportError as exc:
        raise StoreError(
            f"ARTICLEBOT_DATABASE_URL needs the postgres extra: pip install -e '.[postgres]' ({exc})"
        ) from None
    return psycopg, psycopg_pool, register_vector


class PostgresStore(StoreReads):
    """Articles, chunks and vectors in a PostgreSQL database; methods are safe to call from several threads."""

    shared = True

    def __init__(self, url: str, folder: Path, model: str, dim: int, pool_size: int = 4) -> None:
        """Open (creating the tables if needed) the database at `url` for vectors of `model` with `dim`
        dimensions; `folder` is this process's own index folder."""
        psycopg, psycopg_pool, register_vector = postgres_modules()
        self._psycopg = psycopg
        self.url = url
        self.folder = Path(folder)
        self.dim = dim
        self._generations_lock = threading.Lock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as db:
                with db.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))  # two processes creating at once
                    db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    db.execute(_SCHEMA.format(dim=int(dim)))
                    self._check_model(db, model, dim)
                    # Which database this is, kept beside the generations this process saved against it:
                    # another database (a migrated or recreated one) numbers its chunks its own way.
                    db.execute("INSERT INTO meta VALUES ('id', %s) ON CONFLICT (key) DO NOTHING", (uuid.uuid4().hex,))
                    self.database_id = db.execute("SELECT value FROM meta WHERE key = 'id'").fetchone()[0]
            self._pool = psycopg_pool.ConnectionPool(
                # Checked before each use: after a server restart a pooled connection is dead, and a
                # question would otherwise fail on each of them once.
                url,
                min_size=1,
                max_size=pool_size,
                open=True,
                configure=register_vector,
                check=psycopg_pool.ConnectionPool.check_connection,
                kwargs={"autocommit": True, "connect_timeout": 10},
                name="articlebot",
            )
            self._pool.wait(timeout=10)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StoreError(f"{redact(url)}: cannot open the index database ({str(exc).strip()})") from None

    def _check_model(self, db, model: str, dim: int) -> None:
        stored = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('model', 'dim')").fetchall())
        if not stored:
            db.execute(
                "INSERT INTO meta VALUES ('model', %s), ('dim', %s), ('schema', %s)", (model, str(dim), SCHEMA_VERSION)
            )
        elif stored.get("model") != model or stored.get("dim") != str(dim):
            raise StoreError(
                f"{redact(self.url)} was built with model {stored.get('model')!r} ({stored.get('dim')} "
                f"dimensions), not {model!r}; use that model or another database"
            )

    def _connection(self):
        return self._pool.connection()

    # -- generations -------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Counts committed changes (the newest in the change log)."""
        with self._connection() as db:
            return int(db.execute("SELECT COALESCE(MAX(generation), 0) FROM changes").fetchone()[0])

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
        with self._connection() as db:
            rows = db.execute(
                "SELECT generation, article_id, old_story, removed, added FROM changes "
                "WHERE generation > %s ORDER BY generation",
                (generation,),
            ).fetchall()
            # Generations have no gaps (one writer at a time), so a first row past generation + 1, or
            # none while the log is ahead, means the change after `generation` was pruned.
            if rows and rows[0][0] != generation + 1:
                return None
            if not rows and db.execute("SELECT COALESCE(MAX(generation), 0) FROM changes").fetchone()[0] > generation:
                return None
            added = [i for row in rows for i in row[4]]
            chunks = (
                {
                    r[0]: r[1:]
                    for r in db.execute(
                        "SELECT c.id, a.collection, a.title, c.text FROM chunks c JOIN articles a ON a.id = c.article_id "
                        "WHERE c.id = ANY(%s)",
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
        psycopg = self._psycopg
        failing = False
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as db:
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

    # -- reading (most reads are StoreReads') -------------------------------------------------

    def _rows(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._connection() as db:
            return db.execute(_placeholders(sql), args).fetchall()

    def _any(self, column: str, values: Sequence) -> tuple[str, tuple]:
        return f"{column} = ANY(?)", (list(values),)

    def sentences_without_facts(self) -> Iterator[tuple[str, str, list[tuple[int, int, int]]]]:
        """Nothing: every version that writes PostgreSQL stores sentences with their facts."""
        return iter(())

    def sentence_facts_done(self) -> None:
        pass

    def set_sentence_facts(self, facts: Sequence[tuple[str, int, int]]) -> None:
        raise NotImplementedError("the PostgreSQL store has no sentences without facts")

    def set_signature(self, article_id: str, signature: bytes) -> None:
        with self._connection() as db:
            db.execute(
                "UPDATE articles SET signature = %s, story = CASE WHEN story = '' THEN id ELSE story END WHERE id = %s",
                (signature, article_id),
            )

    def vector_batches(self, ids: Sequence[int] | np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of the stored chunks in batches of up to 10,000, ascending by id:
        all of them, or those with these ids."""
        after = 0
        wanted = None if ids is None else [int(i) for i in sorted(ids)]
        while True:
            with self._connection() as db:
                if wanted is None:
                    rows = db.execute(
                        "SELECT id, vector FROM chunks WHERE id > %s ORDER BY id LIMIT 10000", (after,), binary=True
                    ).fetchall()
                else:
                    rows = db.execute(
                        "SELECT id, vector FROM chunks WHERE id = ANY(%s) AND id > %s ORDER BY id LIMIT 10000",
                        (wanted, after),
                        binary=True,
                    ).fetchall()
            if not rows:
                return
            yield (
                np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
                _stack([r[1] for r in rows], self.dim),
            )
            after = rows[-1][0]

    # -- dense search (index/search/pgvector_index.py) ----------------------------------------------------

    def vector_lists(self) -> int:
        """The lists of the IVFFlat index over the chunks' vectors; 0 if there is none (searches are exact)."""
        with self._connection() as db:
            row = db.execute(
                "SELECT c.reloptions FROM pg_class c WHERE c.relname = %s AND c.relkind = 'i'", (VECTOR_INDEX,)
            ).fetchone()
        options = dict(o.split("=", 1) for o in (row[0] or [])) if row else {}
        return int(options.get("lists", 0)) if row else 0

    def build_vector_index(self, lists: int) -> bool:
        """(Re)build the IVFFlat index with `lists` lists, trained on the vectors stored now, without
        blocking reads or writes (CREATE INDEX CONCURRENTLY, then a swap); False if another process
        is building it already."""
        psycopg = self._psycopg
        with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as db:
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

    def nearest(
        self, query: np.ndarray, k: int, collections: Sequence[str] | None, since: str, probes: int, exact: bool
    ) -> list[tuple[int, float]]:
        """The `k` chunks (of `collections`, published since `since`) with the largest inner product with
        `query`, as (id, inner product): by the IVFFlat index scanning `probes` lists, or `exact`ly."""
        where, args = self._in_collections(collections)
        if since:
            where = f"{where} AND" if where else "WHERE"
            where, args = f"{where} (a.published >= ? OR a.published = '')", (*args, since)
        join = "JOIN articles a ON a.id = c.article_id" if where else ""
        # `+ 0` hides the ordering from the vector index, so that the planner sorts every allowed row.
        order = "(c.vector <#> ?) + 0" if exact else "c.vector <#> ?"
        vector = np.asarray(query, dtype=np.float32)
        with self._connection() as db, db.transaction():
            db.execute(f"SET LOCAL ivfflat.probes = {max(1, int(probes))}")
            rows = db.execute(
                _placeholders(f"SELECT c.id, -(c.vector <#> ?) FROM chunks c {join} {where} ORDER BY {order} LIMIT ?"),
                (vector, *args, vector, int(k)),
            ).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def stored_vectors(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(those of these chunk ids that are stored, in order, and their vectors)."""
        wanted = [int(i) for i in ids]
        with self._connection() as db:
            found = dict(
                db.execute("SELECT id, vector FROM chunks WHERE id = ANY(%s)", (wanted,), binary=True).fetchall()
            )
        kept = [i for i in wanted if i in found]
        return np.asarray(kept, dtype=np.int64), _stack([found[i] for i in kept], self.dim)

    # -- writing -----------------------------------------------------------------------------

    def add(
        self,
        article: Article,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        sentences: Sequence[Sequence[NewSentence]] = (),
        collection: str = "",
        added_by: str = "",
        story: str = "",
        signature: bytes | None = None,
        added_at: str = "",
    ) -> Change:
        """Store an article with its chunks and vectors in one transaction, replacing its old version
        (index/storage/sqlite.py's `SQLiteStore.add` has the arguments)."""
        if len(chunks) != len(vectors) or (len(vectors) and vectors.shape[1] != self.dim):
            raise ValueError("one vector of the index's dimension is needed per chunk")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        added_at = added_at or datetime.now(UTC).isoformat(timespec="seconds")
        article_id = article_key(article.source, collection)
        with self._connection() as db, db.transaction():
            old_ids, old_story = self._lock_and_forget(db, article_id)
            db.execute(
                "INSERT INTO articles VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    article_id,
                    article.source,
                    article.title,
                    article.url,
                    article.outlet,
                    article.author,
                    article.published,
                    article.text,
                    article.content_hash,
                    collection,
                    added_by,
                    added_at,
                    story or article_id,
                    signature,
                ),
            )
            new_ids = (
                sorted(
                    r[0]
                    for r in db.execute(
                        "SELECT nextval('chunk_ids') FROM generate_series(1, %s)", (len(chunks),)
                    ).fetchall()
                )
                if chunks
                else []
            )
            with db.cursor() as cursor:
                cursor.executemany(
                    'INSERT INTO chunks (id, article_id, start, "end", paragraph, vector, text) '
                    "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (i, article_id, c.start, c.end, c.paragraph, v, c.text)
                        for i, c, v in zip(new_ids, chunks, vectors)
                    ],
                )
                # float16 halves the space; the cosines it gives differ by < 1e-3.
                rows = [
                    (i, s.start, s.end, np.asarray(s.vector, dtype=np.float16).tobytes(), s.terms, s.cues)
                    for i, chunk_sentences in zip(new_ids, sentences)
                    for s in chunk_sentences
                ]
                with cursor.copy('COPY sentences (chunk_id, start, "end", vector, terms, cues) FROM STDIN') as copy:
                    for row in rows:
                        copy.write_row(row)
            generation = self._log(db, article_id, old_story, old_ids, new_ids)
        return Change(
            np.asarray(old_ids, dtype=np.int64),
            np.asarray(new_ids, dtype=np.int64),
            collection,
            article.title,
            tuple(c.text for c in chunks),
            vectors,
            generation,
            article_id,
            old_story,
        )

    def remove(self, article_id: str) -> Change | None:
        """Delete an article and its chunks; what changed, or None if there was no such article."""
        with self._connection() as db, db.transaction():
            old_ids, old_story = self._lock_and_forget(db, article_id)
            if not old_story:
                return None
            generation = self._log(db, article_id, old_story, old_ids, [])
        return Change(
            np.asarray(old_ids, dtype=np.int64), generation=generation, article_id=article_id, old_story=old_story
        )

    @staticmethod
    def _lock_and_forget(db, article_id: str) -> tuple[list[int], str]:
        """Take the writers' lock, then delete the article: (its chunk ids, its story; "" if there was none)."""
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
        old_ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE article_id = %s ORDER BY id", (article_id,))]
        gone = db.execute("DELETE FROM articles WHERE id = %s RETURNING story", (article_id,)).fetchone()
        return old_ids, gone[0] if gone else ""

    @staticmethod
    def _log(db, article_id: str, old_story: str, removed: Sequence[int], added: Sequence[int]) -> int:
        """Append the change to the log, announce it (delivered at commit), and return its generation."""
        generation = db.execute("SELECT COALESCE(MAX(generation), 0) + 1 FROM changes").fetchone()[0]
        db.execute(
            "INSERT INTO changes (generation, article_id, old_story, removed, added) VALUES (%s, %s, %s, %s, %s)",
            (generation, article_id, old_story, list(removed), list(added)),
        )
        db.execute("DELETE FROM changes WHERE generation <= %s", (generation - KEPT_CHANGES,))
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(generation)))
        return int(generation)

    def close(self) -> None:
        self._pool.close()


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


def _placeholders(sql: str) -> str:
    """SQL written with `?` placeholders (as both stores' shared reads are) in psycopg's `%s`."""
    return sql.replace("%", "%%").replace("?", "%s")


def _stack(vectors: Sequence, dim: int) -> np.ndarray:
    """pgvector's vectors as one float32 array, a row each."""
    if not vectors:
        return np.zeros((0, dim), dtype=np.float32)
    return np.stack([v.to_numpy() for v in vectors]).astype(np.float32, copy=False)
