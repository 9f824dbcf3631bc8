"""`articlebot eval DATASET --follows`: how well followed questions are answered by the articles that
arrive after them.

Every question of the dataset is followed on an empty index; the articles of half 2 (held out from
the quote model's fit) are then added one at a time in a shuffled order, and after each the follows
it may answer are checked (`ArticleIndex.answers_for`), as the bot does. A follow closes at its first
notice. The questions about half 1's articles are never answerable: no article that answers them
arrives. Reported:
- recall: the share of answerable follows notified by their own article (the article that answers them);
- recall on target: of those, the notices whose first quote is on target too (the `eval` rule);
- precision: the share of notices whose first quote is on target;
- precision, any quote: the share of notices one of whose quotes (up to `top_k`, as the notice shows) is;
- unanswerable notified: the share of follows about articles never added that got a notice;
- the time to check one new article against every follow (all of the dataset's questions).
With `misses`, each follow that went wrong is written out once: a notice whose first quote is off
target (`noticed_by` the article it came from, which may be another than the follow's own), and an
answerable follow that got no notice (`noticed_by` null).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .. import Answer, ArticleIndex, FollowedQuestions, Settings, ingest_paths, scratch_store
from .evaluate import (
    DatasetError,
    EvalQuestion,
    halves,
    load_questions,
    miss,
    on_target,
    read_jsonl,
    write_articles,
    write_misses,
)
from .percentiles import percentile


@dataclass(frozen=True)
class FollowsReport:
    """What following the dataset's questions while its articles arrive gave."""

    min_score: float
    answerable: int
    unanswerable: int
    notices: int
    recall: float
    recall_on_target: float
    precision: float
    precision_any_quote: float
    unanswerable_notified: float
    check_p50_ms: float
    check_p95_ms: float

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class _Notice:
    follow: int
    article: str  # the dataset id of the article that answered
    answer: Answer


@dataclass
class FollowRun:
    """A dataset's questions followed on an empty index while half 2's articles arrive: what is needed to
    check each arrival and, afterwards, to score the notices."""

    index: ArticleIndex
    follows: FollowedQuestions
    #: Index article id by dataset article id, for the articles that arrived so far.
    ids: dict[str, str]
    #: The dataset's questions, in follow-id order (with their spans once the run is over).
    questions: list[EvalQuestion]
    #: The arrived articles' texts as stored, by dataset id (once the run is over).
    cleaned: dict[str, str] = field(default_factory=dict)

    def quotes_on_target(self, follow: int, article: str, quotes: Sequence[tuple[int, int, str]]) -> list[bool]:
        """For each (start, end, text) quote of a notice a follow got from an arrived article (its dataset id):
        whether it came from the article that answers the follow and is on target (the `eval` rule)."""
        question = self.questions[follow]
        own = article == question.article
        return [own and on_target(question, self.ids, self.ids[article], *quote) for quote in quotes]


@contextmanager
def following_while_articles_arrive(
    folder: Path, settings: Settings, seed: int = 0
) -> Iterator[tuple[FollowRun, Iterator[tuple[int, str]]]]:
    """Follow every question of the dataset on an empty index; the arrivals (their order, and the dataset id of
    each) add half 2's articles one at a time, shuffled by `seed`, as they are iterated."""
    articles = {a["id"]: a for a in read_jsonl(folder / "articles.jsonl")}
    if not articles:
        raise DatasetError(f"{folder / 'articles.jsonl'}: no articles")
    arriving = sorted(halves(articles)[1])
    random.Random(seed).shuffle(arriving)
    with tempfile.TemporaryDirectory(prefix="articlebot-follows-") as tmp, scratch_store(settings) as scratch:
        write_articles((articles[a] for a in arriving), Path(tmp) / "articles")
        index = ArticleIndex.open(replace(scratch, index_dir=Path(tmp) / "index"))
        try:
            questions = load_questions(folder, articles, {})
            follows = FollowedQuestions(index.encoder.dim)
            for n, vector in enumerate(index.question_vectors([q.question for q in questions])):
                follows.add(n, questions[n].question, vector)
            run = FollowRun(index, follows, {}, questions)

            def arrivals() -> Iterator[tuple[int, str]]:
                for step, name in enumerate(arriving):
                    added = ingest_paths(index, [Path(tmp) / "articles" / f"{name}.txt"]).results
                    if added:  # else refused by ingest (empty after cleaning): nothing arrived
                        run.ids[name] = added[0].article_id
                        yield step, name

            yield run, arrivals()
            run.cleaned = {name: index.article(run.ids[name]).text for name in run.ids}  # type: ignore[union-attr]
            # The same questions, in the same order, now with their spans in the cleaned texts.
            run.questions = load_questions(folder, articles, run.cleaned)
        finally:
            index.close()


def follow_eval(
    folder: Path,
    settings: Settings,
    seed: int = 0,
    min_score: float | None = None,
    misses: Path | None = None,
    **checking: Any,
) -> FollowsReport:
    """Follow every question of the dataset, add half 2's articles one at a time (shuffled by `seed`),
    and score the notices (`min_score`: the bar, default the `follow_min_score` setting; `misses`: write
    the follows that went wrong there; `checking`: the other arguments of `ArticleIndex.answers_for`)."""
    bar = settings.follow_min_score if min_score is None else min_score
    notices: list[_Notice] = []
    checks: list[float] = []
    with following_while_articles_arrive(folder, settings, seed) as (run, arrivals):
        for _, name in arrivals:
            started = time.perf_counter()
            found = run.index.answers_for(run.follows, run.ids[name], min_score=bar, **checking)
            checks.append((time.perf_counter() - started) * 1000)
            for answered in found:
                notices.append(_Notice(answered.follow, name, answered.answer))
                run.follows.remove(answered.follow)
    scored, ids = run.questions, run.ids
    hits = {
        n.follow: run.quotes_on_target(n.follow, n.article, [(q.start, q.end, q.text) for q in n.answer.quotes])
        for n in notices
    }
    first = {follow: right[0] for follow, right in hits.items()}
    own = {n.follow for n in notices if n.article == scored[n.follow].article}
    answerable = [i for i, q in enumerate(scored) if q.article in ids]
    unanswerable = [i for i, q in enumerate(scored) if q.article not in ids]
    if misses is not None:
        silent = Answer("", False, (), ())
        wrong: list[tuple[int, str | None, Answer]] = [
            (n.follow, n.article, n.answer) for n in notices if not first[n.follow]
        ]
        unnoticed: list[tuple[int, str | None, Answer]] = [(i, None, silent) for i in answerable if i not in first]
        write_misses(
            misses,
            [
                {**miss(scored[i], "follows", answer, run.cleaned), "noticed_by": by}
                for i, by, answer in sorted(wrong + unnoticed, key=lambda row: row[0])
            ],
        )
    return FollowsReport(
        bar,
        len(answerable),
        len(unanswerable),
        len(notices),
        sum(i in own for i in answerable) / max(len(answerable), 1),
        sum(first.get(i, False) for i in answerable) / max(len(answerable), 1),
        sum(first.values()) / max(len(notices), 1),
        sum(any(right) for right in hits.values()) / max(len(notices), 1),
        sum(i in first for i in unanswerable) / max(len(unanswerable), 1),
        percentile(checks, 0.5),
        percentile(checks, 0.95),
    )


def format_follows(report: FollowsReport) -> str:
    return (
        f"followed questions: {report.answerable} answerable, {report.unanswerable} about articles that never arrive\n"
        f"bar (follow_min_score) {report.min_score:.2f}: {report.notices} notices\n"
        f"recall                 {report.recall:.4f}   (answerable follows notified by the article that answers them)\n"
        f"recall on target       {report.recall_on_target:.4f}   (and the notice's first quote on target)\n"
        f"precision              {report.precision:.4f}   (notices whose first quote is on target)\n"
        f"precision, any quote   {report.precision_any_quote:.4f}   (notices one of whose quotes is on target)\n"
        f"unanswerable notified  {report.unanswerable_notified:.4f}\n"
        f"check per article      p50 {report.check_p50_ms:.1f} ms, p95 {report.check_p95_ms:.1f} ms "
        f"({report.answerable + report.unanswerable} follows)"
    )
