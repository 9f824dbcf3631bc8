"""Score the sentences of retrieved passages against the question; pick verbatim quotes from them.

Everything about a sentence that does not depend on the question (its terms, its cues, whether it
opens a paragraph) is read once when it is stored (`sentence_facts`); answering a question is then
array arithmetic over the candidates' sentences.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import NamedTuple

import numpy as np

from ..ingest.chunking import paragraph_spans
from ..records import ArticleRef, SentenceRows, Span
from .evidence import CUE_BITS, FEATURES, WITHOUT_READER, QuestionCues, QuoteModel, SentenceCues, length_feature
from .results import Passage, Quote

_LEANS_BACK = FEATURES.index("leans_back")
_READER = FEATURES.index("reader")
_WORD = re.compile(r"\w+")

#: Quotes from one story at most (one article, or the copies of one story: index/ingest/stories.py).
QUOTES_PER_ARTICLE = 2
#: How many of the best passages are read for quotable sentences (at least one per quote wanted).
PASSAGES_READ = 6
#: A neighbouring sentence joins a quote when it scores at least this share of it and the quote stays
#: short (0.9 → 0.5: news 0.654 → 0.669 first quotes on target; see docs/evaluation.md).
JOIN_RATIO = 0.5
MAX_QUOTE_CHARS = 350
#: Quotes scoring at least this share of the best count as ties when a question asks for the latest.
NEAR_TIE = 0.7
#: Quotes scoring below this share of the best quote are left out: they rarely answer anything.
RELATIVE_CUTOFF = 0.6
# Sentence evidence for re-ranking passages = weighted cosine to the question and idf-weighted
# share of its terms held.
SIMILARITY_WEIGHT = 0.6
OVERLAP_WEIGHT = 0.4


def sentence_facts(text: str, spans: Sequence[Span], analyze: Callable[[str], list[str]]) -> list[tuple[str, int]]:
    """What is stored with each of these sentences of an article (`text`) for the quote model: its
    analysed terms (space-separated, as the lexical index sees them) and its cue bits (index/answer/evidence.py)."""
    paragraph_starts = {p.start for p in paragraph_spans(text)}
    return [
        (
            " ".join(analyze(text[s.start : s.end])),
            SentenceCues.of(text[s.start : s.end], s.start in paragraph_starts).bits(),
        )
        for s in spans
    ]


@dataclass(frozen=True)
class ScoredSentence:
    """A sentence of a passage with its evidence for the question.

    `features` are the inputs of the quote model (index/answer/evidence.py) and `score` its probability
    that the sentence is on target; `support` is that probability without the reader, which decides
    "not found" (see `weigh_sentences`).
    """

    passage: Passage
    span: Span
    similarity: float
    overlap: float
    features: tuple[float, ...] = ()
    score: float = 0.0
    support: float = 0.0

    @property
    def leans_back(self) -> bool:
        """It opens with a pronoun or connective, so it reads badly without the sentence before."""
        return bool(self.features and self.features[_LEANS_BACK])


class SentenceEvidence(NamedTuple):
    """Every sentence of the candidate passages, one row each, in passage order, then text order."""

    passage: np.ndarray  # position of its passage among the candidates
    starts: np.ndarray
    ends: np.ndarray
    similarity: np.ndarray  # cosine to the question (the sentence pooled in its chunk's context)
    overlap: np.ndarray  # idf-weighted share of the question's terms it holds
    cues: np.ndarray  # cue bits

    def best_per_passage(self, passages: int) -> np.ndarray:
        """The best sentence evidence of each passage (0 for one without sentences)."""
        best = np.zeros(passages)
        np.maximum.at(best, self.passage, SIMILARITY_WEIGHT * self.similarity + OVERLAP_WEIGHT * self.overlap)
        return best


def score_sentences(
    question_vector: np.ndarray,
    question_terms: Sequence[str],
    passages: Sequence[Passage],
    rows: SentenceRows,
    idf: Callable[[str], float],
) -> SentenceEvidence:
    """The stored sentences of `passages` (`rows`), scored by cosine and term overlap with the question.

    Args:
        question_vector: the question's unit vector.
        question_terms: the question's analysed terms (as the lexical index sees them).
        passages: retrieved passages.
        rows: their stored sentences.
        idf: the lexical index's idf of a term.
    """
    position = {p.chunk_id: n for n, p in enumerate(passages)}
    of_passage = np.fromiter((position[c] for c in rows.chunk_ids.tolist()), dtype=np.int64, count=len(rows.chunk_ids))
    order = np.argsort(of_passage, kind="stable")
    return SentenceEvidence(
        of_passage[order],
        rows.starts[order],
        rows.ends[order],
        rows.vectors[order] @ question_vector,
        _overlap(rows.terms, question_terms, idf)[order],
        rows.cues[order],
    )


def _overlap(sentence_terms: Sequence[str], question_terms: Sequence[str], idf: Callable[[str], float]) -> np.ndarray:
    """The idf-weighted share of the question's terms (a repeated one counts again) that each sentence holds."""
    held = np.zeros(len(sentence_terms))
    total = sum(idf(t) for t in question_terms)
    if total <= 0 or not len(sentence_terms):
        return held
    # A substring test per question term and sentence (" term " in " its terms "), which costs less
    # than building a set of every sentence's terms.
    padded = [f" {terms} " for terms in sentence_terms]
    for term, count in Counter(question_terms).items():
        needle = f" {term} "
        held += count * idf(term) * np.fromiter((needle in line for line in padded), dtype=bool, count=len(padded))
    return held / total


def _neighbour_best(values: np.ndarray, passage: np.ndarray) -> np.ndarray:
    """The larger value of the sentences before and after each one in its passage (0 without either)."""
    before = np.full(len(values), -np.inf)
    after = np.full(len(values), -np.inf)
    same = passage[1:] == passage[:-1]
    before[1:] = np.where(same, values[:-1], -np.inf)
    after[:-1] = np.where(same, values[1:], -np.inf)
    best = np.maximum(before, after)
    return np.where(np.isinf(best), 0.0, best)


#: Reads sentences against the question: the reader's logit of each (index/encoders/reader.py).
Read = Callable[[Sequence[str]], np.ndarray]


def weigh_sentences(
    evidence: SentenceEvidence,
    passages: Sequence[Passage],
    keep: Mapping[int, Passage],
    cues: QuestionCues,
    model: QuoteModel,
    read: Read | None = None,
) -> list[ScoredSentence]:
    """The sentences of the passages in `keep` (by chunk id) with the quote model's features and
    probability (index/answer/evidence.py); the gaps are to the best of all the candidates' sentences, as
    the model was fitted.

    Args:
        evidence: from `score_sentences` over `passages`.
        passages: the candidate passages `evidence` was scored over.
        keep: the passages whose sentences may be quoted, by chunk id (as re-ranked).
        cues: what the question asks for (answer type, attribution).
        model: the quote model's weights (with or without the reader).
        read: the reader, given the sentences' texts; without it the reader's feature is 0.
    """
    if not len(evidence.passage):
        return []
    kept = [keep.get(p.chunk_id) for p in passages]
    rows = np.flatnonzero([kept[p] is not None for p in evidence.passage.tolist()])
    similarity, overlap, bits = evidence.similarity, evidence.overlap, evidence.cues
    typed = bool(cues.kind)
    held = (bits & CUE_BITS[cues.kind]) > 0 if typed else np.zeros(len(bits), dtype=bool)
    dense = np.array([p.dense if p else 0.0 for p in kept])[evidence.passage]
    lexical = np.array([p.lexical if p else 0.0 for p in kept])[evidence.passage]
    features = np.column_stack(
        [
            similarity,
            overlap,
            similarity - similarity.max(),
            overlap - overlap.max(),
            _neighbour_best(similarity, evidence.passage),
            _neighbour_best(overlap, evidence.passage),
            dense,
            lexical,
            typed & held,
            typed & ~held,
            cues.attribution & ((bits & CUE_BITS["attribution"]) > 0),
            (bits & CUE_BITS["leans_back"]) > 0,
            (bits & CUE_BITS["first_in_paragraph"]) > 0,
            length_feature(evidence.ends - evidence.starts),
            np.zeros(len(similarity)),
        ]
    )[rows].astype(np.float64)
    spans = [(kept[evidence.passage[r]], int(evidence.starts[r]), int(evidence.ends[r])) for r in rows.tolist()]
    if read is not None and spans:
        features[:, _READER] = read([p.text[start - p.start : end - p.start] for p, start, end in spans])
    scores = model.probabilities(features)
    # Whether anything answers is decided without the reader: with it, the quote model ranks the sentences
    # better but tells answerable news questions from questions no article answers less well (at the
    # threshold that keeps 3% of answerable news questions answered "not found", 84% of the unanswerable
    # against 93%: docs/reader.md).
    support = scores if model is WITHOUT_READER else WITHOUT_READER.probabilities(features)
    return [
        ScoredSentence(
            p, Span(start, end), float(similarity[r]), float(overlap[r]), tuple(f), float(score), float(held)
        )
        for (p, start, end), r, f, score, held in zip(
            spans, rows.tolist(), features.tolist(), scores.tolist(), support.tolist()
        )
    ]


def select_quotes(
    scored: Sequence[ScoredSentence],
    articles: Mapping[str, ArticleRef],
    limit: int,
    read: Callable[[str, Span], str],
    prefer_newer: bool = False,
) -> list[Quote]:
    """The best sentences as quotes: at most two per article, grouped by article, best first.

    Args:
        scored: sentences of the retrieved passages with their scores.
        articles: what the quotes cite of their articles, by id.
        limit: the most quotes to return.
        read: the text of a span of an article (a quote that takes in a neighbour may reach beyond its passage).
        prefer_newer: among near ties (within NEAR_TIE), the newer article's sentence first (the question
            asks for the latest).
    """
    best: dict[tuple[str, int], ScoredSentence] = {}
    for s in _first_tellings(scored, articles, read):  # a sentence in two overlapping passages counts once
        key = (s.passage.article_id, s.span.start)
        if key not in best or s.score > best[key].score:
            best[key] = s
    ranked = sorted(best.values(), key=lambda s: -s.score)
    top = ranked[0].score if ranked else 0.0
    if prefer_newer:  # the near ties of the best, newest first, then the rest as they were
        near = [s for s in ranked if s.score >= NEAR_TIE * top]
        near.sort(key=lambda s: -_day_number(articles.get(s.passage.article_id)))
        ranked = near + ranked[len(near) :]
    by_end = {(s.passage.article_id, s.span.end): s for s in best.values()}
    chosen: list[Quote] = []
    per_article: dict[str, int] = {}
    used: set[tuple[str, int]] = set()
    for candidate in ranked:
        article_id = candidate.passage.article_id
        story = _story(articles, article_id)
        if len(chosen) >= limit:
            break
        if candidate.score < RELATIVE_CUTOFF * top:
            continue
        if per_article.get(story, 0) >= QUOTES_PER_ARTICLE or (article_id, candidate.span.start) in used:
            continue
        span = candidate.span
        previous, following = _previous_sentence(by_end, candidate), _next_sentence(best, candidate)
        # A neighbour joins when it scores at least JOIN_RATIO as well (the evidence is often two sentences),
        # and the sentence before always when the quote leans on it ("He said ..." needs the one naming him).
        joining = [(n, n is previous and candidate.leans_back) for n in (previous, following) if n is not None]
        for neighbour, needed in sorted(joining, key=lambda j: (not j[1], -j[0].score)):
            wider = Span(min(span.start, neighbour.span.start), max(span.end, neighbour.span.end))
            if (
                (needed or neighbour.score >= JOIN_RATIO * candidate.score)
                and wider.end - wider.start <= MAX_QUOTE_CHARS
                and (article_id, neighbour.span.start) not in used
            ):
                span = wider
                used.add((article_id, neighbour.span.start))
        used.add((article_id, candidate.span.start))
        per_article[story] = per_article.get(story, 0) + 1
        article = articles[article_id]
        chosen.append(
            Quote(
                text=read(article_id, span),
                article_id=article_id,
                title=article.title,
                url=article.url,
                outlet=article.outlet,
                published=article.published,
                paragraph=candidate.passage.paragraph,
                start=span.start,
                end=span.end,
                score=round(candidate.score, 6),
            )
        )
    # Group by article, articles in the order of their best quote, each article's quotes best first.
    order = {q.article_id: i for i, q in reversed(list(enumerate(chosen)))}
    return sorted(chosen, key=lambda q: (order[q.article_id], -q.score))


def _day_number(ref: ArticleRef | None) -> int:
    """The article's publication day as a number (0 when undated), newer larger."""
    try:
        return date.fromisoformat(ref.published[:10]).toordinal() if ref and ref.published else 0
    except ValueError:
        return 0


def _story(articles: Mapping[str, ArticleRef], article_id: str) -> str:
    ref = articles.get(article_id)
    return (ref.story or ref.id) if ref is not None else article_id


def _first_tellings(
    scored: Sequence[ScoredSentence], articles: Mapping[str, ArticleRef], read: Callable[[str, Span], str]
) -> list[ScoredSentence]:
    """A sentence that several copies of one story share (index/ingest/stories.py) counts once, at its best
    score, and is cited from the copy published first."""
    articles_of: dict[str, set[str]] = {}
    for s in scored:
        articles_of.setdefault(_story(articles, s.passage.article_id), set()).add(s.passage.article_id)
    if all(len(members) == 1 for members in articles_of.values()):
        return list(scored)  # no story told by two of the candidates' articles
    groups: dict[tuple[str, str], list[ScoredSentence]] = {}
    for s in scored:
        text = " ".join(_WORD.findall(read(s.passage.article_id, s.span).casefold()))  # punctuation aside
        groups.setdefault((_story(articles, s.passage.article_id), text), []).append(s)
    kept = []
    for members in groups.values():
        if len({m.passage.article_id for m in members}) == 1:
            kept += members
            continue
        first = min(members, key=lambda m: _published_order(articles.get(m.passage.article_id)))
        best = max(members, key=lambda m: m.score)
        kept.append(replace(first, score=best.score, features=best.features))
    return kept


def _published_order(ref: ArticleRef | None) -> tuple[bool, str, str]:
    """Earliest first; an undated article after the dated ones."""
    return (True, "", "") if ref is None else (not ref.published, ref.published, ref.added_at)


def _previous_sentence(
    by_end: Mapping[tuple[str, int], ScoredSentence], current: ScoredSentence
) -> ScoredSentence | None:
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
