"""The retrieval pipeline, top to bottom: candidates → fusion → re-rank → quotes.

1. Candidates: the nearest chunks by cosine (FAISS) and the best by BM25 (tantivy), each side then
   scoring the other side's finds, so that every candidate has both scores.
2. Fusion (index/search/fusion.py): one ranking from the two scores.
3. Re-rank (hybrid mode): every sentence of the best passages is scored against the question
   (cosine and term overlap, index/answer/quotes.py), and a passage's score is fused with its best
   sentence's: one sentence that matches the question well beats a passage that matches diffusely.
4. Quotes: the quote model weighs the sentences of the best passages, and the most likely ones are
   quoted verbatim; below the `min_score` setting the answer is "not found", with the nearest sources.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..encoders.reader import Reader
from ..records import ArticleRef, Span
from ..search.base import VectorIndex
from ..search.bm25 import LexicalIndex
from ..search.fusion import Hit, Mode, check_mode, fuse
from ..storage.base import Store
from ..storage.scope import Scope
from .evidence import QuestionCues, quote_model
from .quotes import PASSAGES_READ, ScoredSentence, SentenceEvidence, score_sentences, select_quotes, weigh_sentences
from .recency import older_than_asked
from .results import Answer, Passage, Quote, SourceMatch

#: Candidates each side contributes before fusion.
CANDIDATES = 50
#: Passages re-ranked by their best sentence, and that sentence's share of the passage score.
RERANK_DEPTH = 30
SENTENCE_WEIGHT = 0.6
NEAREST_SOURCES = 3
#: With a `since` limit, BM25 scores the allowed chunks directly up to this many.
SCORE_DIRECTLY = 3000
#: Other outlets named under a quote whose story several ran.
ALSO_NAMED = 5


@dataclass(frozen=True)
class Query:
    """A question as the pipeline reads it."""

    text: str
    vector: np.ndarray  # unit length
    terms: tuple[str, ...]  # analysed as the lexical index analyses text
    cues: QuestionCues
    #: The days back the question's words ask about ("this week": 7), None if they do not (index/answer/recency.py).
    recent_days: int | None = None


@dataclass(frozen=True)
class Retrieval:
    """An answer with how it was found: for tools that study the pipeline (`articlebot eval`, `bench`)."""

    answer: Answer
    #: The passages ranked, best first (at least the depth asked for).
    passages: tuple[Passage, ...]
    #: The sentences the quotes were chosen from, each with the quote model's features and probability.
    candidates: tuple[ScoredSentence, ...]
    #: Seconds per stage: "embed" (the question), "search" (steps 1–3), "reader" (its part of step 3), "quotes" (step 4).
    timings: Mapping[str, float]


@dataclass(frozen=True)
class _Ranked:
    passages: list[Passage]
    articles: dict[str, ArticleRef]
    sentences: list[ScoredSentence]  # those of the passages that may be quoted
    reading: float = 0.0  # seconds the reader took


class Retriever:
    """The pipeline over the database and the two derived indexes; callers hold the index's lock."""

    def __init__(
        self, store: Store, vectors: VectorIndex, lexical: LexicalIndex, reader: Callable[[], Reader] | None = None
    ) -> None:
        """`reader`: gives the reader (loaded on first use, so that commands that never ask do not load it), or
        None to weigh sentences without it."""
        self.store = store
        self.vectors = vectors
        self.lexical = lexical
        self.reader = reader
        self.model = quote_model(reader is not None)

    def answer(
        self,
        query: Query,
        limit: int,
        min_score: float,
        mode: Mode,
        scope: Scope,
        depth: int = 0,
        *,
        within: Sequence[int] | None = None,
        with_reader: bool = True,
    ) -> Retrieval:
        """At most `limit` quotes for `query` from at least `depth` ranked passages (`within`: only
        these chunks, scored as the search scores its candidates; `with_reader`: read by the reader, if any)."""
        started = time.perf_counter()
        ranked = self.rank(
            query,
            max(limit * 2, PASSAGES_READ, depth),
            mode,
            scope,
            max(PASSAGES_READ, limit),
            within=within,
            with_reader=with_reader,
        )
        searched = time.perf_counter()
        candidates = ranked.sentences
        quotes = select_quotes(
            candidates,
            ranked.articles,
            limit,
            lambda article_id, span: self._quote_text(ranked.passages, article_id, span),
            prefer_newer=query.recent_days is not None,
        )
        # One calibrated score decides: the quote model's probability (without the reader) that the best
        # candidate is on target.
        if not quotes or max(s.support for s in candidates) < min_score:
            quotes = []
        quotes = [self._with_others(q, ranked.articles, scope) for q in quotes]
        sources = _nearest_sources(ranked.passages, ranked.articles)
        note = ""
        if query.recent_days is not None:  # the newest of what answers (or, without an answer, what is nearest)
            matched = [q.published for q in quotes] or [s.published for s in sources]
            newest = max((d for d in matched if d), default="")
            note = older_than_asked(newest, query.recent_days) if newest else ""
        answer = Answer(query.text, bool(quotes), tuple(quotes), sources, note=note, since=scope.since)
        timings = {
            "search": searched - started - ranked.reading,
            "reader": ranked.reading,
            "quotes": time.perf_counter() - searched,
        }
        return Retrieval(answer, tuple(ranked.passages), tuple(candidates), timings)

    def rank(
        self,
        query: Query,
        k: int,
        mode: Mode,
        scope: Scope,
        quoted: int = PASSAGES_READ,
        *,
        within: Sequence[int] | None = None,
        with_reader: bool = True,
    ) -> _Ranked:
        """The best `k` passages (steps 1–3), with what quoting the first `quoted` of them needs: their
        sentences, weighed by the quote model. With the reader, those passages are ordered by their best
        sentence: the reader has read them, and one sentence that answers makes a passage the best.
        `within`: rank only these chunks (a new article's, for followed questions), not a search's."""
        rerank = mode == "hybrid" and SENTENCE_WEIGHT > 0
        pool = max(k, RERANK_DEPTH) if rerank else k
        if within is None:
            hits = self._candidates(query, pool, check_mode(mode), scope)
        else:
            hits = self._scored(query, within, pool, check_mode(mode))
        chunks = self.store.chunks([h.chunk_id for h in hits])
        articles = self.store.article_refs(list({c.article_id for c in chunks.values()}))
        passages = [
            Passage(h.chunk_id, c.article_id, c.start, c.end, c.paragraph, c.text, h.score, h.dense, h.lexical)
            for h in hits
            if (c := chunks.get(h.chunk_id))
        ]
        evidence = score_sentences(
            query.vector, query.terms, passages, self.store.sentences([p.chunk_id for p in passages]), self.lexical.idf
        )
        kept = self._rerank(passages, evidence, k) if rerank else passages
        reading = 0.0
        reader = self.reader if with_reader else None

        def read(sentences: Sequence[str]) -> np.ndarray:
            nonlocal reading
            began = time.perf_counter()
            logits = reader().read(query.text, sentences)  # type: ignore[misc]  # only passed with a reader
            reading += time.perf_counter() - began
            return logits

        sentences = weigh_sentences(
            evidence,
            passages,
            {p.chunk_id: p for p in kept[:quoted]},
            query.cues,
            self.model,
            read if reader is not None else None,
        )
        if reader is not None:
            best: dict[int, float] = {}
            for s in sentences:
                best[s.passage.chunk_id] = max(best.get(s.passage.chunk_id, 0.0), s.score)
            kept = sorted(kept[:quoted], key=lambda p: -best.get(p.chunk_id, 0.0)) + kept[quoted:]
        return _Ranked(kept, articles, sentences, reading)

    def _candidates(self, query: Query, k: int, mode: Mode, scope: Scope) -> list[Hit]:
        """Steps 1 and 2: both sides' candidates, each scored by the other side too, fused."""
        pool = max(k, CANDIDATES)
        collections = scope.collections
        dense = dict(self.vectors.search(query.vector, pool, collections, scope.since)) if mode != "bm25" else {}
        lexical = dict(self._lexical_top(query, pool, scope)) if mode != "dense" else {}
        missing = sorted(set(lexical) - set(dense))
        if missing:
            found, vectors = self.vectors.stored_vectors(missing)
            for gone in set(missing).difference(found.tolist()):
                del lexical[gone]  # another process removed it; this one's BM25 index has not taken that yet
            dense.update(zip(found.tolist(), (vectors @ query.vector).tolist()))
        # BM25 is scored in every mode: the quote model reads it as evidence whatever ranked the passages.
        missing = sorted(set(dense) - set(lexical))
        if missing:
            lexical.update(self.lexical.scores(query.terms, missing))
        return fuse(dense, lexical, mode, k)

    def _scored(self, query: Query, ids: Sequence[int], k: int, mode: Mode) -> list[Hit]:
        """These chunks scored by both sides as `_candidates` scores its candidates, fused."""
        found, vectors = self.vectors.stored_vectors(ids)
        dense = dict(zip(found.tolist(), (vectors @ query.vector).tolist()))
        lexical = self.lexical.scores(query.terms, found.tolist()) if len(found) else {}
        return fuse(dense, lexical, mode, k)

    def _lexical_top(self, query: Query, pool: int, scope: Scope) -> list[tuple[int, float]]:
        """BM25's best; the lexical index knows no dates, so a `since` limit is applied to its results
        (scoring the allowed chunks directly when they are few)."""
        if not scope.since:
            return self.lexical.top(query.terms, pool, scope.collections)
        allowed = self.vectors.allowed(scope.collections, scope.since)
        ids = allowed.ids if allowed is not None else np.zeros(0, dtype=np.int64)
        if len(ids) <= SCORE_DIRECTLY:
            scored = self.lexical.scores(query.terms, ids.tolist())
            return sorted(scored.items(), key=lambda hit: -hit[1])[:pool]
        hits = self.lexical.top(query.terms, pool * 8, scope.collections)
        keep = np.isin([i for i, _ in hits], ids)
        return [hit for hit, kept in zip(hits, keep) if kept][:pool]

    @staticmethod
    def _rerank(passages: Sequence[Passage], evidence: SentenceEvidence, k: int) -> list[Passage]:
        """Step 3: each passage's score fused with its best sentence's evidence; the best `k`."""
        fused = (1 - SENTENCE_WEIGHT) * np.array(
            [p.score for p in passages]
        ) + SENTENCE_WEIGHT * evidence.best_per_passage(len(passages))
        return [replace(passages[i], score=float(fused[i])) for i in np.argsort(-fused, kind="stable")[:k]]

    def _with_others(self, quote: Quote, articles: Mapping[str, ArticleRef], scope: Scope) -> Quote:
        """The quote naming the other articles (that `scope` sees) that tell its story."""
        ref = articles.get(quote.article_id)
        if ref is None or not ref.story:
            return quote
        others = [
            m.outlet or m.title
            for m in self.store.story_members(ref.story, scope.collections, ALSO_NAMED + 1)
            if m.id != quote.article_id
        ]
        return replace(quote, also=tuple(dict.fromkeys(others))[:ALSO_NAMED]) if others else quote

    def _quote_text(self, passages: Sequence[Passage], article_id: str, span: Span) -> str:
        """`article.text[span]`: from a passage that holds it (as most quotes lie), else read from the store."""
        for p in passages:
            if p.article_id == article_id and p.start <= span.start and span.end <= p.end:
                return p.text[span.start - p.start : span.end - p.start]
        return self.store.span_text(article_id, span.start, span.end)


def _nearest_sources(passages: Sequence[Passage], articles: Mapping[str, ArticleRef]) -> tuple[SourceMatch, ...]:
    best: dict[str, float] = {}
    for p in passages:
        best.setdefault(p.article_id, p.score)
    matches = []
    for article_id, score in list(best.items())[:NEAREST_SOURCES]:
        a = articles.get(article_id)
        if a is not None:
            matches.append(SourceMatch(a.id, a.title, a.url, a.outlet, a.published, round(score, 6)))
    return tuple(matches)
