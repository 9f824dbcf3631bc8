"""Followed questions: a new article answers the follows it should, with its own quote, and no others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index import ArticleIndex, FollowedQuestions, Settings, parse_text
from index.answer.follows import MOST_ASKED
from index.encoders.base import Encoder
from tests.support.cli import run
from tests.support.datasets import ARTICLES, QUESTIONS, write_dataset

MUSEUM = parse_text(
    "Science museum\n\nA science museum opened downtown with a planetarium.\n\n"
    "The architect Maria Lindqvist designed the building, which took four years to finish.",
    "file:museum.txt",
)
STRIKE = parse_text(
    "Harbour strike\n\nDock workers at the harbour went on strike for higher wages.\n\n"
    "The strike lasted nine days and ended with a pay rise of 5 percent.",
    "file:strike.txt",
)
FACTORY = parse_text(
    "Plant closure\n\nThe factory opened in 1962 on the edge of the town.\n\n"
    "About 300 people worked there at its peak.\n\n"
    "The company said falling orders from car makers had forced it to shut the plant.",
    "file:factory.txt",
)


def follow(index: ArticleIndex, questions: list[str]) -> FollowedQuestions:
    follows = FollowedQuestions(index.encoder.dim)
    for n, (question, vector) in enumerate(zip(questions, index.question_vectors(questions))):
        follows.add(n, question, vector)
    return follows


def test_a_new_article_answers_the_follow_it_answers_with_its_own_quote(empty_index: ArticleIndex) -> None:
    follows = follow(empty_index, ["Who designed the museum building?", "How long did the harbour strike last?"])
    museum = empty_index.add(MUSEUM).article_id
    answered = empty_index.answers_for(follows, museum)
    assert [a.follow for a in answered] == [0], "the strike question is not answered by the museum article"
    quote = answered[0].answer.quotes[0]
    assert quote.article_id == museum and "Maria Lindqvist" in quote.text
    assert answered[0].support >= empty_index.settings.follow_min_score

    strike = empty_index.add(STRIKE).article_id
    answered = empty_index.answers_for(follows, strike, min_score=0.3)
    assert [a.follow for a in answered] == [1] and "nine days" in answered[0].answer.quotes[0].text


class ReaderMisreadingShutAsOpened:
    """A reader that makes the packaged one's known miss (docs/reader.md) on every question."""

    def read(self, question: str, sentences: list[str]) -> np.ndarray:
        return np.array([8.0 if "opened" in s else -8.0 for s in sentences], dtype=np.float32)


def test_no_notice_when_the_reader_quotes_another_sentence_than_the_probability_likes_best(
    settings: Settings, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    question = ["Why did the plant shut?"]
    index = ArticleIndex(settings.index_dir, encoder, settings)
    try:
        factory = index.add(FACTORY).article_id
        found = index.answers_for(follow(index, question), factory)
        assert [a.agrees for a in found] == [True], "with the packaged reader both like the 'shut the plant' sentence"
        assert "shut the plant" in found[0].answer.quotes[0].text
    finally:
        index.close()

    monkeypatch.setattr("index.article_index.reader_for", ReaderMisreadingShutAsOpened)
    index = ArticleIndex(settings.index_dir, encoder, settings)
    try:
        assert index.answers_for(follow(index, question), factory) == [], "no notice with a quote in dispute"
        [disputed] = index.answers_for(follow(index, question), factory, agreeing=False)
        assert not disputed.agrees and "opened in 1962" in disputed.answer.quotes[0].text
        assert disputed.support >= settings.follow_min_score, "the probability alone would have sent it"
    finally:
        index.close()


def test_a_follow_is_not_notified_below_the_bar(empty_index: ArticleIndex) -> None:
    follows = follow(empty_index, ["How long did the harbour strike last?"])
    strike = empty_index.add(STRIKE).article_id
    found = empty_index.answers_for(follows, strike, min_score=0.3)
    assert len(found) == 1, "the quote model gives the 'nine days' sentence about 0.47 here"
    assert empty_index.answers_for(follows, strike, min_score=found[0].support + 0.01) == []


def test_an_article_that_answers_no_follow_notifies_none(empty_index: ArticleIndex) -> None:
    follows = follow(empty_index, ["What did the central bank decide about interest rates?"])
    assert empty_index.answers_for(follows, empty_index.add(MUSEUM).article_id) == []


def test_an_unfollowed_question_is_not_answered(empty_index: ArticleIndex) -> None:
    follows = follow(empty_index, ["Who designed the museum building?"])
    follows.remove(0)
    assert len(follows) == 0
    assert empty_index.answers_for(follows, empty_index.add(MUSEUM).article_id) == []


def test_only_follows_near_something_the_article_says_are_asked_in_full() -> None:
    follows = FollowedQuestions(3)
    follows.add(1, "a", np.array([1.0, 0.0, 0.0]))
    follows.add(2, "b", np.array([0.0, 1.0, 0.0]))
    follows.add(3, "c", np.array([0.6, 0.8, 0.0]))
    sentences = np.array([[0.0, 0.0, 1.0], [0.8, 0.6, 0.0]], dtype=np.float32)
    assert [f for f, _ in follows.near(sentences, floor=0.7)] == [3, 1], "nearest first, b is too far"
    assert [f for f, _ in follows.near(sentences, floor=0.7, most=1)] == [3]
    follows.remove(3)
    assert [f for f, _ in follows.near(sentences, floor=0.7)] == [1]


def test_a_question_many_members_follow_counts_once_towards_the_questions_asked_in_full() -> None:
    follows = FollowedQuestions(3)
    for member in range(1, 6):  # five members follow one question, spelt their own way
        follows.add(member, "Who won?" if member % 2 else "  who WON? ", np.array([1.0, 0.0, 0.0]))
    follows.add(9, "Who lost?", np.array([0.8, 0.6, 0.0]))
    sentences = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    assert [f for f, _ in follows.near(sentences, floor=0.5, most=1)] == [1, 2, 3, 4, 5]
    assert [f for f, _ in follows.near(sentences, floor=0.5, most=2)] == [1, 2, 3, 4, 5, 9]


def test_every_member_following_a_question_is_answered_however_many_follow_it(empty_index: ArticleIndex) -> None:
    members = MOST_ASKED + 9
    follows = follow(empty_index, ["Who designed the museum building?"] * members + ["How big is the planetarium?"])
    answered = empty_index.answers_for(follows, empty_index.add(MUSEUM).article_id)
    assert [a.follow for a in answered] == list(range(members))
    assert {a.answer.quotes[0].text for a in answered} == {answered[0].answer.quotes[0].text}
    assert "Maria Lindqvist" in answered[0].answer.quotes[0].text


def test_eval_follows_scores_notices_on_a_dataset(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTICLEBOT_FOLLOW_MIN_SCORE", "0.3")
    status, out = run("eval", str(dataset), "--follows", "--json")
    assert status == 0, out
    report = json.loads(out)
    # Half 2 (a2, a4) arrives: its two questions are answerable; the three about a1 and a3 never are.
    assert (report["answerable"], report["unanswerable"]) == (2, 3) and report["min_score"] == 0.3
    assert report["recall"] == 1.0 and report["precision"] == 1.0
    assert report["unanswerable_notified"] == 0.0


def test_eval_follows_writes_the_follows_that_went_wrong(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTICLEBOT_FOLLOW_MIN_SCORE", "1.0")  # a bar nothing reaches: no notice at all
    misses = tmp_path / "misses.jsonl"
    status, out = run("eval", str(dataset), "--follows", "--json", "--misses", str(misses))
    assert status == 0, out
    assert json.loads(out)["notices"] == 0
    rows = [json.loads(line) for line in misses.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["article"] for r in rows) == ["a2", "a4"], "the two answerable follows, not noticed"
    assert all(r["noticed_by"] is None and r["quotes"] == [] and r["answers"] for r in rows)


def test_eval_follows_writes_a_notice_from_another_article_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A question about the museum article (a2) that only the strike article (a4) speaks to.
    strayed = ("a2", "How many days did the dock workers stay on strike?", "Maria Lindqvist")
    dataset = write_dataset(tmp_path / "dataset", ARTICLES, [*QUESTIONS, strayed], "answer_spans")
    monkeypatch.setenv("ARTICLEBOT_FOLLOW_MIN_SCORE", "0.0")
    misses = tmp_path / "misses.jsonl"
    status, out = run("eval", str(dataset), "--follows", "--json", "--misses", str(misses))
    assert status == 0, out
    rows = [json.loads(line) for line in misses.read_text(encoding="utf-8").splitlines()]
    assert [(r["question"], r["noticed_by"]) for r in rows] == [(strayed[1], "a4")], "once, as noticed off target"
    assert rows[0]["quotes"][0]["title"] == "Harbour strike"
