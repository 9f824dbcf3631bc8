"""The records the stages hand each other: an article as loaded, its chunks and spans, an article as
stored and what answers cite of it, the change a database commit made, and what adding one did."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np


def article_key(source: str, collection: str = "") -> str:
    """The id of the article from `source` in `collection` ("" is the collection every server sees)."""
    key = f"{collection}\n{source}" if collection else source
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Article:
    """One article: cleaned prose plus where it came from.

    `source` identifies the article (its URL, else its file path): the same source with new
    text is a new version of the same article.
    """

    title: str
    text: str
    source: str
    url: str = ""
    outlet: str = ""
    author: str = ""
    published: str = ""
    #: What the loader changed to keep the article within its work budget (see index/ingest/budget.py).
    notes: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


class Span(NamedTuple):
    """A half-open character range `[start, end)` of the article text."""

    start: int
    end: int


class Chunk(NamedTuple):
    """A chunk: whole sentences from one paragraph, with its exact place in the article."""

    start: int
    end: int
    paragraph: int  # 1-based paragraph number in the article
    text: str


@dataclass(frozen=True)
class StoredArticle:
    """An article as stored, with its bookkeeping."""

    id: str
    title: str
    text: str
    source: str
    url: str
    outlet: str
    author: str
    published: str
    content_hash: str
    collection: str
    added_by: str
    added_at: str
    chunks: int
    #: The story it tells (index/ingest/stories.py): the id of the article the story was first stored under.
    story: str = ""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk and its place in its article: `text == article.text[start:end]`."""

    id: int
    article_id: str
    start: int
    end: int
    paragraph: int
    text: str


class ArticleRef(NamedTuple):
    """What a quote or a source cites of its article (everything but the text)."""

    id: str
    title: str
    url: str
    outlet: str
    published: str
    story: str = ""
    added_at: str = ""


class NewSentence(NamedTuple):
    """A sentence of a chunk as stored: its span in the article, its vector in the chunk's context,
    and what the quote model reads of its words (index/answer/evidence.py: analysed terms, cue bits)."""

    start: int
    end: int
    vector: np.ndarray
    terms: str
    cues: int


@dataclass(frozen=True)
class NewArticle:
    """An article ready to store (what `Store.add` takes): its chunks with their vectors and sentences,
    and its bookkeeping."""

    article: Article
    chunks: Sequence[Chunk]
    #: One row per chunk, of the index's dimension.
    vectors: np.ndarray
    #: Per chunk, its sentences (spans in article coordinates).
    sentences: Sequence[Sequence[NewSentence]] = ()
    collection: str = ""
    added_by: str = ""
    #: The story it tells (index/ingest/stories.py); default: a story of its own.
    story: str = ""
    #: Its story signature, as index/ingest/stories.py packs it.
    signature: bytes | None = None
    #: When it was first added (ISO 8601); default now (a copy keeps the original's).
    added_at: str = ""


class SentenceRows(NamedTuple):
    """Stored sentences, one row each, ordered by chunk then text: what answering a question reads."""

    chunk_ids: np.ndarray  # int64
    starts: np.ndarray  # int64
    ends: np.ndarray  # int64
    vectors: np.ndarray  # (n, dim) float32
    terms: list[str]  # space-separated analysed terms
    cues: np.ndarray  # int64 cue bits (index/answer/evidence.py: SentenceCues)


def _no_vectors() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Change:
    """What one database commit did to the chunks of one article: the ids it removed and the chunks it
    added (with the article's collection and title when it added any)."""

    removed: np.ndarray  # int64 chunk ids
    added: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    collection: str = ""
    title: str = ""
    texts: tuple[str, ...] = ()  # the added chunks' texts
    vectors: np.ndarray = field(default_factory=_no_vectors)  # the added chunks' vectors, one row each
    #: The database's generation after this commit (each commit adds one).
    generation: int = 0
    #: The article changed, and the story it told before (index/ingest/stories.py; "" if it was new).
    article_id: str = ""
    old_story: str = ""


AddStatus = Literal["added", "updated", "unchanged", "duplicate"]


@dataclass(frozen=True)
class AddResult:
    """What adding one article did; `duplicate_of` names the article that already has its text."""

    article_id: str
    title: str
    status: AddStatus
    chunks: int
    duplicate_of: str = ""
    #: What loading changed to keep the article within its work budget (shortened, wrapped).
    notes: tuple[str, ...] = ()


class ArticleVersion(NamedTuple):
    """Which text of an article is stored: enough to tell a new or changed article from one seen before."""

    id: str
    collection: str
    content_hash: str
    title: str


@dataclass(frozen=True)
class StoredElsewhere:
    """An article another process stored in a shared database (new, or a new text of a known one), as this
    process learnt it from the database's change log; `collection` is the one it joined (index/storage/scope.py)."""

    result: AddResult
    collection: str
