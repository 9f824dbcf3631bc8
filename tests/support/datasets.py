"""A tiny evaluation set in the layout `articlebot eval` reads."""

from __future__ import annotations

import json
from pathlib import Path

ARTICLES = [
    (
        "a1",
        "Old bridge",
        [
            "The city council voted on Tuesday to close the old river bridge.",
            "Repairs will cost 12 million dollars and take six months.",
        ],
    ),
    (
        "a2",
        "Science museum",
        [
            "A science museum opened downtown with a planetarium.",
            "The architect Maria Lindqvist designed the building.",
        ],
    ),
    (
        "a3",
        "Mayor election",
        [
            "Mayor Tom Okafor won a second term with 64 percent of the vote.",
            "Turnout was 41 percent, the lowest in twenty years.",
        ],
    ),
    (
        "a4",
        "Harbour strike",
        [
            "Dock workers at the harbour went on strike for higher wages.",
            "The strike lasted nine days and ended with a pay rise of 5 percent.",
        ],
    ),
]


QUESTIONS = [
    ("a1", "How much will the bridge repairs cost?", "12 million dollars"),
    ("a2", "Who designed the museum building?", "Maria Lindqvist"),
    ("a3", "What share of the vote did Okafor win?", "64 percent"),
    ("a3", "What was the turnout?", "41 percent"),
    ("a4", "How long did the harbour strike last?", "nine days"),
]


def write_dataset(folder: Path, articles, questions, key: str) -> Path:
    """A dataset folder: `articles` as (id, title, paragraphs); `questions` as (article id, question, gold
    text), the gold text stored as an answer (`key="answer_spans"`) or as evidence (`"evidence_spans"`)."""
    folder.mkdir()
    texts = {}
    with (folder / "articles.jsonl").open("w") as out:
        for article_id, title, paragraphs in articles:
            text = "\n\n".join(paragraphs)
            texts[article_id] = text
            passages, start = [], 0
            for i, p in enumerate(paragraphs):
                passages.append({"id": f"{article_id}-p{i}", "start": start, "end": start + len(p)})
                start += len(p) + 2
            out.write(json.dumps({"id": article_id, "title": title, "text": text, "passages": passages}) + "\n")
    with (folder / "questions.jsonl").open("w") as out:
        for n, (article_id, question, gold) in enumerate(questions):
            text = texts[article_id]
            start = text.index(gold)
            para_start = text.rfind("\n\n", 0, start) + 2 if "\n\n" in text[:start] else 0
            para_end = text.find("\n\n", start) if "\n\n" in text[start:] else len(text)
            out.write(
                json.dumps(
                    {
                        "id": f"q{n}",
                        "article_id": article_id,
                        "question": question,
                        "answers": [gold] if key == "answer_spans" else [],
                        key: [{"start": start, "end": start + len(gold), "text": gold}],
                        "gold_passage_span": {"start": para_start, "end": para_end},
                    }
                )
                + "\n"
            )
    return folder
