"""Recency: answers limited to articles since a day (undated ones kept and marked), newer articles
preferred when a question asks for the latest, and a note when the newest match is older than asked."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from index import ArticleIndex, Scope, SinceError, parse_since
from index.answer.recency import older_than_asked, recency_days
from index.ingest.parse import parse_text

pytestmark = pytest.mark.both_stores  # the same tests on SQLite and on PostgreSQL

TODAY = date(2026, 12, 3)


def article(title: str, text: str, published: str, source: str) -> str:
    return f"---\ntitle: {title}\noutlet: Port News\ndate: {published}\n---\n{text}"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("7d", "2026-11-26"),
        ("2w", "2026-11-19"),
        (" 3m ", "2026-09-04"),
        ("1y", "2025-12-03"),
        ("2024-03-01", "2024-03-01"),
    ],
)
def test_since_is_read_as_days_weeks_months_or_a_date(text: str, day: str) -> None:
    assert parse_since(text, TODAY) == day


@pytest.mark.parametrize(
    ("text", "message"),
    [("yesterday", "must be like 7d"), ("2027-01-01", "in the future"), ("7x", "must be like"), ("", "must be like")],
)
def test_a_since_that_cannot_be_read_says_how_to_write_it(text: str, message: str) -> None:
    with pytest.raises(SinceError, match=message):
        parse_since(text, TODAY)


def test_the_words_of_a_question_say_how_recent_it_asks() -> None:
    assert recency_days("What happened today at the port?") == 1
    assert recency_days("What is the latest on the strike this week?") == 7
    assert recency_days("What is the latest on the strike?") == 31
    assert recency_days("How long did the strike last?") is None
    assert older_than_asked("2026-11-30", 7, TODAY) == ""
    assert older_than_asked("2024-03-12", 7, TODAY) == "The newest article on this is from 12 March 2024."


@pytest.fixture
def dated(empty_index: ArticleIndex) -> ArticleIndex:
    recent = (date.today() - timedelta(days=2)).isoformat()
    empty_index.add_many(
        [
            parse_text(
                article(
                    "Ferry fares rise",
                    "The island ferry raised its fares to 12 euros a trip on Monday, the "
                    "operator said, blaming the price of fuel.",
                    "2020-01-06",
                    "a",
                ),
                "file:a.txt",
            ),
            parse_text(
                article(
                    "Ferry fares cut",
                    "The island ferry cut its fares to 9 euros a trip after passengers "
                    "protested at the harbour for a week, the operator said.",
                    recent,
                    "b",
                ),
                "file:b.txt",
            ),
            parse_text(
                "Ferry timetable\n\nThe island ferry now sails every two hours in winter, and its fares stay as "
                "they were, said a notice at the harbour.",
                "file:c.txt",
            ),
        ]
    )
    return empty_index


def test_since_limits_the_articles_and_keeps_undated_ones(dated: ArticleIndex) -> None:
    everything = dated.ask("What are the island ferry fares?", k=3)
    assert {q.title for q in everything.quotes} >= {"Ferry fares rise", "Ferry fares cut"}
    recent = dated.ask("What are the island ferry fares?", k=3, scope=Scope(None, parse_since("7d")))
    assert recent.since and {q.title for q in recent.quotes} <= {"Ferry fares cut", "Ferry timetable"}
    assert "Ferry fares cut" in {q.title for q in recent.quotes}
    assert recent.to_json()["since"] == recent.since


def test_a_question_for_the_latest_prefers_newer_and_says_when_all_is_old(dated: ArticleIndex) -> None:
    latest = dated.ask("What are the latest island ferry fares?")
    assert latest.quotes[0].title == "Ferry fares cut" and latest.note == ""
    old = dated.ask("What is the latest on the fuel price, according to the ferry operator?", scope=Scope(None, ""))
    assert old.answered and [q.title for q in old.quotes] == ["Ferry fares rise"]
    assert old.note == "The newest article on this is from 6 January 2020."


def test_the_command_line_takes_since(index_dir: Path, capsys) -> None:
    from tests.support.cli import run

    status, out = run("ask", "How did China react?", "--since", "2018-01-01")
    assert status == 0 and "Newsweek, 2018-03-20" in out
    assert run("ask", "How did China react?", "--since", "soon")[0] == 1
    assert "since must be like 7d" in capsys.readouterr().err


def test_a_since_too_far_back_is_refused_plainly() -> None:
    with pytest.raises(SinceError, match="before the year 1"):
        parse_since("5000y", TODAY)
