"""Score the sentences of retrieved passages against the question; pick verbatim quotes from them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from .chunking import Span, paragraph_spans
from .evidence import FEATURES, QuestionCues, SentenceCues, length_feature, probability
from .results import Passage, Quote
from .store import StoredArticle, StoredSentence

_LEANS_BACK = FEATURES.index("leans_back")

QUOTES_PER_ARTICLE = 2
#: How many of the best passages are read for quotable sentences (at least one per quote wanted).
PASSAGES_READ = 6
#: A neighbouring sentence joins a quote when it scores at least this share of it and the quote stays
#: short (0.9 → 0.5: news 0.654 → 0.669 first quotes on target; see the README).
JOIN_RATIO = 0.5
MAX_QUOTE_CHARS = 350
#: Quotes scoring below this share of the best quote are left out: they rarely answer anything.
RELATIVE_CUTOFF = 0.6
# Sentence evidence for re-ranking passages = weighted cosine to the question and idf-weighted
# share of its terms held.
SIMILARITY_WEIGHT = 0.6
OVERLAP_WEIGHT = 0.4


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage with its evidence for the question.

    `features` are the inputs of the quote model (index/evidence.py) and `score` its probability
    that the sentence is on target.
    """

    passage: Passage
    span: Span
    similarity: float
    overlap: float
    features: tuple[float, ...] = ()
    score: float = 0.0

    @property
    def evidence(self) -> float:
        return SIMILARITY_WEIGHT * self.similarity + OVERLAP_WEIGHT * self.overlap

    @property
    def leans_back(self) -> bool:
        """It opens with a pronoun or connective, so it reads badly without the sentence before."""
        return bool(self.features and self.features[_LEANS_BACK])


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
    """Every stored sentence of `passages`, scored by cosine and term overlap with the question, in
    passage order and, within a passage, text order.

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


def weigh_sentences(scored: Sequence[ScoredSentence], keep: Mapping[int, Passage],
                    articles: Mapping[str, StoredArticle], cues: QuestionCues) -> list[ScoredSentence]:
    """The sentences of the passages in `keep` (by chunk id) with the quote model's features and
    probability (index/evidence.py); the gaps are to the best of all of `scored`, as the model was fitted.

    Args:
        scored: sentences from `score_sentences`.
        keep: the passages whose sentences may be quoted, by chunk id (as re-ranked).
        articles: the stored articles, by id.
        cues: what the question asks for (answer type, attribution).
    """
    best_similarity = max((s.similarity for s in scored), default=0.0)
    best_overlap = max((s.overlap for s in scored), default=0.0)
    typed = bool(cues.kind)
    paragraph_starts: dict[str, set[int]] = {}
    weighed = []
    for i, sentence in enumerate(scored):
        passage = keep.get(sentence.passage.chunk_id)
        if passage is None:
            continue
        text = articles[passage.article_id].text
        if passage.article_id not in paragraph_starts:
            paragraph_starts[passage.article_id] = {p.start for p in paragraph_spans(text)}
        neighbours = [scored[j] for j in (i - 1, i + 1)
                      if 0 <= j < len(scored) and scored[j].passage.chunk_id == passage.chunk_id]
        found = SentenceCues.of(text[sentence.span.start:sentence.span.end])
        features = (
            sentence.similarity, sentence.overlap, sentence.similarity - best_similarity, sentence.overlap - best_overlap,
            max((n.similarity for n in neighbours), default=0.0), max((n.overlap for n in neighbours), default=0.0),
            passage.dense, passage.lexical,
            float(typed and found.holds(cues.kind)), float(typed and not found.holds(cues.kind)),
            float(cues.attribution and found.attribution), float(found.leans_back),
            float(sentence.span.start in paragraph_starts[passage.article_id]),
            length_feature(sentence.span.end - sentence.span.start),
        )
        weighed.append(replace(sentence, passage=passage, features=features, score=probability(features)))
    return weighed


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
    by_end = {(s.passage.article_id, s.span.end): s for s in best.values()}
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
        previous, following = _previous_sentence(by_end, candidate), _next_sentence(best, candidate)
        # A neighbour joins when it scores at least JOIN_RATIO as well (the evidence is often two sentences),
        # and the sentence before always when the quote leans on it ("He said ..." needs the one naming him).
        joining = [(n, n is previous and candidate.leans_back) for n in (previous, following) if n is not None]
        for neighbour, needed in sorted(joining, key=lambda j: (not j[1], -j[0].score)):
            wider = Span(min(span.start, neighbour.span.start), max(span.end, neighbour.span.end))
            if ((needed or neighbour.score >= JOIN_RATIO * candidate.score)
                    and wider.end - wider.start <= MAX_QUOTE_CHARS and (article_id, neighbour.span.start) not in used):
                span = wider
                used.add((article_id, neighbour.span.start))
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


def _previous_sentence(by_end: Mapping[tuple[str, int], ScoredSentence], current: ScoredSentence) -> ScoredSentence | None:
    """The sentence right before `current` in the same paragraph, if it is a candidate."""
    for gap in (1, 2):
        previous = by_end.get((current.passage.article_id, current.span.start - gap))
        if previous is not None and previous.passage.paragraph == current.passage.paragraph:
            return previous
    return None


def _next_sentence(best: Mapping[tuple[str, int], ScoredSentence], current: ScoredSentence) -> ScoredSentence | None:
    """The sentence right after `current` in the same paragraph, if it is a candidate."""
    article_id = current.passage.article_id
    for gap in (1, 2):
        following = best.get((article_id, current.span.end + gap))
        if following is not None and following.passage.paragraph == current.passage.paragraph:
            return following
    return None
