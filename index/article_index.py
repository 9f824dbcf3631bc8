"""ArticleIndex: the few verbs everything else uses (add, remove, search, ask, save)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from .articles import Article, article_key
from .budget import Deadline
from .chunking import Chunk, Span, chunk_text, paragraph_spans, sentence_spans
from .embedder import Encoder, embedder_for
from .evidence import QuestionCues
from .lexical import LexicalError, LexicalIndex
from .quotes import PASSAGES_READ, ScoredSentence, score_sentences, select_quotes, sentence_facts, weigh_sentences
from .results import Answer, Passage, SourceMatch
from .search import Mode, retrieve
from .settings import Settings
from .store import ArticleRef, NewSentence, Store, StoredArticle
from .vectors import Selection

MAX_QUESTION_CHARS = 1000
NEAREST_SOURCES = 3
#: Candidates re-ranked by their best sentence, and that sentence's share of the passage score.
RERANK_DEPTH = 30
SENTENCE_WEIGHT = 0.6
AddStatus = Literal["added", "updated", "unchanged", "duplicate"]


#: Chunks handed to the lexical index at a time when it catches up with the database.
_CATCH_UP_BATCH = 20_000


class _Visible(NamedTuple):
    """The chunks one collection may search, as a FAISS selection, for one generation of the store."""

    generation: int
    selection: Selection


class _Retrieval(NamedTuple):
    passages: list[Passage]
    articles: dict[str, ArticleRef]
    sentences: list[ScoredSentence]


class QuestionError(ValueError):
    """The question cannot be asked (empty or too long)."""


@dataclass(frozen=True)
class AddResult:
    """What adding one article did; `duplicate_of` names the article that already has its text."""

    article_id: str
    title: str
    status: AddStatus
    passages: int
    duplicate_of: str = ""
    #: What loading changed to keep the article within its work budget (shortened, wrapped).
    notes: tuple[str, ...] = ()


def visible_collections(collection: str | None) -> tuple[str, ...] | None:
    """What a collection sees: its own articles and the shared ones; None (no limit) for None."""
    if collection is None:
        return None
    return ("", collection) if collection else ("",)


def check_question(question: str) -> str:
    """The question stripped, or QuestionError saying why it cannot be asked."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty")
    question = question.strip()
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is too long ({len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,})")
    return question


class ArticleIndex:
    """A searchable collection of articles in one folder."""

    def __init__(self, folder: Path, embedder: Encoder, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder
        self.store = Store(Path(folder), embedder.name, embedder.dim, self.settings.exact_limit)
        self._visible: dict[tuple[str, ...], _Visible] = {}
        # Searches see either all of an add or none of it; the slow embedding happens outside.
        self._lock = threading.RLock()
        self.lexical = self._open_lexical()
        self._add_sentence_facts()

    @classmethod
    def open(cls, settings: Settings) -> ArticleIndex:
        """Open (or create) the index folder of `settings` with its model, loaded once per process."""
        return cls(settings.index_dir, embedder_for(settings), settings)

    def __len__(self) -> int:
        return len(self.store)

    def warm_up(self) -> None:
        """Do what the first question would otherwise wait for (its first search reads the lexical index)."""
        with self._lock:
            self.lexical.top(["news"], 1)

    # -- adding and removing ------------------------------------------------------------------

    def _embedding_text(self, title: str, passage: str) -> str:
        return f"{title}\n{passage}" if self.settings.title_context and title else passage

    def chunk(self, article: Article) -> list[Chunk]:
        """The article's chunks, sized so that title context plus chunk fit the model."""
        budget = self.embedder.max_tokens - 2
        if self.settings.title_context and article.title:
            title_tokens = self.embedder.count_tokens([article.title])[0] + 1
            if title_tokens <= budget // 3:
                budget -= title_tokens
        return chunk_text(article.text, self.embedder.count_tokens, budget)

    def _embed(self, work: Sequence[tuple[Article, Sequence[Chunk]]],
               deadline: Deadline | None = None) -> list[tuple[np.ndarray, list[list[tuple[int, int, np.ndarray]]]]]:
        """Per article, its chunk vectors and each chunk's sentences with vectors, from one forward pass
        over all the articles' chunks (shared batches keep the encoder busy). With a deadline, the
        chunks are embedded one batch at a time, and the deadline checked between batches."""
        texts, local, spans_of = [], [], []
        for article, chunks in work:
            for c in chunks:
                text = self._embedding_text(article.title, c.text)
                spans = sentence_spans(article.text, c.start, c.end)
                offset = len(text) - len(c.text) - c.start
                texts.append(text)
                local.append([(s + offset, e + offset) for s, e in spans])
                spans_of.append(spans)
        if deadline is None:
            vectors, pooled = self.embedder.encode_with_spans(texts, local)
        else:
            step = self.embedder.batch_size
            parts = []
            for start in range(0, len(texts), step):
                deadline.check()
                parts.append(self.embedder.encode_with_spans(texts[start:start + step], local[start:start + step]))
            vectors = np.concatenate([v for v, _ in parts]) if parts else np.zeros((0, self.embedder.dim), np.float32)
            pooled = [p for _, part in parts for p in part]
        out, at = [], 0
        for _, chunks in work:
            rows = range(at, at + len(chunks))
            out.append((vectors[at:at + len(chunks)],
                        [[(s, e, v) for (s, e), v in zip(spans_of[i], pooled[i])] for i in rows]))
            at += len(chunks)
        return out

    def add(self, article: Article, collection: str = "", added_by: str = "",
            deadline: Deadline | None = None) -> AddResult:
        """Add an article, replace its older version, or recognise it as already there.

        Args:
            article: the article to add.
            collection: whose it is: "" is seen by everyone (seeds, the command line), a server's
                id keeps it to that server.
            added_by: who added it, for the record.
            deadline: a time budget; past it (or once cancelled) the add is abandoned with
                BudgetExceeded before anything is stored.
        """
        return self.add_many([article], collection, added_by, deadline)[0]

    def add_many(self, articles: Sequence[Article], collection: str = "", added_by: str = "",
                 deadline: Deadline | None = None) -> list[AddResult]:
        """`add` for several articles, embedded together; each is still stored in its own transaction."""
        results: list[AddResult | None] = []
        work: list[tuple[int, Article, str, bool, list[Chunk]]] = []
        in_batch: dict[str, str] = {}  # content hash → id, for copies within this batch
        for article in articles:
            key = article_key(article.source, collection)
            current = self.store.article(key)
            twin = self.store.article_with_text(article.content_hash, visible_collections(collection))
            if current is not None and current.content_hash == article.content_hash:
                results.append(AddResult(key, article.title, "unchanged", current.passages))
            elif twin is not None and twin.id != key:
                results.append(AddResult(key, article.title, "duplicate", twin.passages, twin.id))
            elif in_batch.get(article.content_hash, key) != key:
                results.append(AddResult(key, article.title, "duplicate", 0, in_batch[article.content_hash]))
            else:
                in_batch[article.content_hash] = key
                work.append((len(results), article, key, current is not None, self.chunk(article)))
                results.append(None)  # filled in once the batch is embedded
        embedded = self._embed([(article, chunks) for _, article, _, _, chunks in work], deadline) if work else []
        with self._lock:
            try:
                for (position, article, key, existed, chunks), (vectors, sentences) in zip(work, embedded):
                    self._store(article, chunks, vectors, sentences, collection, added_by, deadline)
                    results[position] = AddResult(key, article.title, "updated" if existed else "added", len(chunks),
                                                  notes=article.notes)
            finally:  # what the database took, the lexical index takes too, even if a later article failed
                self.lexical.commit()
        return [r for r in results if r is not None]

    def store_embedded(self, items: Sequence[tuple[Article, Sequence[Chunk], np.ndarray,
                                                   Sequence[Sequence[tuple[int, int, np.ndarray]]]]],
                       collection: str = "", added_by: str = "") -> None:
        """Store articles whose chunks are already embedded, as (article, chunks, chunk vectors, per chunk its
        sentences as (start, end, vector)), each replacing its old version; what `add_many` does after embedding."""
        with self._lock:
            try:
                for article, chunks, vectors, sentences in items:
                    self._store(article, chunks, vectors, sentences, collection, added_by)
            finally:
                self.lexical.commit()

    def _store(self, article: Article, chunks: Sequence[Chunk], vectors: np.ndarray,
               sentences: Sequence[Sequence[tuple[int, int, np.ndarray]]],
               collection: str, added_by: str, deadline: Deadline | None = None) -> None:
        """One article into the database (one transaction) and its chunks into the lexical index's next commit."""
        key = article_key(article.source, collection)
        texts = [self._embedding_text(article.title, c.text) for c in chunks]
        starts = {p.start for p in paragraph_spans(article.text)}
        analyze = self.lexical.analyzer.terms
        sentences = [[NewSentence(start, end, vector,
                                  *sentence_facts(article.text, Span(start, end), start in starts, analyze))
                      for start, end, vector in chunk_sentences] for chunk_sentences in sentences]
        with deadline.committing() if deadline else nullcontext():
            old_ids = self.store.article_chunk_ids(key)
            new_ids = self.store.add(article, chunks, vectors, sentences, collection=collection, added_by=added_by)
        self.lexical.remove(old_ids)
        self.lexical.add(new_ids, texts, collection)

    def remove(self, article_id: str) -> bool:
        """Remove an article; False if there was none with that id."""
        with self._lock:
            old_ids = self.store.article_chunk_ids(article_id)
            removed = self.store.remove(article_id)
            if removed:
                self.lexical.remove(old_ids)
                self.lexical.commit()
            return removed

    def save(self) -> None:
        """Persist the vector index (the database and the lexical index are durable after each change)."""
        with self._lock:
            self.store.save()

    # -- the lexical index, kept in step with the store ------------------------------------------

    def _open_lexical(self) -> LexicalIndex:
        """The lexical index in the folder, rebuilt if damaged, caught up with the database."""
        folder = self.store.folder / "lexical"
        try:
            lexical = LexicalIndex(folder)
        except LexicalError:
            lexical = LexicalIndex.recreate(folder)
        newest, count = self.store.newest_chunk_id(), self.store.count_chunks()
        if lexical.newest() == newest and len(lexical) == count:
            return lexical
        # A crash between a database commit and the lexical commit after it. Chunk ids only grow, so
        # the adds it missed are the chunks above its newest; the removals it missed are what it holds
        # beyond the database.
        batch: list[tuple[int, str, str]] = []
        for row in self.store.chunk_texts(self._embedding_text, after=lexical.newest()):
            batch.append(row)
            if len(batch) == _CATCH_UP_BATCH:
                self._catch_up(lexical, batch)
                batch = []
        self._catch_up(lexical, batch)
        lexical.commit()
        if len(lexical) != count:
            lexical.remove(np.setdiff1d(lexical.chunk_ids(), self.store.chunk_ids(), assume_unique=True))
            lexical.commit()
        return lexical

    def _add_sentence_facts(self) -> None:
        """Read the terms and cues of sentences that an older version stored without them, once."""
        analyze = self.lexical.analyzer.terms
        for _, text, rows in self.store.sentences_without_facts():
            starts = {p.start for p in paragraph_spans(text)}
            self.store.set_sentence_facts([(*sentence_facts(text, Span(start, end), start in starts, analyze), rowid)
                                           for rowid, start, end in rows])
        self.store.sentence_facts_done()

    @staticmethod
    def _catch_up(lexical: LexicalIndex, rows: Sequence[tuple[int, str, str]]) -> None:
        """Add (chunk id, collection, text) rows, grouped by collection."""
        collections = sorted({collection for _, collection, _ in rows})
        for collection in collections:
            lexical.add([i for i, c, _ in rows if c == collection], [t for _, c, t in rows if c == collection], collection)

    def articles(self, collection: str | None = None) -> list[StoredArticle]:
        """The articles a collection sees (default: all), newest first."""
        return self.store.articles(visible_collections(collection))

    def article(self, article_id: str, collection: str | None = None) -> StoredArticle | None:
        """The article with this id, if `collection` (default: any) can see it."""
        article = self.store.article(article_id)
        visible = visible_collections(collection)
        return article if article is not None and (visible is None or article.collection in visible) else None

    def _visible_chunks(self, collections: tuple[str, ...]) -> Selection:
        """The chunks `collections` may search, computed once per change of the index."""
        generation = self.store.generation
        cached = self._visible.get(collections)
        if cached is None or cached.generation != generation:
            cached = _Visible(generation, Selection(self.store.chunk_ids(collections)))
            self._visible[collections] = cached
        return cached.selection

    # -- searching and asking -----------------------------------------------------------------

    def _retrieve(self, query_vector: np.ndarray, terms: Sequence[str], k: int, mode: Mode,
                  collection: str | None = None, cues: QuestionCues = QuestionCues("", False)) -> _Retrieval:
        """The best `k` passages (in hybrid mode re-ranked by their best sentence), with what quoting them needs."""
        rerank = mode == "hybrid" and SENTENCE_WEIGHT > 0
        depth = max(k, RERANK_DEPTH) if rerank else k
        collections = visible_collections(collection)
        hits = retrieve(self.store, self.lexical, query_vector, terms, depth, mode, collections=collections,
                        allowed=self._visible_chunks(collections) if collections is not None else None)
        chunks = self.store.chunks([h[0] for h in hits])
        articles = self.store.article_refs(list({c.article_id for c in chunks.values()}))
        passages = [Passage(chunk_id, c.article_id, c.start, c.end, c.paragraph, c.text, score, dense, lexical)
                    for chunk_id, score, dense, lexical in hits if (c := chunks.get(chunk_id))]
        evidence = score_sentences(query_vector, terms, passages, self.store.sentences([p.chunk_id for p in passages]),
                                   self.lexical.idf)
        kept = passages
        if rerank:
            # A passage holding one sentence that matches the question well beats one that
            # matches it diffusely: fuse the passage score with its best sentence's evidence.
            fused = ((1 - SENTENCE_WEIGHT) * np.array([p.score for p in passages])
                     + SENTENCE_WEIGHT * evidence.best_per_passage(len(passages)))
            kept = [replace(passages[i], score=float(fused[i])) for i in np.argsort(-fused, kind="stable")[:k]]
        # The quote model weighs only the sentences that may be quoted: the kept passages'.
        scored = weigh_sentences(evidence, passages, {p.chunk_id: p for p in kept}, cues)
        return _Retrieval(kept, articles, scored)

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid", collection: str | None = None) -> list[Passage]:
        """The `k` passages that best match the question, best first."""
        question = check_question(question)
        query_vector = self.embedder.encode([question])[0]
        with self._lock:
            return self._retrieve(query_vector, self.lexical.analyzer.terms(question), k, mode, collection).passages

    def ask(self, question: str, k: int | None = None, mode: Mode = "hybrid", collection: str | None = None) -> Answer:
        """Answer with verbatim quotes, or say nothing was found and name the nearest sources.

        Args:
            question: the user's question.
            k: the most quotes to return (default: the `top_k` setting).
            mode: how passages are retrieved.
            collection: search only what this collection sees (its own and the shared articles);
                default: every article.
        """
        return self.ask_with_passages(question, k, mode, collection=collection)[0]

    def ask_with_passages(self, question: str, k: int | None = None, mode: Mode = "hybrid", depth: int = 0,
                          collection: str | None = None, stages: dict[str, float] | None = None) -> tuple[Answer, list[Passage]]:
        """`ask`, also returning the passages the answer was chosen from (at least `depth` of them).

        `stages`, if given, receives the seconds spent embedding, searching and quoting.
        """
        question = check_question(question)
        limit = k or self.settings.top_k
        found = self._find(question, max(limit * 2, PASSAGES_READ, depth), mode, collection, stages)
        searched = time.perf_counter()
        passages = found.passages
        sources = self._nearest_sources(passages, found.articles)
        readable = {p.chunk_id for p in passages[:max(PASSAGES_READ, limit)]}
        quotes = select_quotes([s for s in found.sentences if s.passage.chunk_id in readable], found.articles, limit,
                               lambda article_id, span: self._quote_text(passages, article_id, span))
        # One calibrated score decides: the quote model's probability that the best quote is on target.
        if not quotes or quotes[0].score < self.settings.min_score:
            quotes = []
        if stages is not None:
            stages["quotes"] = time.perf_counter() - searched
        return Answer(question, bool(quotes), tuple(quotes), sources), passages

    def candidates(self, question: str, mode: Mode = "hybrid", collection: str | None = None) -> list[ScoredSentence]:
        """The sentences an answer to `question` is chosen from, each with the quote model's features
        and its probability of being on target (what `ask` ranks; for tools that study or fit it)."""
        found = self._find(check_question(question), max(self.settings.top_k * 2, PASSAGES_READ), mode, collection)
        readable = {p.chunk_id for p in found.passages[:PASSAGES_READ]}
        return [s for s in found.sentences if s.passage.chunk_id in readable]

    def _find(self, question: str, depth: int, mode: Mode, collection: str | None,
              stages: dict[str, float] | None = None) -> _Retrieval:
        clock = time.perf_counter()
        query_vector = self.embedder.encode([question])[0]
        terms = self.lexical.analyzer.terms(question)
        embedded = time.perf_counter()
        with self._lock:
            found = self._retrieve(query_vector, terms, depth, mode, collection, QuestionCues.of(question))
        if stages is not None:
            stages.update(embed=embedded - clock, search=time.perf_counter() - embedded)
        return found

    def _quote_text(self, passages: Sequence[Passage], article_id: str, span: Span) -> str:
        """`article.text[span]`: from a passage that holds it (as most quotes lie), else read from the store."""
        for p in passages:
            if p.article_id == article_id and p.start <= span.start and span.end <= p.end:
                return p.text[span.start - p.start:span.end - p.start]
        return self.store.span_text(article_id, span.start, span.end)

    @staticmethod
    def _nearest_sources(passages: Sequence[Passage], articles: dict[str, ArticleRef]) -> tuple[SourceMatch, ...]:
        best: dict[str, float] = {}
        for p in passages:
            best.setdefault(p.article_id, p.score)
        matches = []
        for article_id, score in list(best.items())[:NEAREST_SOURCES]:
            a = articles.get(article_id)
            if a is not None:
                matches.append(SourceMatch(a.id, a.title, a.url, a.outlet, a.published, round(score, 6)))
        return tuple(matches)
