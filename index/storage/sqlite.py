"""The database: SQLite holds articles, their chunks with vectors, and the chunks' sentences.

It is the source of truth and every add or remove is one transaction, so an article is either
wholly stored or not at all. Each commit returns the `Change` it made, which the derived indexes
(index/storage/derived.py: vectors, lexical) apply; the database also records the generation each of them
was saved at. Chunk ids only grow (never reused after a removal), so derived indexes can append in
id order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..errors import StoreError
from ..records import (
    Article,
    ArticleRef,
    Change,
    Chunk,
    NewSentence,
    SentenceRows,
    StoredArticle,
    StoredChunk,
    article_key,
)

DB_NAME = "articles.sqlite3"
SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    outlet TEXT NOT NULL,
    author TEXT NOT NULL,
    published TEXT NOT NULL,
    text TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    collection TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at TEXT NOT NULL,
    story TEXT NOT NULL DEFAULT '',
    signature BLOB
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE UNIQUE INDEX IF NOT EXISTS articles_source ON articles(collection, source);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    paragraph INTEGER NOT NULL,
    vector BLOB NOT NULL,
    text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS sentences (
    chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    vector BLOB NOT NULL,
    terms TEXT NOT NULL DEFAULT '',
    cues INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX IF NOT EXISTS sentences_chunk ON sentences(chunk_id);
"""


#: Columns added since the first schema, with their definitions in it.
_ADDED_COLUMNS = (
    ("chunks", "text", "TEXT NOT NULL DEFAULT ''"),
    ("sentences", "terms", "TEXT NOT NULL DEFAULT ''"),
    ("sentences", "cues", "INTEGER NOT NULL DEFAULT -1"),
    ("articles", "story", "TEXT NOT NULL DEFAULT ''"),
    ("articles", "signature", "BLOB"),
)


#: An article's columns as StoredArticle takes them (alias `a`), with its passage count.
ARTICLE_COLUMNS = (
    "a.id, a.title, a.text, a.source, a.url, a.outlet, a.author, a.published, "
    "a.content_hash, a.collection, a.added_by, a.added_at, "
    "(SELECT COUNT(*) FROM chunks c WHERE c.article_id = a.id), a.story"
)


class StoreReads:
    """The reads both stores share (this SQLite one and index/storage/postgres.py's PostgreSQL one), written once
    in SQL both accept: `?` placeholders, and `_any` for "one of these values"."""

    dim: int

    def _rows(self, sql: str, args: Sequence = ()) -> list[tuple]:
        """The rows a query returns."""
        raise NotImplementedError

    def _any(self, column: str, values: Sequence) -> tuple[str, tuple]:
        """A condition that `column` is one of `values`, with its arguments."""
        raise NotImplementedError

    def _in_collections(self, collections: Sequence[str] | None) -> tuple[str, tuple]:
        """A WHERE clause (on alias `a`) limiting articles to `collections`; empty for all."""
        if collections is None:
            return "", ()
        condition, args = self._any("a.collection", collections)
        return f"WHERE {condition}", args

    def count_chunks(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM chunks")[0][0])

    def __len__(self) -> int:
        return int(self._rows("SELECT COUNT(*) FROM articles")[0][0])

    def articles(self, collections: Sequence[str] | None = None) -> list[StoredArticle]:
        """The articles of these collections (default: all), newest first."""
        where, args = self._in_collections(collections)
        return [
            StoredArticle(*row)
            for row in self._rows(
                f"SELECT {ARTICLE_COLUMNS} FROM articles a {where} ORDER BY a.published DESC, a.added_at DESC", args
            )
        ]

    def chunk_ids(self, collections: Sequence[str] | None = None, since: str = "") -> np.ndarray:
        """The ids of the chunks of these collections' articles (default: all), ascending; with `since`,
        only those of articles published on or after it, or undated."""
        where, args = self._in_collections(collections)
        if since:
            where = f"{where} AND" if where else "WHERE"
            where, args = f"{where} (a.published >= ? OR a.published = '')", (*args, since)
        rows = self._rows(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id {where} ORDER BY c.id", args
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def article(self, article_id: str) -> StoredArticle | None:
        rows = self._rows(f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = ?", (article_id,))
        return StoredArticle(*rows[0]) if rows else None

    def article_with_text(self, content_hash: str, collections: Sequence[str] | None = None) -> StoredArticle | None:
        """An article of these collections whose cleaned text has this hash (the same text under any name)."""
        where, args = self._in_collections(collections)
        where = f"{where} AND" if where else "WHERE"
        rows = self._rows(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a {where} a.content_hash = ? LIMIT 1", (*args, content_hash)
        )
        return StoredArticle(*rows[0]) if rows else None

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks with these ids (missing ids are left out)."""
        if not len(ids):
            return {}
        condition, args = self._any("id", [int(i) for i in ids])
        rows = self._rows(f'SELECT id, article_id, start, "end", paragraph, text FROM chunks WHERE {condition}', args)
        return {row[0]: StoredChunk(*row) for row in rows}

    def span_text(self, article_id: str, start: int, end: int) -> str:
        """`text[start:end]` of an article, read without the rest of its text."""
        # substr counts characters from 1, as Python slices count them from 0.
        rows = self._rows("SELECT substr(text, ?, ?) FROM articles WHERE id = ?", (start + 1, end - start, article_id))
        return rows[0][0] if rows else ""

    def article_refs(self, ids: Sequence[str]) -> dict[str, ArticleRef]:
        """What quotes cite of these articles, by id, without reading their texts."""
        if not len(ids):
            return {}
        condition, args = self._any("id", list(ids))
        rows = self._rows(
            f"SELECT id, title, url, outlet, published, story, added_at FROM articles WHERE {condition}", args
        )
        return {row[0]: ArticleRef(*row) for row in rows}

    def story_members(self, story: str, collections: Sequence[str] | None = None, limit: int = 10) -> list[ArticleRef]:
        """The articles (of these collections) that tell one story, first published first (at most `limit`)."""
        where, args = self._in_collections(collections)
        where = f"{where} AND" if where else "WHERE"
        rows = self._rows(
            f"SELECT a.id, a.title, a.url, a.outlet, a.published, a.story, a.added_at FROM articles a {where} "
            "a.story = ? ORDER BY a.published = '', a.published, a.added_at LIMIT ?",
            (*args, story, limit),
        )
        return [ArticleRef(*row) for row in rows]

    def signatures(self, ids: Sequence[str] | None = None) -> dict[str, tuple[str, str, bytes]]:
        """(collection, story, packed story signature) of these articles (default: all), by id; those
        stored without a signature are left out."""
        sql, args = "SELECT id, collection, story, signature FROM articles WHERE signature IS NOT NULL", ()
        if ids is not None:
            if not len(ids):
                return {}
            condition, args = self._any("id", list(ids))
            sql = f"{sql} AND {condition}"
        return {row[0]: (row[1], row[2], bytes(row[3])) for row in self._rows(sql, args)}

    def without_signature(self) -> list[tuple[str, str]]:
        """(id, text) of the articles an older version stored without a story signature."""
        return [(r[0], r[1]) for r in self._rows("SELECT id, text FROM articles WHERE signature IS NULL")]

    def all_chunks(self) -> list[StoredChunk]:
        """Every chunk, ascending by id."""
        return [
            StoredChunk(*row)
            for row in self._rows('SELECT id, article_id, start, "end", paragraph, text FROM chunks ORDER BY id')
        ]

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceRows:
        """The sentences of these chunks, ordered by chunk id, then text."""
        rows: list[tuple] = []
        if len(chunk_ids):
            condition, args = self._any("chunk_id", [int(i) for i in chunk_ids])
            rows = self._rows(
                f'SELECT chunk_id, start, "end", vector, terms, cues FROM sentences WHERE {condition} '
                "ORDER BY chunk_id, start",
                args,
            )
        chunk, start, end, blobs, terms, cues = zip(*rows) if rows else ((),) * 6
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(len(rows), self.dim).astype(np.float32)
        return SentenceRows(
            np.array(chunk, dtype=np.int64),
            np.array(start, dtype=np.int64),
            np.array(end, dtype=np.int64),
            vectors,
            list(terms),
            np.array(cues, dtype=np.int64),
        )

    def chunk_texts(self, after: int = 0) -> Iterator[tuple[int, str, str, str]]:
        """(chunk id, collection, article title, chunk text) of every chunk with an id above `after`,
        ascending by id; read a page at a time, so that no lock is held while the caller works."""
        while True:
            rows = self._rows(
                "SELECT c.id, a.collection, a.title, c.text FROM chunks c JOIN articles a "
                "ON a.id = c.article_id WHERE c.id > ? ORDER BY c.id LIMIT 10000",
                (after,),
            )
            if not rows:
                return
            yield from ((r[0], r[1], r[2], r[3]) for r in rows)
            after = rows[-1][0]

    def article_chunk_ids(self, article_id: str) -> list[int]:
        """The ids of an article's chunks, ascending."""
        return [r[0] for r in self._rows("SELECT id FROM chunks WHERE article_id = ? ORDER BY id", (article_id,))]


class SQLiteStore(StoreReads):
    """Articles, chunks and vectors in one folder. Methods are safe to call from several threads."""

    #: Whether other processes may change the database (index/storage/postgres.py): this process owns it.
    shared = False

    def __init__(self, folder: Path, model: str, dim: int) -> None:
        """Open or create the database in `folder`, for vectors of `model` with `dim` dimensions."""
        self.folder = Path(folder)
        self.dim = dim
        self._lock = threading.RLock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.folder / DB_NAME, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: an add reported as done survives a crash or power loss right after.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._add_columns()
            # After the columns: an older index gains `story` there.
            self._db.execute("CREATE INDEX IF NOT EXISTS articles_story ON articles(story)")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.folder}: cannot open the index database ({exc})") from None
        self._check_model(model, dim)

    # -- setup -------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def _add_columns(self) -> None:
        """Bring an index made by an older version up to the schema: the text of each chunk, so that
        answering never reads whole articles; the terms and cues of each sentence, which the quote
        model reads (filled in by `ArticleIndex`, which has the analyzer)."""
        for table, column, definition in _ADDED_COLUMNS:
            if column not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                with self._transaction():
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
                    if (table, column) == ("chunks", "text"):
                        self._db.execute(
                            "UPDATE chunks SET text = (SELECT substr(a.text, chunks.start + 1, "
                            "chunks.end - chunks.start) FROM articles a WHERE a.id = chunks.article_id)"
                        )
                    if table == "sentences":  # remembered, so that opening never scans the sentences to find out
                        self._set_meta("sentence_facts", "missing")

    def _check_model(self, model: str, dim: int) -> None:
        stored_model, stored_dim = self._meta("model"), self._meta("dim")
        if stored_model is None:
            with self._transaction():
                self._set_meta("model", model)
                self._set_meta("dim", str(dim))
                self._set_meta("schema", SCHEMA_VERSION)
                self._set_meta("generation", "0")
        elif stored_model != model or stored_dim != str(dim):
            raise StoreError(
                f"{self.folder} was built with model {stored_model!r} ({stored_dim} dimensions), "
                f"not {model!r}; use that model or another index folder"
            )

    @property
    def generation(self) -> int:
        """Counts committed changes."""
        with self._lock:
            return int(self._meta("generation") or 0)

    def saved_generation(self, derived: str) -> int:
        """The generation the derived index named `derived` was last saved at (-1: never)."""
        with self._lock:
            return int(self._meta(f"saved:{derived}") or -1)

    def set_saved_generation(self, derived: str, generation: int) -> None:
        with self._lock, self._transaction():
            self._set_meta(f"saved:{derived}", str(generation))

    def vector_batches(self, ids: Sequence[int] | np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of the stored chunks in batches of up to 10,000, ascending by id:
        all of them, or those with these ids."""
        if ids is None:
            pages: list[tuple[str, tuple[str, ...]]] = [("SELECT id, vector FROM chunks ORDER BY id", ())]
        else:
            ordered = sorted(int(i) for i in ids)
            pages = [
                (
                    "SELECT id, vector FROM chunks WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                    (json.dumps(ordered[start : start + 30_000]),),
                )
                for start in range(0, len(ordered), 30_000)
            ]
        for query, args in pages:
            with self._lock:
                rows = self._db.execute(query, args)
                batches = []
                while batch := rows.fetchmany(10_000):
                    batches.append(batch)
            for batch in batches:
                ids_out = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
                yield (
                    ids_out,
                    np.frombuffer(b"".join(r[1] for r in batch), dtype=np.float32).reshape(len(batch), self.dim),
                )

    def _transaction(self):
        return _Transaction(self._db)

    # -- reading (most reads are StoreReads') -------------------------------------------------

    def _rows(self, sql: str, args: Sequence = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _any(self, column: str, values: Sequence) -> tuple[str, tuple]:
        return f"{column} IN ({','.join('?' * len(values))})", tuple(values)

    def sentences_without_facts(self) -> Iterator[tuple[str, str, list[tuple[int, int, int]]]]:
        """(article id, text, [(sentence rowid, start, end)]) of each article whose sentences were stored
        without their terms and cues (by an older version); `sentence_facts_done` once all are filled in."""
        if self._meta("sentence_facts") != "missing":
            return
        with self._lock:
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT DISTINCT c.article_id FROM sentences s JOIN chunks c ON c.id = s.chunk_id WHERE s.cues = -1"
                )
            ]
        for article_id in ids:
            with self._lock:
                text = self._db.execute("SELECT text FROM articles WHERE id = ?", (article_id,)).fetchone()
                rows = self._db.execute(
                    "SELECT s.rowid, s.start, s.end FROM sentences s JOIN chunks c ON c.id = s.chunk_id "
                    "WHERE c.article_id = ? AND s.cues = -1",
                    (article_id,),
                ).fetchall()
            if text is not None:
                yield article_id, text[0], rows

    def sentence_facts_done(self) -> None:
        """Every sentence has its terms and cues now."""
        if self._meta("sentence_facts") is not None:
            with self._lock, self._transaction():
                self._db.execute("DELETE FROM meta WHERE key = 'sentence_facts'")

    def set_sentence_facts(self, facts: Sequence[tuple[str, int, int]]) -> None:
        """Store (terms, cues, sentence rowid) rows, in one transaction."""
        with self._lock, self._transaction():
            self._db.executemany("UPDATE sentences SET terms = ?, cues = ? WHERE rowid = ?", facts)

    def set_signature(self, article_id: str, signature: bytes) -> None:
        """Store an article's story signature (an older version's article: a story of its own)."""
        with self._lock, self._transaction():
            self._db.execute(
                "UPDATE articles SET signature = ?, story = CASE WHEN story = '' THEN id ELSE story END WHERE id = ?",
                (signature, article_id),
            )

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
        """Store an article with its chunks and vectors in one transaction, replacing its old version.

        Args:
            sentences: per chunk, its sentences (spans in article coordinates).
            story: the story it tells (index/ingest/stories.py); default: a story of its own.
            signature: its story signature, as index/ingest/stories.py packs it.
            added_at: when it was first added (ISO 8601); default now (a copy keeps the original's).

        Returns:
            What changed: the old version's chunk ids removed, the new chunks added.
        """
        if len(chunks) != len(vectors) or (len(vectors) and vectors.shape[1] != self.dim):
            raise ValueError("one vector of the index's dimension is needed per chunk")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        added_at = added_at or datetime.now(UTC).isoformat(timespec="seconds")
        article_id = article_key(article.source, collection)
        with self._lock:
            with self._transaction():
                old_ids = self.article_chunk_ids(article_id)
                old_story = self._story(article_id)
                next_id = self._next_chunk_id()
                self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
                self._db.execute(
                    "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                new_ids = []
                for n, (chunk, vector) in enumerate(zip(chunks, vectors)):
                    self._db.execute(
                        "INSERT INTO chunks (id, article_id, start, end, paragraph, vector, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            next_id + n,
                            article_id,
                            chunk.start,
                            chunk.end,
                            chunk.paragraph,
                            vector.tobytes(),
                            chunk.text,
                        ),
                    )
                    new_ids.append(next_id + n)
                    if n < len(sentences):
                        # float16 halves the space; the cosines it gives differ by < 1e-3.
                        self._db.executemany(
                            "INSERT INTO sentences VALUES (?, ?, ?, ?, ?, ?)",
                            [
                                (
                                    new_ids[-1],
                                    s.start,
                                    s.end,
                                    np.asarray(s.vector, dtype=np.float16).tobytes(),
                                    s.terms,
                                    s.cues,
                                )
                                for s in sentences[n]
                            ],
                        )
                self._set_meta("next_chunk_id", str(next_id + len(new_ids)))
                generation = self._bump_generation()
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
        with self._lock:
            old_ids = self.article_chunk_ids(article_id)
            with self._transaction():
                old_story = self._story(article_id)
                gone = self._db.execute("DELETE FROM articles WHERE id = ?", (article_id,)).rowcount
                generation = self._bump_generation() if gone else 0
        return (
            Change(
                np.asarray(old_ids, dtype=np.int64), generation=generation, article_id=article_id, old_story=old_story
            )
            if gone
            else None
        )

    def listen(self, on_change: Callable[[], None], stop: threading.Event, quiet: float = 5.0) -> None:
        """Nothing to follow: a folder's database is written by one process (`shared` is False)."""

    def changes_after(self, generation: int) -> list[Change] | None:
        """The changes other processes committed after `generation`: none, since one process owns an
        SQLite index (the PostgreSQL store, index/storage/postgres.py, is the one several processes share)."""
        return []

    def _story(self, article_id: str) -> str:
        row = self._db.execute("SELECT story FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else ""

    def _next_chunk_id(self) -> int:
        """Above every id ever given (stored in meta, since removing the newest chunks frees theirs)."""
        highest = self._db.execute("SELECT MAX(id) FROM chunks").fetchone()[0] or 0
        return max(int(self._meta("next_chunk_id") or 1), highest + 1)

    def _bump_generation(self) -> int:
        self._db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        return int(self._meta("generation") or 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
