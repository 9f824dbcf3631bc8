"""The article store, written once for both databases (index/storage/database.py): the schema, every
read, and the add and remove transactions. It is the source of truth and every add or remove is one
transaction, so an article is either wholly stored or not at all; each returns the `Change` it made,
which the derived indexes (index/storage/derived.py) apply. Chunk ids only grow (never reused after a
removal), so derived indexes can append in id order.

index/storage/sqlite.py and index/storage/postgres.py add only what each does its own way: how chunk
ids are given, how a vector is stored, how a change is numbered and how other processes' changes
are followed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..records import (
    ArticleRef,
    ArticleVersion,
    Change,
    NewArticle,
    SentenceRows,
    StoredArticle,
    StoredChunk,
    article_key,
)
from .database import Database

SCHEMA_VERSION = "1"

#: The tables both databases hold; `{bigint}`, `{blob}` and `{vector}` are each dialect's types.
SCHEMA = """
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
    signature {blob}
);
CREATE INDEX IF NOT EXISTS articles_hash ON articles(content_hash);
CREATE UNIQUE INDEX IF NOT EXISTS articles_source ON articles(collection, source);
CREATE INDEX IF NOT EXISTS articles_story ON articles(story);
CREATE TABLE IF NOT EXISTS chunks (
    id {bigint} PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    paragraph INTEGER NOT NULL,
    vector {vector} NOT NULL,
    text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS sentences (
    chunk_id {bigint} NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    vector {blob} NOT NULL,
    terms TEXT NOT NULL DEFAULT '',
    cues INTEGER NOT NULL DEFAULT -1
);
CREATE INDEX IF NOT EXISTS sentences_chunk ON sentences(chunk_id);
"""

#: An article's columns as StoredArticle takes them (alias `a`), with its chunk count.
ARTICLE_COLUMNS = (
    "a.id, a.title, a.text, a.source, a.url, a.outlet, a.author, a.published, "
    "a.content_hash, a.collection, a.added_by, a.added_at, "
    "(SELECT COUNT(*) FROM chunks c WHERE c.article_id = a.id), a.story"
)
_REF_COLUMNS = "a.id, a.title, a.url, a.outlet, a.published, a.story, a.added_at"
_CHUNK_COLUMNS = 'id, article_id, start, "end", paragraph, text'
#: Rows read at a time by the reads that page through a table.
PAGE = 10_000


class SQLStore:
    """Articles, chunks and vectors in a `Database`; methods are safe to call from several threads."""

    folder: Path
    dim: int
    shared: bool
    db: Database
    #: Where the database is and what else to use, for messages.
    _where: str
    _elsewhere: str

    # -- what each dialect does its own way ---------------------------------------------------

    def _lock_writers(self) -> None:
        """Inside a transaction: wait until no other writer holds the database (SQLite's IMMEDIATE
        transactions do that by themselves)."""

    def _new_chunk_ids(self, count: int) -> list[int]:
        """`count` chunk ids above every id ever given, ascending."""
        raise NotImplementedError

    def _vector_value(self, vector: np.ndarray) -> Any:
        """A chunk's vector as its column takes it."""
        raise NotImplementedError

    def _vectors(self, values: Sequence[Any]) -> np.ndarray:
        """Vectors read from the chunks' column, as one float32 array, a row each."""
        raise NotImplementedError

    def _log(self, article_id: str, old_story: str, removed: Sequence[int], added: Sequence[int]) -> int:
        """Inside the change's transaction: number the change, and tell whoever follows changes; its generation."""
        raise NotImplementedError

    def _first_meta(self) -> dict[str, str]:
        """What a new database's meta table starts with, beyond its model."""
        return {}

    # -- opening ------------------------------------------------------------------------------

    def _check_model(self, model: str, dim: int) -> None:
        """Record the model of a new database, or refuse one built with another model (opening an
        existing database only reads: it never waits for a writer)."""
        stored: dict[str, str] = dict(self.db.rows("SELECT key, value FROM meta WHERE key IN ('model', 'dim')"))
        if not stored:
            with self.db.transaction():
                self._lock_writers()
                first = {"model": model, "dim": str(dim), "schema": SCHEMA_VERSION, **self._first_meta()}
                for key, value in first.items():
                    self.db.change("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value))
            stored = dict(self.db.rows("SELECT key, value FROM meta WHERE key IN ('model', 'dim')"))
        if stored.get("model") != model or stored.get("dim") != str(dim):
            raise StoreError(
                f"{self._where} was built with model {stored.get('model')!r} ({stored.get('dim')} "
                f"dimensions), not {model!r}; use that model or {self._elsewhere}"
            )

    def _meta(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key = ?", (key,))
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        self.db.change(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
        )

    # -- reading ------------------------------------------------------------------------------

    def articles_where(self, collections: Sequence[str] | None, since: str = "") -> tuple[str, tuple]:
        """A WHERE clause (on alias `a`) limiting articles to `collections` (None: all) and to those
        published on or after `since`, or undated; empty if nothing is limited."""
        conditions: list[str] = []
        args: tuple = ()
        if collections is not None:
            condition, args = self.db.one_of("a.collection", collections)
            conditions.append(condition)
        if since:
            conditions.append("(a.published >= ? OR a.published = '')")
            args = (*args, since)
        return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), args

    def _and(self, collections: Sequence[str] | None) -> tuple[str, tuple]:
        """`articles_where` ready for one more condition."""
        where, args = self.articles_where(collections)
        return (f"{where} AND" if where else "WHERE"), args

    def count_chunks(self) -> int:
        return int(self.db.rows("SELECT COUNT(*) FROM chunks")[0][0])

    def __len__(self) -> int:
        return int(self.db.rows("SELECT COUNT(*) FROM articles")[0][0])

    def articles(self, collections: Sequence[str] | None = None, text: bool = True) -> list[StoredArticle]:
        """The articles of these collections (default: all), newest first; without `text`, their texts are
        left out (""), for a listing."""
        where, args = self.articles_where(collections)
        columns = ARTICLE_COLUMNS if text else ARTICLE_COLUMNS.replace("a.text", "''", 1)
        return [
            StoredArticle(*row)
            for row in self.db.rows(
                f"SELECT {columns} FROM articles a {where} ORDER BY a.published DESC, a.added_at DESC", args
            )
        ]

    def chunk_ids(self, collections: Sequence[str] | None = None, since: str = "") -> np.ndarray:
        """The ids of the chunks of these collections' articles (default: all), ascending; with `since`,
        only those of articles published on or after it, or undated."""
        where, args = self.articles_where(collections, since)
        rows = self.db.rows(
            f"SELECT c.id FROM chunks c JOIN articles a ON a.id = c.article_id {where} ORDER BY c.id", args
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def article_versions(self) -> list[ArticleVersion]:
        """Every article's id, collection, text hash and title, without the texts."""
        return [
            ArticleVersion(*row)
            for row in self.db.rows("SELECT id, collection, content_hash, title FROM articles ORDER BY added_at, id")
        ]

    def article(self, article_id: str) -> StoredArticle | None:
        row = self.db.one(f"SELECT {ARTICLE_COLUMNS} FROM articles a WHERE a.id = ?", (article_id,))
        return StoredArticle(*row) if row else None

    def article_with_text(self, content_hash: str, collections: Sequence[str] | None = None) -> StoredArticle | None:
        """An article of these collections whose cleaned text has this hash (the same text under any name)."""
        where, args = self._and(collections)
        row = self.db.one(
            f"SELECT {ARTICLE_COLUMNS} FROM articles a {where} a.content_hash = ? LIMIT 1", (*args, content_hash)
        )
        return StoredArticle(*row) if row else None

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        """The chunks with these ids (missing ids are left out)."""
        if not len(ids):
            return {}
        condition, args = self.db.one_of("id", [int(i) for i in ids])
        rows = self.db.rows(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE {condition}", args)
        return {row[0]: StoredChunk(*row) for row in rows}

    def span_text(self, article_id: str, start: int, end: int) -> str:
        """`text[start:end]` of an article, read without the rest of its text."""
        # substr counts characters from 1, as Python slices count them from 0.
        row = self.db.one("SELECT substr(text, ?, ?) FROM articles WHERE id = ?", (start + 1, end - start, article_id))
        return row[0] if row else ""

    def article_refs(self, ids: Sequence[str]) -> dict[str, ArticleRef]:
        """What quotes cite of these articles, by id, without reading their texts."""
        if not len(ids):
            return {}
        condition, args = self.db.one_of("a.id", list(ids))
        rows = self.db.rows(f"SELECT {_REF_COLUMNS} FROM articles a WHERE {condition}", args)
        return {row[0]: ArticleRef(*row) for row in rows}

    def story_members(self, story: str, collections: Sequence[str] | None = None, limit: int = 10) -> list[ArticleRef]:
        """The articles (of these collections) that tell one story, first published first (at most `limit`)."""
        where, args = self._and(collections)
        rows = self.db.rows(
            f"SELECT {_REF_COLUMNS} FROM articles a {where} "
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
            condition, args = self.db.one_of("id", list(ids))
            sql = f"{sql} AND {condition}"
        return {row[0]: (row[1], row[2], bytes(row[3])) for row in self.db.rows(sql, args)}

    def without_signature(self) -> list[tuple[str, str]]:
        """(id, text) of the articles an older version stored without a story signature."""
        return [(r[0], r[1]) for r in self.db.rows("SELECT id, text FROM articles WHERE signature IS NULL")]

    def all_chunks(self) -> list[StoredChunk]:
        """Every chunk, ascending by id."""
        return [StoredChunk(*row) for row in self.db.rows(f"SELECT {_CHUNK_COLUMNS} FROM chunks ORDER BY id")]

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceRows:
        """The sentences of these chunks, ordered by chunk id, then text."""
        rows: list[tuple] = []
        if len(chunk_ids):
            condition, args = self.db.one_of("chunk_id", [int(i) for i in chunk_ids])
            rows = self.db.rows(
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
            rows = self.db.rows(
                "SELECT c.id, a.collection, a.title, c.text FROM chunks c JOIN articles a "
                f"ON a.id = c.article_id WHERE c.id > ? ORDER BY c.id LIMIT {PAGE}",
                (after,),
            )
            if not rows:
                return
            yield from ((r[0], r[1], r[2], r[3]) for r in rows)
            after = rows[-1][0]

    def article_chunk_ids(self, article_id: str) -> list[int]:
        """The ids of an article's chunks, ascending."""
        return [r[0] for r in self.db.rows("SELECT id FROM chunks WHERE article_id = ? ORDER BY id", (article_id,))]

    def vector_batches(self, ids: Sequence[int] | np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 vectors) of the stored chunks in batches of up to PAGE, ascending by id: all of
        them, or those with these ids; read a page at a time."""
        if ids is not None:
            ordered = sorted(int(i) for i in ids)
            for start in range(0, len(ordered), PAGE):
                condition, args = self.db.one_of("id", ordered[start : start + PAGE])
                rows = self.db.rows(f"SELECT id, vector FROM chunks WHERE {condition} ORDER BY id", args, binary=True)
                if rows:
                    yield self._batch(rows)
            return
        after = 0
        while rows := self.db.rows(
            f"SELECT id, vector FROM chunks WHERE id > ? ORDER BY id LIMIT {PAGE}", (after,), binary=True
        ):
            yield self._batch(rows)
            after = rows[-1][0]

    def _batch(self, rows: Sequence[tuple]) -> tuple[np.ndarray, np.ndarray]:
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)), self._vectors([r[1] for r in rows])

    def stored_vectors(self, ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(those of these chunk ids that are stored, in order, and their vectors)."""
        wanted = [int(i) for i in ids]
        found: dict[int, Any] = {}
        if wanted:
            condition, args = self.db.one_of("id", wanted)
            found = dict(self.db.rows(f"SELECT id, vector FROM chunks WHERE {condition}", args, binary=True))
        kept = [i for i in wanted if i in found]
        return np.asarray(kept, dtype=np.int64), self._vectors([found[i] for i in kept])

    # -- writing ------------------------------------------------------------------------------

    def add(self, new: NewArticle) -> Change:
        """Store an article with its chunks, vectors and sentences in one transaction, replacing its old
        version; what changed: the old version's chunk ids removed, the new chunks added."""
        article, chunks = new.article, new.chunks
        if len(chunks) != len(new.vectors) or (len(new.vectors) and new.vectors.shape[1] != self.dim):
            raise ValueError("one vector of the index's dimension is needed per chunk")
        vectors = np.ascontiguousarray(new.vectors, dtype=np.float32)
        added_at = new.added_at or datetime.now(UTC).isoformat(timespec="seconds")
        collection = new.collection
        article_id = article_key(article.source, collection)
        with self.db.transaction():
            new_ids, old_ids, replaced = self._replace(article_id, len(chunks))
            old_story = replaced or ""
            self.db.change(
                f"INSERT INTO articles VALUES ({', '.join('?' * 14)})",
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
                    new.added_by,
                    added_at,
                    new.story or article_id,
                    new.signature,
                ),
            )
            self.db.change_many(
                f"INSERT INTO chunks ({_CHUNK_COLUMNS}, vector) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (i, article_id, c.start, c.end, c.paragraph, c.text, self._vector_value(v))
                    for i, c, v in zip(new_ids, chunks, vectors)
                ],
            )
            self.db.insert_many(
                "sentences",
                ("chunk_id", "start", "end", "vector", "terms", "cues"),
                # float16 halves the space; the cosines it gives differ by < 1e-3.
                [
                    (i, s.start, s.end, np.asarray(s.vector, dtype=np.float16).tobytes(), s.terms, s.cues)
                    for i, chunk_sentences in zip(new_ids, new.sentences)
                    for s in chunk_sentences
                ],
            )
            generation = self._log(article_id, old_story, old_ids, new_ids)
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
        with self.db.transaction():
            _, old_ids, old_story = self._replace(article_id, 0)
            if old_story is None:
                return None
            generation = self._log(article_id, old_story, old_ids, [])
        return Change(
            np.asarray(old_ids, dtype=np.int64), generation=generation, article_id=article_id, old_story=old_story
        )

    def _replace(self, article_id: str, new_chunks: int) -> tuple[list[int], list[int], str | None]:
        """Inside a transaction: take the writers' lock, give `new_chunks` chunk ids (before the delete,
        which may free the highest ids), and delete the article; (the new ids, its old chunk ids, its
        story, None if there was no such article)."""
        self._lock_writers()
        new_ids = self._new_chunk_ids(new_chunks)
        old_ids = self.article_chunk_ids(article_id)
        gone = self.db.one("DELETE FROM articles WHERE id = ? RETURNING story", (article_id,))
        return new_ids, old_ids, gone[0] if gone else None

    def set_signature(self, article_id: str, signature: bytes) -> None:
        """Store an article's story signature (an older version's article: a story of its own)."""
        with self.db.transaction():
            self.db.change(
                "UPDATE articles SET signature = ?, story = CASE WHEN story = '' THEN id ELSE story END WHERE id = ?",
                (signature, article_id),
            )

    def sentences_without_facts(self) -> Iterator[tuple[str, str, list[tuple[int, int, int]]]]:
        """Nothing: only an SQLite file written by an older version has sentences without their facts."""
        return iter(())

    def set_sentence_facts(self, facts: Sequence[tuple[str, int, int]]) -> None:
        raise NotImplementedError("only an SQLite file written by an older version has sentences without facts")

    def sentence_facts_done(self) -> None:
        pass

    def close(self) -> None:
        self.db.close()
