"""Score the sentences of retrieved passages against the question; pick verbatim quotes from them."""

from __future__ import annotations

from dataclasses import dataclass
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
# Sentence evidence = weighted cosine to the question and idf-weighted share of its terms held.
SIMILARITY_WEIGHT = 0.6
OVERLAP_WEIGHT = 0.4
#: Share of the passage score (context the sentence alone may lack) in a quote's score.
PASSAGE_WEIGHT = 0.3


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage with its evidence for the question."""

    passage: Passage
    span: Span
    similarity: float
    overlap: float

    @property
    def evidence(self) -> float:
        return SIMILARITY_WEIGHT * self.similarity + OVERLAP_WEIGHT * self.overlap

    @property
    def score(self) -> float:
        return (1 - PASSAGE_WEIGHT) * self.evidence + PASSAGE_WEIGHT * self.passage.score


def term_overlap(sentence_terms: set[str], question_terms: Sequence[str], idf: Callable[[str], float]) -> float:
    """The idf-weighted share of the question's terms that occur in the sentence."""
    total = sum(idf(t) for t in question_terms)
    return sum(idf(t) for t in question_terms if t in sentence_terms) / total if total else 0.0


def score_sentences(
    question_vector: np.ndarray,
    question_terms: Sequence[str],
    passages: Sequence[Passage],
    articles: Mapping[str, StoredArticle],
    sentences: Mapping[int, Sequence[StoredSentence]],
    analyze: Callable[[str], list[str]],
    idf: Callable[[str], float],
) -> list[ScoredSentence]:
    """Every stored sentence of `passages`, scored by cosine and term overlap with the question.

    Args:
        question_vector: the question's unit vector.
        question_terms: the question's analysed terms (as the lexical index sees them).
        passages: retrieved passages.
        articles: the stored articles of those passages, by id.
        sentences: the stored sentences (with vectors) of those passages, by chunk id.
        analyze: turns text into terms like the lexical index does.
        idf: the lexical index's idf of a term.
    """
    scored = []
    for passage in passages:
        rows = sentences.get(passage.chunk_id, ())
        if not rows:
            continue
        text = articles[passage.article_id].text
        similarities = np.stack([s.vector for s in rows]) @ question_vector
        for sentence, similarity in zip(rows, similarities.tolist()):
            overlap = term_overlap(set(analyze(text[sentence.start:sentence.end])), question_terms, idf)
            scored.append(ScoredSentence(passage, Span(sentence.start, sentence.end), similarity, overlap))
    return scored


def select_quotes(scored: Sequence[ScoredSentence], articles: Mapping[str, StoredArticle], limit: int) -> list[Quote]:
    """The best sentences as quotes: at most two per article, grouped by article, best first.

    Args:
        scored: sentences of the retrieved passages with their scores.
        articles: the stored articles, by id.
        limit: the most quotes to return.
    """
    best: dict[tuple[str, int], ScoredSentence] = {}
    for s in scored:  # a sentence in two overlapping passages counts once, at its best
        key = (s.passage.article_id, s.span.start)
        if key not in best or s.score > best[key].score:
            best[key] = s
    ranked = sorted(best.values(), key=lambda s: -s.score)
    chosen: list[Quote] = []
    per_article: dict[str, int] = {}
    used: set[tuple[str, int]] = set()
    for candidate in ranked:
        article_id = candidate.passage.article_id
        if len(chosen) >= limit or candidate.score < RELATIVE_CUTOFF * ranked[0].score:
            break
        if per_article.get(article_id, 0) >= QUOTES_PER_ARTICLE or (article_id, candidate.span.start) in used:
            continue
        span = candidate.span
        following = _next_sentence(best, candidate)
        if (following is not None and following.score >= JOIN_RATIO * candidate.score
                and following.span.end - span.start <= MAX_QUOTE_CHARS
                and (article_id, following.span.start) not in used):
            span = Span(span.start, following.span.end)
            used.add((article_id, following.span.start))
        used.add((article_id, candidate.span.start))
        per_article[article_id] = per_article.get(article_id, 0) + 1
        article = articles[article_id]
        chosen.append(Quote(
            text=article.text[span.start:span.end], article_id=article_id, title=article.title,
            url=article.url, outlet=article.outlet, published=article.published,
            paragraph=candidate.passage.paragraph, start=span.start, end=span.end,
            score=round(candidate.score, 6),
        ))
    # Group by article, articles in the order of their best quote, each article's quotes best first.
    order = {q.article_id: i for i, q in reversed(list(enumerate(chosen)))}
    return sorted(chosen, key=lambda q: (order[q.article_id], -q.score))


def _next_sentence(best: Mapping[tuple[str, int], ScoredSentence], current: ScoredSentence) -> ScoredSentence | None:
    """The sentence right after `current` in the same paragraph, if it is a candidate."""
    article_id = current.passage.article_id
    for gap in (1, 2):
        following = best.get((article_id, current.span.end + gap))
        if following is not None and following.passage.paragraph == current.passage.paragraph:
            return following
    return None
