"""Pick the sentences of the best passages that answer the question, verbatim and grouped by source."""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from .chunking import Span
from .results import Passage, Quote
from .store import StoredArticle, StoredSentence

QUOTES_PER_ARTICLE = 2
#: How many of the best passages are read for quotable sentences (at least one per quote wanted).
PASSAGES_READ = 6
#: A following sentence joins a quote when it scores this close to it and the quote stays short.
JOIN_RATIO = 0.9
MAX_QUOTE_CHARS = 350
#: Quotes scoring below this share of the best quote are left out: they rarely answer anything.
RELATIVE_CUTOFF = 0.6
# Sentence score = weighted cosine to the question, share of the question's terms it holds, and
# the score of the passage around it (context the sentence alone may lack).
SIMILARITY_WEIGHT = 0.5
OVERLAP_WEIGHT = 0.3
PASSAGE_WEIGHT = 0.2


class _Candidate:
    __slots__ = ("passage", "span", "score")

    def __init__(self, passage: Passage, span: Span) -> None:
        self.passage, self.span, self.score = passage, span, 0.0


def term_overlap(sentence_terms: set[str], question_terms: Sequence[str], idf: Callable[[str], float]) -> float:
    """The idf-weighted share of the question's terms that occur in the sentence."""
    total = sum(idf(t) for t in question_terms)
    return sum(idf(t) for t in question_terms if t in sentence_terms) / total if total else 0.0


def select_quotes(
    question_vector: np.ndarray,
    question_terms: Sequence[str],
    passages: Sequence[Passage],
    articles: Mapping[str, StoredArticle],
    sentences: Mapping[int, Sequence[StoredSentence]],
    analyze: Callable[[str], list[str]],
    idf: Callable[[str], float],
    limit: int,
) -> list[Quote]:
    """Best sentences of the top passages as quotes: at most two per article, grouped by article.

    Args:
        question_vector: the question's unit vector.
        question_terms: the question's analysed terms (as the lexical index sees them).
        passages: retrieved passages, best first.
        articles: the stored articles of those passages, by id.
        sentences: the stored sentences (with vectors) of those passages, by chunk id.
        analyze: turns text into terms like the lexical index does.
        idf: the lexical index's idf of a term.
        limit: the most quotes to return.
    """
    seen: set[tuple[str, int]] = set()
    candidates: list[_Candidate] = []
    similarities: list[float] = []
    for passage in passages[:max(PASSAGES_READ, limit)]:
        for sentence in sentences.get(passage.chunk_id, ()):
            if (passage.article_id, sentence.start) not in seen:
                seen.add((passage.article_id, sentence.start))
                candidates.append(_Candidate(passage, Span(sentence.start, sentence.end)))
                similarities.append(float(sentence.vector @ question_vector))
    if not candidates:
        return []
    for candidate, similarity in zip(candidates, similarities):
        text = articles[candidate.passage.article_id].text[candidate.span.start:candidate.span.end]
        overlap = term_overlap(set(analyze(text)), question_terms, idf)
        candidate.score = (SIMILARITY_WEIGHT * similarity + OVERLAP_WEIGHT * overlap
                           + PASSAGE_WEIGHT * candidate.passage.score)

    chosen: list[Quote] = []
    per_article: dict[str, int] = {}
    used: set[tuple[str, int]] = set()
    ranked = sorted(candidates, key=lambda c: -c.score)
    for candidate in ranked:
        article_id = candidate.passage.article_id
        if len(chosen) >= limit or candidate.score < RELATIVE_CUTOFF * ranked[0].score:
            break
        if per_article.get(article_id, 0) >= QUOTES_PER_ARTICLE:
            continue
        if (article_id, candidate.span.start) in used:
            continue
        article = articles[article_id]
        span = candidate.span
        following = _next_sentence(candidates, candidate)
        if (following is not None and following.score >= JOIN_RATIO * candidate.score
                and following.span.end - span.start <= MAX_QUOTE_CHARS
                and (article_id, following.span.start) not in used):
            span = Span(span.start, following.span.end)
            used.add((article_id, following.span.start))
        used.add((article_id, candidate.span.start))
        per_article[article_id] = per_article.get(article_id, 0) + 1
        chosen.append(Quote(
            text=article.text[span.start:span.end], article_id=article_id, title=article.title,
            url=article.url, outlet=article.outlet, published=article.published,
            paragraph=candidate.passage.paragraph, start=span.start, end=span.end,
            score=round(candidate.score, 6),
        ))
    # Group by article, articles in the order of their best quote, each article's quotes best first.
    order = {q.article_id: i for i, q in reversed(list(enumerate(chosen)))}
    return sorted(chosen, key=lambda q: (order[q.article_id], -q.score))


def _next_sentence(candidates: Sequence[_Candidate], current: _Candidate) -> _Candidate | None:
    """The sentence right after `current` in the same paragraph, if it is a candidate."""
    for other in candidates:
        if (other.passage.article_id == current.passage.article_id
                and other.passage.paragraph == current.passage.paragraph
                and other.span.start > current.span.end
                and other.span.start - current.span.end <= 2):
            return other
    return None
