"""What the index needs of its database, whichever it is (`SQLiteStore` in a folder, `PostgresStore` shared
by several processes): the articles and their chunks and sentences, each write one transaction that
returns its `Change`, and the generations the derived indexes were saved at."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from ..records import Article, ArticleRef, Change, Chunk, NewSentence, SentenceRows, StoredArticle, StoredChunk


class Store(Protocol):
    """The source of truth: every add or remove is one transaction and returns the `Change` it made."""

    folder: Path
    dim: int
    #: True if other processes write the same database (PostgreSQL): their changes must be followed.
    shared: bool

    # -- reading --------------------------------------------------------------------------------
    def __len__(self) -> int: ...

    def count_chunks(self) -> int: ...

    def articles(self, collections: Sequence[str] | None = None) -> list[StoredArticle]: ...

    def article(self, article_id: str) -> StoredArticle | None: ...

    def article_with_text(
        self, content_hash: str, collections: Sequence[str] | None = None
    ) -> StoredArticle | None: ...

    def article_refs(self, ids: Sequence[str]) -> dict[str, ArticleRef]: ...

    def story_members(
        self, story: str, collections: Sequence[str] | None = None, limit: int = 10
    ) -> list[ArticleRef]: ...

    def chunk_ids(self, collections: Sequence[str] | None = None, since: str = "") -> np.ndarray: ...

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]: ...

    def all_chunks(self) -> list[StoredChunk]: ...

    def article_chunk_ids(self, article_id: str) -> list[int]: ...

    def chunk_texts(self, after: int = 0) -> Iterator[tuple[int, str, str, str]]: ...

    def span_text(self, article_id: str, start: int, end: int) -> str: ...

    def sentences(self, chunk_ids: Sequence[int]) -> SentenceRows: ...

    def vector_batches(
        self, ids: Sequence[int] | np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]: ...

    def signatures(self, ids: Sequence[str] | None = None) -> dict[str, tuple[str, str, bytes]]: ...

    def without_signature(self) -> list[tuple[str, str]]: ...

    # -- writing --------------------------------------------------------------------------------
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
    ) -> Change: ...

    def remove(self, article_id: str) -> Change | None: ...

    def set_signature(self, article_id: str, signature: bytes) -> None: ...

    def sentences_without_facts(self) -> Iterator[tuple[str, str, list[tuple[int, int, int]]]]: ...

    def set_sentence_facts(self, facts: Sequence[tuple[str, int, int]]) -> None: ...

    def sentence_facts_done(self) -> None: ...

    # -- keeping the derived indexes in step ----------------------------------------------------
    @property
    def generation(self) -> int: ...

    def saved_generation(self, derived: str) -> int: ...

    def set_saved_generation(self, derived: str, generation: int) -> None: ...

    def changes_after(self, generation: int) -> list[Change] | None: ...

    def listen(self, on_change: Callable[[], None], stop: threading.Event, quiet: float = 5.0) -> None:
        """Call `on_change` whenever another process may have committed a change, until `stop` is set."""
        ...

    def close(self) -> None: ...
