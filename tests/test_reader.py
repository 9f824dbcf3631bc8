"""The reader shipped with the package (index/encoders/reader.py): it loads offline and picks the sentence that answers."""

from __future__ import annotations

import numpy as np
import pytest

from index import ArticleIndex
from index.encoders.reader import PACKAGED_READER, Reader, reader_for

#: (question, the sentence that answers it, sentences that do not), written for this test, news-like.
PAIRS = [
    (
        "What did Kim Jong Un say?",
        'North Korean leader Kim Jong Un sent a "heartfelt congratulations" to his counterpart, Russian President '
        "Vladimir Putin, on his landslide re-election victory.",
        ["Putin won close to 77 percent of votes.", "The West has been pointedly slower in offering congratulations."],
    ),
    (
        "How many people were hurt in the crash?",
        "Twelve passengers were taken to hospital after the train left the rails near the station.",
        ["The train operator apologised for the delays on Monday.", "The line reopened on Friday after repairs."],
    ),
    (
        "Who won the election?",
        "The Labour candidate, Sarah Jones, took the seat with 54 percent of the vote.",
        ["Turnout fell to 41 percent, the lowest since 2001.", "Polls closed at 10pm and counting went on overnight."],
    ),
    pytest.param(
        "Why did the factory close?",
        "The company said falling orders from car makers had forced it to shut the plant.",
        ["The factory opened in 1962 on the edge of the town.", "About 300 people worked there at its peak."],
        marks=pytest.mark.xfail(
            strict=True,
            reason="a miss of the reader shipped on 2026-12-05: 'close' is "
            "matched to 'opened' over 'shut the plant' (docs/reader.md)",
        ),
    ),
    (
        "When will the bridge reopen?",
        "Engineers expect the bridge to reopen to traffic in March.",
        ["The bridge was built in 1890 by a local firm.", "Repairs to the bridge will cost £4m, the council said."],
    ),
]


def test_the_packaged_reader_loads_offline_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (PACKAGED_READER / "reader.int8.onnx").stat().st_size < 40_000_000
    assert reader_for() is reader_for()


@pytest.mark.parametrize(("question", "right", "wrong"), PAIRS)
def test_the_reader_ranks_the_sentence_that_answers_first(question: str, right: str, wrong: list[str]) -> None:
    logits = reader_for().read(question, [*wrong, right])
    assert int(np.argmax(logits)) == len(wrong), logits


def test_reading_nothing_and_long_sentences_is_safe() -> None:
    reader = reader_for()
    assert reader.read("Who?", []).shape == (0,)
    long = reader.read("Who won?" * 200, ["word " * 5000, ""])
    assert long.shape == (2,) and np.isfinite(long).all()


def test_a_reader_folder_without_a_model_is_a_clear_error(tmp_path) -> None:
    from index.errors import ModelError

    with pytest.raises(ModelError, match="no reader in"):
        Reader(tmp_path)


def test_on_the_seed_article_the_reader_ranks_kim_s_message_first(seed_index: ArticleIndex) -> None:
    found = seed_index.retrieve("What did Kim Jong Un say?")
    best = max(found.candidates, key=lambda c: c.score)
    assert best.passage.paragraph == 1 and best.score > 0.3
    without = max(found.candidates, key=lambda c: c.support)  # the quote model without the reader: Xi Jinping's
    assert without.passage.paragraph != 1
    assert not seed_index.ask("What is the capital of Peru?").answered


@pytest.mark.xfail(
    strict=True,
    reason="'not found' is decided without the reader, whose probability separates "
    "answerable news questions from unanswerable ones less well (docs/reader.md); Kim's message "
    "scores 0.09 there, under ARTICLEBOT_MIN_SCORE 0.1",
)
def test_the_seed_article_answers_what_kim_jong_un_said(seed_index: ArticleIndex) -> None:
    assert seed_index.ask("What did Kim Jong Un say?").answered
