"""An article exactly as stored (text, chunks, vectors, sentences with their facts, story, signature, when
it was added), read from one store and written to another: what migrating copies, nothing re-embedded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..records import Article, Change, Chunk, NewArticle, NewSentence, StoredArticle
from .base import Store


@dataclass(frozen=True)
class ArticleCopy:
    """One stored article with all that its store derived from it."""

    stored: StoredArticle
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # one row per chunk, float32
    sentences: tuple[tuple[NewSentence, ...], ...]  # per chunk
    signature: bytes | None  # its story signature (index/ingest/stories.py)


def copy_of(store: Store, article_id: str) -> ArticleCopy | None:
    """The article `article_id` as `store` holds it, or None."""
    stored = store.article(article_id)
    if stored is None:
        return None
    ids = store.article_chunk_ids(article_id)
    chunks = store.chunks(ids)
    vectors = np.concatenate([v for _, v in store.vector_batches(ids)]) if ids else np.zeros((0, store.dim), np.float32)
    rows = store.sentences(ids)
    sentences = tuple(
        tuple(
            NewSentence(int(rows.starts[i]), int(rows.ends[i]), rows.vectors[i], rows.terms[i], int(rows.cues[i]))
            for i in np.flatnonzero(rows.chunk_ids == chunk_id)
        )
        for chunk_id in ids
    )
    signature = store.signatures([article_id]).get(article_id)
    return ArticleCopy(
        stored,
        tuple(Chunk(chunks[i].start, chunks[i].end, chunks[i].paragraph, chunks[i].text) for i in ids),
        vectors,
        sentences,
        signature[2] if signature else None,
    )


def add_copy(store: Store, copy: ArticleCopy) -> Change:
    """Write `copy` to `store` in one transaction, as it was stored (collection, who added it and when)."""
    s = copy.stored
    return store.add(
        NewArticle(
            Article(s.title, s.text, s.source, s.url, s.outlet, s.author, s.published),
            copy.chunks,
            copy.vectors,
            copy.sentences,
            collection=s.collection,
            added_by=s.added_by,
            story=s.story,
            signature=copy.signature,
            added_at=s.added_at,
        )
    )
