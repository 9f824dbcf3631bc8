"""The article store in an SQLite file in the index folder (index/storage/sql_store.py has the SQL):
what SQLite does its own way. One process owns the folder, so there are no other processes'
changes to follow; the generation and the generations the derived indexes were saved at live in
the `meta` table, and vectors are stored as float32 blobs (FAISS, index/search/faiss_index.py,
searches them).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..records import Change
from .database import SQLiteDatabase
from .sql_store import SCHEMA, SQLStore

DB_NAME = "articles.sqlite3"

#: Columns added since the first schema, with their definitions in it.
# Each sentence's terms and cues are filled in by `ArticleIndex`, which has the analyzer: the meta row says
# they are missing, so that opening never scans the sentences to find out.
_FACTS_MISSING = (
    "INSERT INTO meta VALUES ('sentence_facts', 'missing') ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# (table, column, definition, what fills it in an older index)
_ADDED_COLUMNS = (
    (
        "chunks",
        "text",
        "TEXT NOT NULL DEFAULT ''",
        "UPDATE chunks SET text = (SELECT substr(a.text, chunks.start + 1, chunks.end - chunks.start) "
        "FROM articles a WHERE a.id = chunks.article_id)",
    ),
    ("sentences", "terms", "TEXT NOT NULL DEFAULT ''", _FACTS_MISSING),
    ("sentences", "cues", "INTEGER NOT NULL DEFAULT -1", _FACTS_MISSING),
    ("articles", "story", "TEXT NOT NULL DEFAULT ''", ""),
    ("articles", "signature", "BLOB", ""),
)


class SQLiteStore(SQLStore):
    """Articles, chunks and vectors in one folder. Methods are safe to call from several threads."""

    #: Whether other processes may change the database (index/storage/postgres.py): this process owns it.
    shared = False

    def __init__(self, folder: Path, model: str, dim: int) -> None:
        """Open or create the database in `folder`, for vectors of `model` with `dim` dimensions."""
        self.folder = Path(folder)
        self.dim = dim
        self._where, self._elsewhere = str(self.folder), "another index folder"
        self.db = SQLiteDatabase(self.folder / DB_NAME, durable=True, label="the index database")
        try:
            self._add_columns()  # before the schema, whose indexes name the added columns
            self.db.apply(SCHEMA.format(bigint="INTEGER", blob="BLOB", vector="BLOB"))
            self._check_model(model, dim)
        except sqlite3.Error as exc:
            self.db.close()
            raise StoreError(f"{self.folder}: cannot open the index database ({exc})") from None
        except BaseException:
            self.db.close()
            raise

    # -- what SQLite does its own way ------------------------------------------------------------

    def _first_meta(self) -> dict[str, str]:
        return {"generation": "0"}

    def _new_chunk_ids(self, count: int) -> list[int]:
        """Above every id ever given: kept in meta, since removing the newest chunks frees theirs."""
        highest = self.db.rows("SELECT MAX(id) FROM chunks")[0][0] or 0
        first = max(int(self._meta("next_chunk_id") or 1), highest + 1)
        self._set_meta("next_chunk_id", str(first + count))
        return list(range(first, first + count))

    def _vector_value(self, vector: np.ndarray) -> Any:
        return vector.tobytes()

    def _vectors(self, values: Sequence[Any]) -> np.ndarray:
        return np.frombuffer(b"".join(values), dtype=np.float32).reshape(len(values), self.dim)

    def _log(self, article_id: str, old_story: str, removed: Sequence[int], added: Sequence[int]) -> int:
        self.db.change("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
        return int(self._meta("generation") or 0)

    @property
    def generation(self) -> int:
        """Counts committed changes."""
        return int(self._meta("generation") or 0)

    def saved_generation(self, derived: str) -> int:
        """The generation the derived index named `derived` was last saved at (-1: never)."""
        return int(self._meta(f"saved:{derived}") or -1)

    def set_saved_generation(self, derived: str, generation: int) -> None:
        with self.db.transaction():
            self._set_meta(f"saved:{derived}", str(generation))

    def listen(self, on_change: Callable[[], None], stop: threading.Event, quiet: float = 5.0) -> None:
        """Nothing to follow: a folder's database is written by one process (`shared` is False)."""

    def changes_after(self, generation: int) -> list[Change] | None:
        """The changes other processes committed after `generation`: none, since one process owns an
        SQLite index (the PostgreSQL store, index/storage/postgres.py, is the one several processes share)."""
        return []

    # -- an index an older version made ---------------------------------------------------------

    def _add_columns(self) -> None:
        """Bring an index made by an older version up to the schema: the text of each chunk, so that
        answering never reads whole articles; the terms and cues of each sentence, which the quote
        model reads (filled in by `ArticleIndex`, which has the analyzer)."""
        for table, column, definition, fill in _ADDED_COLUMNS:
            self.db.add_column(table, column, definition, fill)

    def sentences_without_facts(self) -> Iterator[tuple[str, str, list[tuple[int, int, int]]]]:
        """(article id, text, [(sentence rowid, start, end)]) of each article whose sentences were stored
        without their terms and cues (by an older version); `sentence_facts_done` once all are filled in."""
        if self._meta("sentence_facts") != "missing":
            return
        ids = [
            r[0]
            for r in self.db.rows(
                "SELECT DISTINCT c.article_id FROM sentences s JOIN chunks c ON c.id = s.chunk_id WHERE s.cues = -1"
            )
        ]
        for article_id in ids:
            text = self.db.one("SELECT text FROM articles WHERE id = ?", (article_id,))
            rows = self.db.rows(
                'SELECT s.rowid, s.start, s."end" FROM sentences s JOIN chunks c ON c.id = s.chunk_id '
                "WHERE c.article_id = ? AND s.cues = -1",
                (article_id,),
            )
            if text is not None:
                yield article_id, text[0], [(r[0], r[1], r[2]) for r in rows]

    def sentence_facts_done(self) -> None:
        """Every sentence has its terms and cues now."""
        if self._meta("sentence_facts") is not None:
            with self.db.transaction():
                self.db.change("DELETE FROM meta WHERE key = 'sentence_facts'")

    def set_sentence_facts(self, facts: Sequence[tuple[str, int, int]]) -> None:
        """Store (terms, cues, sentence rowid) rows, in one transaction."""
        with self.db.transaction():
            self.db.change_many("UPDATE sentences SET terms = ?, cues = ? WHERE rowid = ?", facts)
