"""`articlebot eval` on a tiny dataset in the SQuAD-derived format (the full run is a benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.measure.evaluate import EvalQuestion, GoldSpan, evaluate
from tests.support.cli import run
from tests.support.datasets import QUESTIONS, write_dataset


def test_eval_reports_every_metric_for_every_mode(dataset: Path, settings) -> None:
    report = evaluate(dataset, settings, modes=("bm25", "dense", "hybrid"))
    data = report.to_json()
    assert data["questions"] == len(QUESTIONS)
    assert list(data["modes"]) == ["bm25", "dense", "hybrid"]
    for metrics in data["modes"].values():
        assert list(metrics) == [
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
        assert all(0 <= metrics[k] <= 1 for k in ("recall@1", "recall@5", "mrr@10", "quote_accuracy", "abstain_rate"))
    hybrid = data["modes"]["hybrid"]
    # Each question has a one-sentence answer in one of four small articles: all must be found.
    assert hybrid["recall@5"] == 1.0 and hybrid["recall@1"] >= 0.8
    assert hybrid["quote_accuracy"] >= 0.8 and 0 < hybrid["mean_quote_chars"] <= 120


def test_eval_unanswerable_indexes_half_and_expects_not_found(dataset: Path, settings) -> None:
    report = evaluate(dataset, settings, modes=("hybrid",), unanswerable=True)
    # Articles a1 and a3 are indexed, a2 and a4 held out (every other one, sorted by id).
    assert report.questions == 3 and report.unanswerable_questions == 2
    assert report.unanswerable is not None and 0 <= report.unanswerable["hybrid"] <= 1
    assert report.modes["hybrid"].recall_at_5 == 1.0


def test_eval_command_prints_json_and_samples_with_a_seed(dataset: Path) -> None:
    status, out = run("eval", str(dataset), "--limit", "3", "--seed", "1", "--mode", "bm25", "--json")
    data = json.loads(out)
    assert status == 0 and data["questions"] == 3 and list(data["modes"]) == ["bm25"]
    assert run("eval", str(dataset), "--mode", "fuzzy")[0] == 1
    assert run("eval", str(dataset / "nope"))[0] == 1


def test_a_quote_is_on_target_when_it_overlaps_evidence_by_half_the_shorter() -> None:
    evidence = EvalQuestion("q", "a", (), (), evidence=(GoldSpan("a", 100, 200),))
    assert evidence.on_target(150, 400, "")  # overlap 50 = half of the evidence's 100
    assert not evidence.on_target(160, 400, "")  # overlap 40
    assert evidence.on_target(120, 140, "")  # inside the evidence
    assert not evidence.on_target(0, 100, "")  # touching is not overlapping
    answer = EvalQuestion("q", "a", ("Maria Lindqvist",), ())
    assert answer.on_target(0, 30, "The architect Maria Lindqvist.") and not answer.on_target(0, 9, "The mayor")


EVIDENCE_ARTICLES = [
    (
        "n1",
        "Port strike",
        [
            "Dock workers walked out on Monday. The union said the strike would last until wages rose. "
            "Ships queued outside the harbour.",
            "The port authority offered 3 percent. The union rejected the offer on Wednesday.",
        ],
    ),
    (
        "n2",
        "Library",
        [
            "The city library reopened after two years. Its new reading room seats 200 children. "
            "The mayor, who opened it, called it a gift to the city."
        ],
    ),
]
EVIDENCE_QUESTIONS = [
    (
        "n1",
        "How long would the strike last, according to the union?",
        "The union said the strike would last until wages rose.",
    ),
    ("n1", "What did the port authority offer?", "The port authority offered 3 percent."),
    ("n2", "How many children does the reading room seat?", "Its new reading room seats 200 children."),
    ("n2", "What did the mayor think of the library?", "called it a gift to the city"),
]


@pytest.fixture
def evidence_dataset(tmp_path: Path) -> Path:
    """A news set in the onestopqa shape: questions carry evidence spans, not answer strings."""
    return write_dataset(tmp_path / "evidence", EVIDENCE_ARTICLES, EVIDENCE_QUESTIONS, "evidence_spans")


def test_eval_scores_evidence_span_sets_and_writes_the_misses(evidence_dataset: Path, settings, tmp_path: Path) -> None:
    misses = tmp_path / "misses.jsonl"
    report = evaluate(evidence_dataset, settings, modes=("bm25", "hybrid"), misses=misses)
    hybrid = report.modes["hybrid"]
    assert report.questions == 4 and hybrid.recall_at_5 == 1.0, "every gold paragraph is found"
    assert hybrid.any_quote_accuracy >= hybrid.quote_accuracy >= 0.75
    rows = [json.loads(line) for line in misses.read_text().splitlines()]
    missed = {(r["mode"], r["question"]) for r in rows}
    assert (
        len(missed)
        == len(rows)
        == round((1 - report.modes["bm25"].quote_accuracy) * 4) + round((1 - hybrid.quote_accuracy) * 4)
    )
    for row in rows:
        expected = next(e for _, q, e in EVIDENCE_QUESTIONS if q == row["question"])
        assert row["evidence"] == [expected] and row["answers"] == []
        assert all(set(quote) == {"text", "title", "paragraph", "score"} for quote in row["quotes"])
