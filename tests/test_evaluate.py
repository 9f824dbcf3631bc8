"""`articlebot eval` on a tiny dataset in the SQuAD-derived format (the full run is a benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.evaluate import evaluate

from .test_cli import run

ARTICLES = [
    ("a1", "Old bridge", ["The city council voted on Tuesday to close the old river bridge.",
                          "Repairs will cost 12 million dollars and take six months."]),
    ("a2", "Science museum", ["A science museum opened downtown with a planetarium.",
                              "The architect Maria Lindqvist designed the building."]),
    ("a3", "Mayor election", ["Mayor Tom Okafor won a second term with 64 percent of the vote.",
                              "Turnout was 41 percent, the lowest in twenty years."]),
    ("a4", "Harbour strike", ["Dock workers at the harbour went on strike for higher wages.",
                              "The strike lasted nine days and ended with a pay rise of 5 percent."]),
]
QUESTIONS = [
    ("a1", "How much will the bridge repairs cost?", "12 million dollars"),
    ("a2", "Who designed the museum building?", "Maria Lindqvist"),
    ("a3", "What share of the vote did Okafor win?", "64 percent"),
    ("a3", "What was the turnout?", "41 percent"),
    ("a4", "How long did the harbour strike last?", "nine days"),
]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "dataset"
    folder.mkdir()
    texts = {}
    with (folder / "articles.jsonl").open("w") as out:
        for article_id, title, paragraphs in ARTICLES:
            text = "\n\n".join(paragraphs)
            texts[article_id] = text
            passages, start = [], 0
            for i, p in enumerate(paragraphs):
                passages.append({"id": f"{article_id}-p{i}", "start": start, "end": start + len(p)})
                start += len(p) + 2
            out.write(json.dumps({"id": article_id, "title": title, "text": text, "passages": passages}) + "\n")
    with (folder / "questions.jsonl").open("w") as out:
        for n, (article_id, question, answer) in enumerate(QUESTIONS):
            text = texts[article_id]
            start = text.index(answer)
            para_start = text.rfind("\n\n", 0, start) + 2 if "\n\n" in text[:start] else 0
            para_end = text.find("\n\n", start) if "\n\n" in text[start:] else len(text)
            out.write(json.dumps({
                "id": f"q{n}", "article_id": article_id, "question": question, "answers": [answer],
                "answer_spans": [{"start": start, "end": start + len(answer), "text": answer}],
                "gold_passage_span": {"start": para_start, "end": para_end},
            }) + "\n")
    return folder


def test_eval_reports_every_metric_for_every_mode(dataset: Path, settings) -> None:
    report = evaluate(dataset, settings, modes=("bm25", "dense", "hybrid"))
    data = report.to_json()
    assert data["questions"] == len(QUESTIONS)
    assert list(data["modes"]) == ["bm25", "dense", "hybrid"]
    for metrics in data["modes"].values():
        assert list(metrics) == ["recall@1", "recall@5", "mrr@10", "quote_accuracy", "mean_quote_chars",
                                 "abstain_rate", "p50_ms", "p95_ms"]
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
