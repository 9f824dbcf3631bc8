"""Adding articles: copies recognised (the same source unchanged, the same text elsewhere), then chunked and
embedded (each chunk and its sentences in one forward pass), then stored, each in its own transaction,
with the story it tells; the derived indexes take each change as it is committed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from .answer.quotes import sentence_facts
from .encoders.base import Encoder
from .ingest.budget import Deadline
from .ingest.chunking import chunk_text, sentence_spans
from .ingest.stories import Signature, StoryKeeper
from .records import AddResult, Article, Chunk, NewArticle, NewSentence, Span, article_key
from .settings import Settings
from .storage.base import Store
from .storage.derived import DerivedIndexes
from .storage.scope import Scope


@dataclass(frozen=True)
class Embedded:
    """An article chunked and embedded, ready to be stored (`ArticleIndex.embed`, `add_embedded`)."""

    article: Article
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # one unit vector per chunk
    sentences: tuple[tuple[NewSentence, ...], ...]  # per chunk, its sentences with vectors and facts
    signature: Signature  # what recognises its near-copies (index/ingest/stories.py)


class Adder:
    """The add path of an index: it shares the index's database, encoder, story keeper, derived indexes and
    lock (searches see either all of an add or none of it; the slow embedding happens outside it)."""

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        settings: Settings,
        analyze: Callable[[str], list[str]],
        stories: StoryKeeper,
        derived: DerivedIndexes,
        lock: threading.RLock,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.settings = settings
        self._analyze = analyze  # the lexical index's analyzer: the terms the quote model reads
        self._stories = stories
        self._derived = derived
        self._lock = lock

    def add_many(
        self,
        articles: Sequence[Article],
        scope: Scope,
        added_by: str,
        deadline: Deadline | None,
    ) -> list[AddResult]:
        """`add` for several articles, embedded together; each is still stored in its own transaction."""
        results: list[AddResult | None] = []
        new: list[Article] = []
        in_batch: dict[str, str] = {}  # content hash → id, for copies within this batch
        for article in articles:
            key = article_key(article.source, scope.owner)
            current = self.store.article(key)
            # A copy counts if the collection the article joins sees it.
            twin = self.store.article_with_text(article.content_hash, Scope(scope.owner).collections)
            if current is not None and current.content_hash == article.content_hash:
                results.append(AddResult(key, article.title, "unchanged", current.chunks))
            elif twin is not None and twin.id != key:
                results.append(AddResult(key, article.title, "duplicate", twin.chunks, twin.id))
            elif in_batch.get(article.content_hash, key) != key:
                results.append(AddResult(key, article.title, "duplicate", 0, in_batch[article.content_hash]))
            else:
                in_batch[article.content_hash] = key
                new.append(article)
                results.append(None)  # filled in once the batch is stored
        stored = iter(self.add_embedded(self.embed(new, deadline), scope, added_by, deadline) if new else [])
        return [r if r is not None else next(stored) for r in results]

    def texts_to_embed(self, article: Article, chunks: Sequence[Chunk] | None = None) -> list[str]:
        """What the model embeds of each of the article's chunks (the title, as context, and the chunk)."""
        chunks = self.chunk(article) if chunks is None else chunks
        title = article.title if self.settings.title_context else ""
        return [f"{title}\n{c.text}" if title else c.text for c in chunks]

    def chunk(self, article: Article) -> list[Chunk]:
        """The article's chunks, sized so that title context plus chunk fit the model."""
        budget = self.encoder.max_tokens - 2
        if self.settings.title_context and article.title:
            title_tokens = self.encoder.count_tokens([article.title])[0] + 1
            if title_tokens <= budget // 3:
                budget -= title_tokens
        return chunk_text(article.text, self.encoder.count_tokens, budget)

    def embed(self, articles: Sequence[Article], deadline: Deadline | None = None) -> list[Embedded]:
        """Chunk and embed articles, each chunk and each of its sentences, in one forward pass over all
        their chunks (shared batches keep the encoder busy). With a deadline, one batch at a time,
        the deadline checked between batches. Nothing is stored (`add_embedded` does)."""
        chunked = [(article, self.chunk(article)) for article in articles]
        texts, local, spans_of = [], [], []
        for article, chunks in chunked:
            for c, text in zip(chunks, self.texts_to_embed(article, chunks)):
                spans = sentence_spans(article.text, c.start, c.end)
                offset = len(text) - len(c.text) - c.start  # article offsets → offsets in the embedded text
                texts.append(text)
                local.append([(s + offset, e + offset) for s, e in spans])
                spans_of.append(spans)
        step = self.encoder.batch_size if deadline is not None else max(len(texts), 1)
        parts = []
        for start in range(0, len(texts), step):
            if deadline is not None:
                deadline.check()
            parts.append(self.encoder.encode_with_spans(texts[start : start + step], local[start : start + step]))
        vectors = np.concatenate([v for v, _ in parts]) if parts else np.zeros((0, self.encoder.dim), np.float32)
        pooled = [p for _, part in parts for p in part]
        embedded, at = [], 0
        analyze = self._analyze
        for article, chunks in chunked:
            rows = range(at, at + len(chunks))
            spans = [Span(s, e) for i in rows for s, e in spans_of[i]]
            facts = iter(sentence_facts(article.text, spans, analyze))
            sentences = tuple(
                tuple(NewSentence(s, e, v, *next(facts)) for (s, e), v in zip(spans_of[i], pooled[i])) for i in rows
            )
            embedded.append(
                Embedded(article, tuple(chunks), vectors[at : at + len(chunks)], sentences, Signature.of(article.text))
            )
            at += len(chunks)
        return embedded

    def add_embedded(
        self,
        items: Sequence[Embedded],
        scope: Scope,
        added_by: str,
        deadline: Deadline | None,
    ) -> list[AddResult]:
        """Store embedded articles, each in its own transaction and replacing its older version (what
        `add_many` does after its checks for copies; for callers that embed once and store often)."""
        results = []
        with self._lock:
            try:
                for item in items:
                    key = article_key(item.article.source, scope.owner)
                    story = self._stories.story_of(key, item.signature, scope.owner)
                    with deadline.committing() if deadline else nullcontext():
                        existed = self.store.article(key) is not None
                        change = self.store.add(
                            NewArticle(
                                item.article,
                                item.chunks,
                                item.vectors,
                                item.sentences,
                                collection=scope.owner,
                                added_by=added_by,
                                story=story,
                                signature=item.signature.to_bytes(),
                            )
                        )
                    self._derived.apply(change)
                    results.append(
                        AddResult(
                            article_key(item.article.source, scope.owner),
                            item.article.title,
                            "updated" if existed else "added",
                            len(item.chunks),
                            notes=item.article.notes,
                        )
                    )
            finally:  # what the database took, the derived indexes take too, even if a later article failed
                self._derived.commit()
        return results
