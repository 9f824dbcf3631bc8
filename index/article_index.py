"""ArticleIndex: the few verbs everything else uses (add, remove, ask, search, list, save).

A facade over the database (index/storage/sqlite.py), the indexes derived from it (index/storage/derived.py: vectors,
lexical), which it keeps in step, and the retrieval pipeline (index/answer/retrieval.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .answer.evidence import QuestionCues
from .answer.followups import Turn, rewrite
from .answer.quotes import sentence_facts
from .answer.recency import recency_days
from .answer.results import Answer, Passage
from .answer.retrieval import Query, Retrieval, Retriever
from .encoders.base import Encoder
from .encoders.load import load_encoder
from .encoders.reader import reader_for
from .ingest.budget import Deadline
from .ingest.chunking import chunk_text, sentence_spans
from .ingest.stories import Signature, StoryKeeper
from .records import AddResult, Article, Chunk, NewSentence, Span, StoredArticle, StoredChunk, article_key
from .search.base import VectorIndex
from .search.bm25 import LexicalIndex
from .search.faiss_index import FaissVectorIndex
from .search.fusion import Mode
from .settings import Settings
from .storage.base import Store
from .storage.copy import ArticleCopy, add_copy, copy_of
from .storage.derived import DerivedIndexes
from .storage.scope import Scope
from .storage.sqlite import SQLiteStore

MAX_QUESTION_CHARS = 1000
_SURROGATE = re.compile("[\ud800-\udfff]")
_EVERYTHING = Scope.everything()


class QuestionError(ValueError):
    """The question cannot be asked (empty or too long)."""


@dataclass(frozen=True)
class Embedded:
    """An article chunked and embedded, ready to be stored (`ArticleIndex.embed`, `add_embedded`)."""

    article: Article
    chunks: tuple[Chunk, ...]
    vectors: np.ndarray  # one unit vector per chunk
    sentences: tuple[tuple[NewSentence, ...], ...]  # per chunk, its sentences with vectors and facts
    signature: Signature  # what recognises its near-copies (index/ingest/stories.py)


@dataclass(frozen=True)
class IndexStats:
    """What an index holds and how it searches."""

    articles: int
    passages: int
    vector_search: str  # "exact" or "ivf" (FAISS); "exact" or "ivfflat" (PostgreSQL)


def check_question(question: str) -> str:
    """The question stripped, or QuestionError saying why it cannot be asked."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty")
    question = question.strip()
    if _SURROGATE.search(question):
        # What Python makes of bytes that are not UTF-8 (in a command's arguments); no encoder takes them.
        raise QuestionError("the question is not UTF-8 text")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,})"
        )
    return question


class ArticleIndex:
    """A searchable collection of articles in one folder."""

    def __init__(self, folder: Path, encoder: Encoder, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.encoder = encoder
        self.folder = Path(folder)
        if self.settings.database_url:
            from .search.pgvector_index import PostgresVectorIndex
            from .storage.postgres import PostgresStore

            store = PostgresStore(self.settings.database_url, self.folder, encoder.name, encoder.dim)
            self.store: Store = store
            self.vectors: VectorIndex = PostgresVectorIndex(store)
        else:
            self.store = SQLiteStore(self.folder, encoder.name, encoder.dim)
            self.vectors = FaissVectorIndex(self.folder, self.store, self.settings.exact_limit)
        try:
            self._open_derived()
        except BaseException:
            self.store.close()  # a PostgreSQL store holds a pool of connections
            raise

    def _open_derived(self) -> None:
        """Open the derived indexes, bring them up to the database, and follow other processes' changes."""
        if self.store.saved_generation(LexicalIndex.name) < 0:
            # Never saved against this database (another database's folder, say, after a migration): the
            # chunk ids it holds may name other chunks here, so it is rebuilt from nothing.
            self.lexical = LexicalIndex.recreate(self.folder / "lexical")
        else:
            self.lexical = LexicalIndex.load(self.folder / "lexical")
        # Searches see either all of an add or none of it; the slow embedding happens outside.
        self._lock = threading.RLock()
        self._stories = StoryKeeper(self.store)
        self._derived = DerivedIndexes(
            self.store, (self.vectors, self.lexical), self._lock, self._stories.after, self._stories.reset
        )
        self._add_sentence_facts()
        self._retriever = Retriever(
            self.store, self.vectors, self.lexical, reader_for if self.settings.reader else None
        )
        self._derived.follow_others()

    @classmethod
    def open(cls, settings: Settings) -> ArticleIndex:
        """Open (or create) the index folder of `settings` with its model, loaded once per process."""
        return cls(settings.index_dir, load_encoder(settings), settings)

    def close(self) -> None:
        """Close the database (the derived indexes are saved as they change, or by `save`)."""
        self._derived.stop()
        self.vectors.close()
        with self._lock:
            self.store.close()

    def __enter__(self) -> ArticleIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.store)

    @property
    def generation(self) -> int:
        """The database's generation that searches see: each committed change, this process's or
        another's, adds one once the derived indexes took it."""
        return self._derived.generation

    def stats(self) -> IndexStats:
        with self._lock:
            return IndexStats(len(self.store), self.store.count_chunks(), self.vectors.kind)

    def warm_up(self) -> None:
        """Do what the first question would otherwise wait for: its first search reads the lexical index, and it
        loads the reader."""
        with self._lock:
            self.lexical.top(["news"], 1)
        if self.settings.reader:
            reader_for()  # loaded once per process, by the first question otherwise

    # -- adding and removing ------------------------------------------------------------------

    def add(
        self, article: Article, scope: Scope = _EVERYTHING, added_by: str = "", deadline: Deadline | None = None
    ) -> AddResult:
        """Add an article, replace its older version, or recognise it as already there.

        Args:
            article: the article to add.
            scope: where it is added: a server's scope keeps it to that server; the default
                (the command line's) shares it with every server.
            added_by: who added it, for the record.
            deadline: a time budget; past it (or once cancelled) the add is abandoned with
                BudgetExceeded before anything is stored.
        """
        return self.add_many([article], scope, added_by, deadline)[0]

    def add_many(
        self,
        articles: Sequence[Article],
        scope: Scope = _EVERYTHING,
        added_by: str = "",
        deadline: Deadline | None = None,
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
                results.append(AddResult(key, article.title, "unchanged", current.passages))
            elif twin is not None and twin.id != key:
                results.append(AddResult(key, article.title, "duplicate", twin.passages, twin.id))
            elif in_batch.get(article.content_hash, key) != key:
                results.append(AddResult(key, article.title, "duplicate", 0, in_batch[article.content_hash]))
            else:
                in_batch[article.content_hash] = key
                new.append(article)
                results.append(None)  # filled in once the batch is stored
        stored = iter(self.add_embedded(self.embed(new, deadline), scope, added_by, deadline) if new else [])
        return [r if r is not None else next(stored) for r in results]

    def passage_texts(self, article: Article, chunks: Sequence[Chunk] | None = None) -> list[str]:
        """What the model embeds of each of the article's passages (the title, as context, and the passage)."""
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
            for c, text in zip(chunks, self.passage_texts(article, chunks)):
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
        analyze = self.lexical.analyzer.terms
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
        scope: Scope = _EVERYTHING,
        added_by: str = "",
        deadline: Deadline | None = None,
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
                            item.article,
                            item.chunks,
                            item.vectors,
                            item.sentences,
                            collection=scope.owner,
                            added_by=added_by,
                            story=story,
                            signature=item.signature.to_bytes(),
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

    def remove(self, article_id: str) -> bool:
        """Remove an article; False if there was none with that id."""
        with self._lock:
            change = self.store.remove(article_id)
            if change is not None:
                self._derived.apply(change)
                self._derived.commit()
            return change is not None

    def save(self) -> None:
        """Make everything durable (the database and the lexical index already are after each change;
        this writes the vector index)."""
        self._derived.save()

    def _add_sentence_facts(self) -> None:
        """Read the terms and cues of sentences that an older version stored without them, once."""
        analyze = self.lexical.analyzer.terms
        for _, text, rows in self.store.sentences_without_facts():
            facts = sentence_facts(text, [Span(start, end) for _, start, end in rows], analyze)
            self.store.set_sentence_facts([(*fact, rowid) for fact, (rowid, _, _) in zip(facts, rows)])
        self.store.sentence_facts_done()

    # -- reading ------------------------------------------------------------------------------

    def articles(self, scope: Scope = _EVERYTHING) -> list[StoredArticle]:
        """The articles `scope` sees, newest first."""
        return self.store.articles(scope.collections)

    def article(self, article_id: str, scope: Scope = _EVERYTHING) -> StoredArticle | None:
        """The article with this id, if `scope` sees it."""
        article = self.store.article(article_id)
        return article if article is not None and scope.sees(article.collection) else None

    def passages(self, article_id: str) -> list[StoredChunk]:
        """The passages of an article as stored, in order."""
        return sorted(self.store.chunks(self.store.article_chunk_ids(article_id)).values(), key=lambda c: c.start)

    def copy(self, article_id: str) -> ArticleCopy | None:
        """The article exactly as stored, with its passages, vectors and sentences, for another index to
        `restore` (migrating between stores); None if there is no such article."""
        return copy_of(self.store, article_id)

    def restore(self, copy: ArticleCopy) -> None:
        """Store a copy made by another index's `copy`, replacing an older version. Only the database
        takes it: the derived indexes catch up when the index is opened next (as after a crash), so a
        migration writes many articles without rebuilding them each time."""
        with self._lock:
            add_copy(self.store, copy)

    def passage_vectors(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(passage ids, their exact float32 vectors) of every stored passage, in batches (for measuring
        how near approximate vector search comes to exact)."""
        return self.store.vector_batches()

    # -- searching and asking -----------------------------------------------------------------

    def ask(
        self,
        question: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        scope: Scope = _EVERYTHING,
        after: Turn | None = None,
    ) -> Answer:
        """Answer with verbatim quotes, or say nothing was found and name the nearest sources.

        Args:
            question: the user's question.
            k: the most quotes to return (default: the `top_k` setting).
            mode: how passages are retrieved (index/search/fusion.py).
            scope: search only what this scope sees (default: every article).
            after: the turn this question follows in a conversation: a follow-up ("what about
                France?") is rewritten to stand alone (index/answer/followups.py), and the answer says
                what was searched.
        """
        return self.retrieve(question, k, mode, scope, after=after).answer

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        scope: Scope = _EVERYTHING,
        depth: int = 0,
        after: Turn | None = None,
    ) -> Retrieval:
        """`ask`, with how the answer was found: the ranked passages (at least `depth` of them), the
        sentences the quotes were chosen from, and the time of each stage."""
        question = check_question(question)
        searched = check_question(rewrite(question, after)) if after is not None else question
        started = time.perf_counter()
        query = self._query(searched)
        embedded = time.perf_counter()
        with self._lock:
            found = self._retriever.answer(query, k or self.settings.top_k, self.settings.min_score, mode, scope, depth)
        answer = replace(found.answer, question=question, searched=searched if searched != question else "")
        return Retrieval(answer, found.passages, found.candidates, {"embed": embedded - started, **found.timings})

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid", scope: Scope = _EVERYTHING) -> list[Passage]:
        """The `k` passages that best match the question, best first."""
        query = self._query(check_question(question))
        with self._lock:
            return self._retriever.rank(query, k, mode, scope).passages

    def _query(self, question: str) -> Query:
        return Query(
            question,
            self.encoder.encode([question])[0],
            tuple(self.lexical.analyzer.terms(question)),
            QuestionCues.of(question),
            recency_days(question),
        )
