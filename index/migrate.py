"""Copying an index between stores (SQLite folder ↔ PostgreSQL), then checking the copy; and the
feeds it follows (index/ingest/feeds.py) with it.

Each article is copied as stored (its chunks, vectors, sentences with their facts, story, signature
and when it was added), nothing re-embedded, each in its own transaction of the target: an
interrupted migration is resumed by running it again (articles already there with the same text
are skipped). The target's derived indexes are built when it is opened again for the check: every
article of the source is there with the same text and chunks, and a sample of questions drawn from
the articles gets the same quotes (articles the target held before are its own business).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .answer.results import Quote
from .article_index import ArticleIndex
from .ingest.feeds import FeedList

#: Questions asked of both indexes to check the copy answers alike.
SAMPLE_QUESTIONS = 30


@dataclass(frozen=True)
class MigrationReport:
    """What a migration copied, and how its check went. The check concerns the source's articles only: a
    target that held others before (a merge of folders, the seeds) verifies as well as an empty one."""

    copied: int
    skipped: int  # already in the target with the same text
    source_counts: tuple[int, int]  # (articles, chunks) of the source
    target_articles: int  # in the target, its own included
    unlike: tuple[str, ...]  # the source's articles the target lacks, or holds with other text or chunks
    asked: int
    same_answers: int
    differences: tuple[str, ...]  # the questions answered differently

    @property
    def verified(self) -> bool:
        return not self.unlike and self.same_answers == self.asked


def copy_articles(
    source: ArticleIndex, target: ArticleIndex, progress: Callable[[int, int], None] | None = None
) -> tuple[int, int]:
    """Copy every article of `source` that `target` lacks (or holds with another text): (copied, skipped)."""
    articles = source.articles()
    copied = skipped = 0
    for n, stored in enumerate(articles, start=1):
        there = target.article(stored.id)
        copy = None if there is not None and there.content_hash == stored.content_hash else source.copy(stored.id)
        if copy is None:
            skipped += 1
        else:
            target.restore(copy)
            copied += 1
        if progress is not None:
            progress(n, len(articles))
    return copied, skipped


def copy_feeds(source: FeedList, target: FeedList) -> tuple[int, int]:
    """Copy every feed of `source`, with what its polls found and the items they took, into `target`:
    (copied, already there). A feed already there keeps its state and gains the items it lacked, so
    that an interrupted copy resumes, and the feeds of several processes' folders merge."""
    copied = skipped = 0
    for feed in source.feeds():
        if target.restore(feed, source.items(feed)):
            copied += 1
        else:
            skipped += 1
    return copied, skipped


def sample_questions(index: ArticleIndex, count: int = SAMPLE_QUESTIONS, seed: int = 0) -> list[str]:
    """Questions drawn from the articles themselves: the titles of a sample of them, which every store answers."""
    titles = sorted({a.title for a in index.articles() if a.title.strip()})
    return random.Random(seed).sample(titles, min(count, len(titles)))


def _chunks(index: ArticleIndex, article_id: str) -> list[tuple[int, int, int, str]]:
    return [(c.start, c.end, c.paragraph, c.text) for c in index.chunks(article_id)]


def unlike_articles(source: ArticleIndex, target: ArticleIndex) -> tuple[str, ...]:
    """The ids of the source's articles that the target lacks, or holds with another text or other chunks."""
    unlike = []
    for stored in source.articles():
        there = target.article(stored.id)
        if (
            there is None
            or there.content_hash != stored.content_hash
            or _chunks(source, stored.id) != _chunks(target, stored.id)
        ):
            unlike.append(stored.id)
    return tuple(unlike)


def _in_order(shown: list[Quote], within: list[Quote], same: Callable[[Quote, Quote], bool]) -> bool:
    """Whether each of `shown` is the same as one of `within`, in the same order."""
    rest = iter(within)
    return all(any(same(quote, other) for other in rest) for quote in shown)


def compare_answers(source: ArticleIndex, target: ArticleIndex, questions: list[str]) -> tuple[int, tuple[str, ...]]:
    """How many questions the target answers as the source does, and the others.

    A target that also holds articles the source lacks (a merge) differs in what it knows of words (how
    rare each is), so a quote there may take a sentence more or less: it is the same when it is of the
    same article and overlaps. Such a target may also show quotes of its own articles, which may push some
    of the source's out of the answer (one for each), but the source's quotes it shows come in the same
    order. A target holding only the source's articles answers with exactly the same quotes."""
    own = {a.id for a in source.articles()}
    merged = target.stats().articles > len(own)

    def same(a: Quote, b: Quote) -> bool:
        if a.article_id != b.article_id:
            return False
        return a.start < b.end and b.start < a.end if merged else a.text == b.text

    different = []
    for question in questions:
        expected = list(source.ask(question).quotes)
        answer = target.ask(question).quotes
        shown = [q for q in answer if q.article_id in own]
        if not (_in_order(shown, expected, same) and len(shown) >= len(expected) - (len(answer) - len(shown))):
            different.append(question)
    return len(questions) - len(different), tuple(different)


def migrate(
    source: ArticleIndex, open_target: Callable[[], ArticleIndex], progress: Callable[[int, int], None] | None = None
) -> MigrationReport:
    """Copy `source` into the index `open_target` opens, then reopen it (building its derived indexes)
    and check it."""
    target = open_target()
    try:
        copied, skipped = copy_articles(source, target, progress)
    finally:
        target.close()
    target = open_target()
    try:
        unlike = unlike_articles(source, target)
        questions = sample_questions(source)
        same, different = compare_answers(source, target, questions)
        source_stats, target_stats = source.stats(), target.stats()
    finally:
        target.close()
    return MigrationReport(
        copied,
        skipped,
        (source_stats.articles, source_stats.chunks),
        target_stats.articles,
        unlike,
        len(questions),
        same,
        different,
    )
