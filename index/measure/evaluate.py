"""`articlebot eval`: retrieval and quote quality on a question set, per search mode, side by side.

The dataset format is that of `shared/eval/squad-v1.1-dev`: `articles.jsonl` (id, title, text,
passages with character offsets) and `questions.jsonl` (question, answers, answer_spans,
article_id, gold_passage_span). A question may instead carry `evidence_spans`, the words that
support its answer (as in `shared/eval/onestopqa-news`): a quote is then on target when its
overlap with one evidence span is at least half of the shorter of the two, and a passage is a hit
when it lies in the gold paragraph. Articles go through the same code path as `articlebot ingest`
(files in a folder) and questions through the same as `articlebot ask`.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence, Set
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .. import (
    MODES,
    Answer,
    ArticleIndex,
    Mode,
    Passage,
    Settings,
    Turn,
    ingest_paths,
    normalise,
    proper_names,
    scratch_store,
)
from .percentiles import percentile

RANK_DEPTH = 10


class DatasetError(ValueError):
    """The dataset folder is missing a file or has a malformed line."""


@dataclass(frozen=True)
class GoldSpan:
    """Where an answer lies in the article text as the index stores it (after cleaning)."""

    article: str  # the dataset's article id
    start: int
    end: int


@dataclass(frozen=True)
class EvalQuestion:
    question: str
    article: str
    answers: tuple[str, ...]
    spans: tuple[GoldSpan, ...]  # empty when cleaning dropped the answer's paragraph
    #: For evidence-span sets: the supporting words, and the gold paragraph, in the cleaned text.
    evidence: tuple[GoldSpan, ...] = ()
    paragraph: GoldSpan | None = None

    def on_target(self, start: int, end: int, text: str) -> bool:
        """Whether a quote (its span in the cleaned text of this question's article, and its text) is right:
        it holds an answer, or it overlaps an evidence span by half of the shorter of the two."""
        if self.evidence:
            return any(
                min(end, e.end) - max(start, e.start) >= 0.5 * min(end - start, e.end - e.start) for e in self.evidence
            )
        return any(a.casefold() in text.casefold() for a in self.answers)


@dataclass(frozen=True)
class ModeReport:
    """Metrics of one search mode; the JSON keys are documented in docs/evaluation.md and kept stable."""

    recall_at_1: float
    recall_at_5: float
    mrr_at_10: float
    quote_accuracy: float
    #: One of the quotes shown (not only the first) is on target.
    any_quote_accuracy: float
    mean_quote_chars: float
    abstain_rate: float
    p50_ms: float
    p95_ms: float

    def to_json(self) -> dict[str, float]:
        keys = {"recall_at_1": "recall@1", "recall_at_5": "recall@5", "mrr_at_10": "mrr@10"}
        return {keys.get(k, k): round(v, 4) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class FollowupReport:
    """First-quote accuracy of follow-up questions (`followup_pairs`), hybrid mode."""

    questions: int
    #: The elliptical follow-up rewritten from the turn before it (index/answer/followups.py).
    quote_accuracy: float
    #: The elliptical follow-up searched as typed.
    quote_accuracy_no_rewrite: float
    #: The follow-up as the dataset wrote it, naming what it asks about: the ceiling.
    quote_accuracy_as_written: float
    #: Share of follow-ups the rewrite changed.
    rewritten: float

    def to_json(self) -> dict[str, float]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    questions: int
    modes: dict[str, ModeReport]
    #: With --unanswerable: per mode, the share of questions about unindexed articles left unanswered.
    unanswerable: dict[str, float] | None = None
    unanswerable_questions: int = 0
    followups: FollowupReport | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "dataset": self.dataset,
            "questions": self.questions,
            "modes": {m: r.to_json() for m, r in self.modes.items()},
        }
        if self.followups is not None:
            data["followups"] = self.followups.to_json()
        if self.unanswerable is not None:
            data["unanswerable"] = {
                "questions": self.unanswerable_questions,
                "abstain_rate": {m: round(v, 4) for m, v in self.unanswerable.items()},
            }
        return data


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(f"{path}: missing")
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return rows


def _article_file(article: dict[str, Any]) -> str:
    """The article as an ingestable text file with front matter."""
    title = " ".join(str(article.get("title", "")).split()) or str(article["id"])
    url = str(article.get("url") or "")
    return f"---\ntitle: {json.dumps(title)}\nurl: {url}\n---\n{article['text']}"


def _folded(text: str) -> str:
    return " ".join(normalise(text).split())


def _locate(
    original: str, cleaned: str, passage: tuple[int, int], answer: tuple[int, int], text: str
) -> tuple[int, int] | None:
    """Map an answer span of the original text into the cleaned text, via its paragraph."""
    paragraph = _folded(original[passage[0] : passage[1]])
    where = cleaned.find(paragraph)
    text = _folded(text)
    if where < 0 or not text:
        return None
    relative = len(" ".join(normalise(original[passage[0] : answer[0]]).split()))
    candidates = [m.start() for m in re.finditer(re.escape(text), cleaned[where : where + len(paragraph)])]
    if not candidates:
        return None
    best = min(candidates, key=lambda c: abs(c - relative))
    return where + best, where + best + len(text)


def load_questions(folder: Path, articles: dict[str, dict[str, Any]], cleaned: dict[str, str]) -> list[EvalQuestion]:
    """The dataset's questions about `articles`, with answer spans mapped into the cleaned texts."""
    questions = []
    for row in read_jsonl(folder / "questions.jsonl"):
        article = articles.get(str(row.get("article_id", "")))
        if article is None or not str(row.get("question", "")).strip():
            continue
        found: dict[str, list[GoldSpan]] = {"answer_spans": [], "evidence_spans": []}
        paragraph = None
        gold = row.get("gold_passage_span") or {}
        if row["article_id"] in cleaned and gold:
            text = cleaned[row["article_id"]]
            for kind, spans in found.items():
                for span in row.get(kind, []):
                    mapped = _locate(
                        article["text"],
                        text,
                        (gold["start"], gold["end"]),
                        (span["start"], span["end"]),
                        span.get("text", ""),
                    )
                    if mapped:
                        spans.append(GoldSpan(row["article_id"], *mapped))
            folded = _folded(article["text"][gold["start"] : gold["end"]])
            where = text.find(folded)
            paragraph = GoldSpan(row["article_id"], where, where + len(folded)) if where >= 0 else None
        evidence = tuple(found["evidence_spans"])
        if row.get("evidence_spans") and not evidence:
            paragraph = None  # nothing to score against: counts as a miss, like an unmappable answer
        questions.append(
            EvalQuestion(
                row["question"],
                row["article_id"],
                tuple(row.get("answers", [])),
                tuple(found["answer_spans"]),
                evidence,
                paragraph,
            )
        )
    return questions


def _hit(passage: Passage, question: EvalQuestion, index_ids: dict[str, str]) -> bool:
    """A passage holding an answer span; for evidence-span sets, a passage in the gold paragraph."""
    if question.evidence:
        gold = question.paragraph
        return (
            gold is not None
            and index_ids.get(gold.article) == passage.article_id
            and passage.start < gold.end
            and gold.start < passage.end
        )
    return any(
        index_ids.get(s.article) == passage.article_id and passage.start <= s.start and s.end <= passage.end
        for s in question.spans
    )


def on_target(
    question: EvalQuestion, index_ids: dict[str, str], article_id: str, start: int, end: int, text: str
) -> bool:
    """Whether a quote of index article `article_id` is on target for `question`."""
    if question.evidence and index_ids.get(question.article) != article_id:
        return False  # evidence spans are places in the question's own article
    return question.on_target(start, end, text)


def miss(q: EvalQuestion, mode: str, answer: Answer, cleaned: dict[str, str]) -> dict[str, Any]:
    """What a reader needs to see why a question was missed: the question, the gold and the quotes shown."""
    text = cleaned.get(q.article, "")
    return {
        "mode": mode,
        "question": q.question,
        "article": q.article,
        "answers": list(q.answers),
        "evidence": [text[e.start : e.end] for e in q.evidence] if text else [],  # unknown: never indexed
        "answered": answer.answered,
        "quotes": [
            {"text": x.text, "title": x.title, "paragraph": x.paragraph, "score": round(x.score, 4)}
            for x in answer.quotes
        ],
        "sources": [s.title for s in answer.sources],
    }


def write_misses(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """The misses, one JSON object a line (`--misses`)."""
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def run_mode(
    index: ArticleIndex,
    questions: Sequence[EvalQuestion],
    mode: Mode,
    index_ids: dict[str, str],
    progress: bool = False,
    misses: list[dict[str, Any]] | None = None,
    cleaned: dict[str, str] | None = None,
) -> ModeReport:
    """Ask every question in `mode` and score passages and quotes; append each miss to `misses`, if given."""
    from tqdm import tqdm

    r1 = r5 = rr = correct = any_correct = abstained = 0.0
    quote_chars: list[int] = []
    latencies: list[float] = []
    for q in tqdm(questions, desc=f"asking ({mode})", unit="q", disable=None if progress else True, leave=False):
        started = time.perf_counter()
        found = index.retrieve(q.question, mode=mode, depth=RANK_DEPTH)
        answer, passages = found.answer, found.passages
        latencies.append((time.perf_counter() - started) * 1000)
        hits = [_hit(p, q, index_ids) for p in passages[:RANK_DEPTH]]
        r1 += bool(hits[:1] and hits[0])
        r5 += any(hits[:5])
        rr += next((1 / (i + 1) for i, h in enumerate(hits) if h), 0.0)
        right = [on_target(q, index_ids, x.article_id, x.start, x.end, x.text) for x in answer.quotes]
        if answer.answered:
            quote_chars.append(len(answer.quotes[0].text))
        else:
            abstained += 1
        correct += bool(right[:1] and right[0])
        any_correct += any(right)
        if misses is not None and not (right[:1] and right[0]):
            misses.append(miss(q, mode, answer, cleaned or {}))
    n = max(len(questions), 1)
    return ModeReport(
        r1 / n,
        r5 / n,
        rr / n,
        correct / n,
        any_correct / n,
        statistics.fmean(quote_chars) if quote_chars else 0.0,
        abstained / n,
        percentile(latencies, 0.5),
        percentile(latencies, 0.95),
    )


#: Pronouns that stand for a name in a made-up follow-up.
_PRONOUN = {True: "its", False: "it"}


def followup_pairs(questions: Sequence[EvalQuestion]) -> list[tuple[EvalQuestion, EvalQuestion, str]]:
    """Follow-ups made from the dataset: (first, second, the second made elliptical) for consecutive
    questions about the same paragraph where the second names something the first also names; in the
    second, that name becomes the pronoun a person would use after the first ("it", "its" before 's),
    as in "When was the Eiffel Tower built?" then "How tall is it?"."""
    by_paragraph: dict[tuple[str, int], list[EvalQuestion]] = {}
    for q in questions:
        if q.paragraph is not None:
            by_paragraph.setdefault((q.article, q.paragraph.start), []).append(q)
    pairs = []
    for group in by_paragraph.values():
        for first, second in zip(group, group[1:]):
            shared = [n for n in proper_names(second.question) if n.casefold() in first.question.casefold()]
            if not shared:
                continue
            name = max(shared, key=len)
            elliptical = re.sub(
                rf"(?:\b[Tt]he\s+)?{re.escape(name)}(?P<possessive>['’]s\b)?",
                lambda m: _PRONOUN[bool(m.group("possessive"))],
                second.question,
                count=1,
            )
            if elliptical != second.question and proper_names(elliptical) == []:
                pairs.append((first, second, elliptical))
    return pairs


def run_followups(
    index: ArticleIndex, pairs: Sequence[tuple[EvalQuestion, EvalQuestion, str]], index_ids: dict[str, str]
) -> FollowupReport:
    """Ask each first question, then its follow-up three ways: rewritten after it, as typed, as written."""

    def right(q: EvalQuestion, answer: Answer) -> bool:
        return bool(answer.quotes) and on_target(
            q,
            index_ids,
            answer.quotes[0].article_id,
            answer.quotes[0].start,
            answer.quotes[0].end,
            answer.quotes[0].text,
        )

    rewritten = plain = written = changed = 0
    for first, second, elliptical in pairs:
        before = index.ask(first.question)
        turn = Turn(first.question, before.quotes[0].text if before.quotes else "")
        answer = index.ask(elliptical, after=turn)
        rewritten += right(second, answer)
        changed += bool(answer.searched)
        plain += right(second, index.ask(elliptical))
        written += right(second, index.ask(second.question))
    n = max(len(pairs), 1)
    return FollowupReport(len(pairs), rewritten / n, plain / n, written / n, changed / n)


def write_articles(articles: Iterable[dict[str, Any]], folder: Path) -> dict[str, str]:
    """Write each article as a file in `folder` (made here); dataset id → the source it is stored under."""
    folder.mkdir()
    sources = {}
    for article in articles:
        path = folder / f"{article['id']}.txt"
        path.write_text(_article_file(article), encoding="utf-8")
        sources[article["id"]] = article.get("url") or f"file:{path.resolve()}"
    return sources


def _build(
    articles: Iterable[dict[str, Any]], folder: Path, settings: Settings, progress: bool
) -> tuple[ArticleIndex, dict[str, str], dict[str, str]]:
    """Ingest `articles` from files into a fresh index; returns it, dataset id → index id, and cleaned texts."""
    files = folder / "articles"
    sources = write_articles(articles, files)
    index = ArticleIndex.open(settings)  # settings.index_dir is folder / "index"
    ingest_paths(index, [files], progress=progress)
    stored = {a.source: a for a in index.articles()}
    ids = {d: stored[src].id for d, src in sources.items() if src in stored}
    cleaned = {d: stored[src].text for d, src in sources.items() if src in stored}
    return index, ids, cleaned


@dataclass(frozen=True)
class EvalSet:
    """A dataset indexed for evaluation: the index, dataset id → index id, cleaned texts, the questions."""

    index: ArticleIndex
    ids: dict[str, str]
    cleaned: dict[str, str]
    questions: list[EvalQuestion]


def halves(articles: Iterable[str]) -> tuple[set[str], set[str]]:
    """The articles split in two by sorted id, every other one: half 1 and half 2."""
    ordered = sorted(articles)
    return set(ordered[0::2]), set(ordered[1::2])


@contextmanager
def eval_set(
    folder: Path, settings: Settings, held_out: Set[str] = frozenset(), progress: bool = False
) -> Iterator[EvalSet]:
    """The dataset's articles (less `held_out`) ingested into a temporary index, with its questions."""
    articles = {a["id"]: a for a in read_jsonl(folder / "articles.jsonl")}
    if not articles:
        raise DatasetError(f"{folder / 'articles.jsonl'}: no articles")
    indexed = {i: a for i, a in articles.items() if i not in held_out}
    with tempfile.TemporaryDirectory(prefix="articlebot-eval-") as tmp, scratch_store(settings) as scratch:
        index, ids, cleaned = _build(
            indexed.values(), Path(tmp), replace(scratch, index_dir=Path(tmp) / "index"), progress
        )
        try:
            yield EvalSet(index, ids, cleaned, load_questions(folder, articles, cleaned))
        finally:
            index.close()


def evaluate(
    folder: Path,
    settings: Settings,
    limit: int | None = None,
    seed: int = 0,
    modes: Sequence[Mode] = MODES,
    unanswerable: bool = False,
    progress: bool = False,
    misses: Path | None = None,
    half: int | None = None,
    followups: bool = False,
) -> EvalReport:
    """Index the dataset's articles in a temporary folder and report each mode's metrics.

    Args:
        folder: the dataset folder (articles.jsonl, questions.jsonl).
        settings: model and scoring settings; the index folder is replaced by a temporary one.
        limit: ask a sample of this many questions (fixed by `seed`) instead of all.
        modes: the search modes to compare.
        unanswerable: index every other article only; also ask questions about the others.
        misses: write each question whose first quote is not on target here, one JSON object a line
            (mode, question, gold answers or evidence, the quotes shown).
        half: ask only about the articles of this half (1 or 2, see `halves`); all are indexed. The
            quote model is fitted on half 1, so half 2 is held out from it.
        followups: also measure follow-up questions (`followup_pairs`; `limit` samples them too).
    """
    names = {a["id"] for a in read_jsonl(folder / "articles.jsonl")}
    held_out = halves(names)[1] if unanswerable else set()
    with eval_set(folder, settings, held_out, progress) as data:
        rng = random.Random(seed)
        asked = halves(names)[half - 1] if half else names
        answerable = [q for q in data.questions if q.article not in held_out and q.article in asked]
        outside = [q for q in data.questions if q.article in held_out and q.article in asked]
        if limit is not None:
            answerable = rng.sample(answerable, min(limit, len(answerable)))
            outside = rng.sample(outside, min(limit, len(outside)))
        missed: list[dict[str, Any]] | None = [] if misses is not None else None
        reports: dict[str, ModeReport] = {
            m: run_mode(data.index, answerable, m, data.ids, progress, missed, data.cleaned) for m in modes
        }
        if misses is not None and missed is not None:
            write_misses(misses, missed)
        abstain: dict[str, float] | None = (
            {m: run_mode(data.index, outside, m, data.ids, progress).abstain_rate for m in modes}
            if unanswerable
            else None
        )
        followed = None
        if followups:
            pairs = followup_pairs([q for q in data.questions if q.article not in held_out and q.article in asked])
            if limit is not None:
                pairs = random.Random(seed).sample(pairs, min(limit, len(pairs)))
            followed = run_followups(data.index, pairs, data.ids)
    return EvalReport(str(folder), len(answerable), reports, abstain, len(outside), followed)


def format_report(report: EvalReport) -> str:
    """The report as an aligned text table, modes side by side."""
    keys = [
        "recall@1",
        "recall@5",
        "mrr@10",
        "quote_accuracy",
        "any_quote_accuracy",
        "mean_quote_chars",
        "abstain_rate",
        "p50_ms",
        "p95_ms",
    ]
    modes = list(report.modes)
    lines = [f"{report.dataset}: {report.questions} questions", f"{'metric':18}" + "".join(f"{m:>10}" for m in modes)]
    for key in keys:
        lines.append(f"{key:18}" + "".join(f"{report.modes[m].to_json()[key]:>10}" for m in modes))
    if report.followups is not None:
        f = report.followups
        lines.append(
            f"follow-ups ({f.questions}): quote accuracy {f.quote_accuracy:.4f} rewritten, "
            f"{f.quote_accuracy_no_rewrite:.4f} as typed, {f.quote_accuracy_as_written:.4f} as the dataset "
            f"wrote them; {f.rewritten:.0%} rewritten"
        )
    if report.unanswerable is not None:
        lines.append(
            f"{'unanswerable':18}"
            + "".join(f"{report.unanswerable[m]:>10.4f}" for m in modes)
            + f"   (abstain rate on {report.unanswerable_questions} questions about unindexed articles)"
        )
    return "\n".join(lines)
