"""Follow-up questions read with the turn before them: the deterministic rewrite, through the index and
the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import ArticleIndex, Turn, rewrite
from index.answer.followups import proper_names
from index.measure.evaluate import EvalQuestion, GoldSpan, followup_pairs

pytestmark = pytest.mark.both_stores  # the same tests on SQLite and on PostgreSQL

CHINA = Turn(
    "How did China react to Putin's re-election?",
    "Meanwhile Chinese President Xi Jinping, who is a close ally to Russia, said that the partnership is strong.",
)


@pytest.mark.parametrize(
    ("question", "searched"),
    [
        ("what about France?", "How did France react to Putin's re-election?"),
        ("And the US?", "How did the US react to Putin's re-election?"),
        ("How about Japan", "How did Japan react to Putin's re-election?"),
        ("when?", "When did China react to Putin's re-election?"),
        ("Why?", "Why did China react to Putin's re-election?"),
        ("who said that?", "Who said Meanwhile Chinese President Xi Jinping, who is a close ally to Russia?"),
        ("What did he say next?", "What did Chinese President Xi Jinping say next?"),
        ("Why did it matter?", "Why did China matter?"),
        ("What did its leaders say?", "What did China's leaders say?"),
        ("How many votes did Putin win?", "How many votes did Putin win?"),  # stands alone
        ("Tell me more", "Tell me more"),
    ],
)
def test_follow_ups_are_rewritten_from_the_turn_before(question: str, searched: str) -> None:
    assert rewrite(question, CHINA) == searched


@pytest.mark.parametrize(
    ("before", "question", "searched"),
    [
        ("What percentage of votes did Putin win?", "when?", "When did Putin win?"),
        ("What percentage of votes did Putin win?", "how?", "How did Putin win?"),
        ("Which Russian leader did Trump call?", "when?", "When did Trump call?"),
        ("How many votes did the party get?", "why?", "Why did the party get?"),
        (
            "How many people were killed in the attack?",
            "where?",
            "Where people were killed in the attack?",
        ),  # a subject
        ("Who won the election?", "when?", "When won the election?"),  # no verb after the wh-phrase: the word alone
        ("Who won, and what did they say?", "why?", "Why won, and what did they say?"),  # a clause break ends it
        ("How did Trump react?", "and Kim Jong Un?", "How did Kim Jong Un react?"),
    ],
)
def test_a_bare_question_word_replaces_the_whole_wh_phrase(before: str, question: str, searched: str) -> None:
    assert rewrite(question, Turn(before)) == searched


def test_without_a_turn_before_nothing_is_rewritten() -> None:
    assert rewrite("what about France?", None) == "what about France?"


def test_names_skip_the_words_that_only_start_a_sentence() -> None:
    assert proper_names("Meanwhile Chinese President Xi Jinping met Putin's aides on Monday.") == [
        "Chinese President Xi Jinping",
        "Putin",
    ]


def test_the_index_answers_a_follow_up_and_says_what_it_searched(seed_index: ArticleIndex) -> None:
    first = seed_index.ask("How did China react?")
    turn = Turn(first.question, first.quotes[0].text)
    answer = seed_index.ask("when?", after=turn)
    assert answer.question == "when?" and answer.searched == "When did China react?"
    assert answer.to_json()["searched"] == "When did China react?"
    alone = seed_index.ask("How did China react?", after=turn)
    assert alone.searched == "" and "searched" not in alone.to_json()


def test_made_up_follow_ups_replace_a_shared_name_with_a_pronoun() -> None:
    span = GoldSpan("a", 0, 100)
    asked = [
        EvalQuestion("When was the Eiffel Tower built?", "a", ("1889",), (span,), paragraph=span),
        EvalQuestion("How tall is the Eiffel Tower?", "a", ("300 m",), (span,), paragraph=span),
        EvalQuestion("Who designed the Eiffel Tower's lift?", "a", ("Otis",), (span,), paragraph=span),
        EvalQuestion("Where is Paris?", "a", ("France",), (span,), paragraph=span),
    ]
    pairs = followup_pairs(asked)
    assert [(f.question, e) for f, _, e in pairs] == [
        ("When was the Eiffel Tower built?", "How tall is it?"),
        ("How tall is the Eiffel Tower?", "Who designed its lift?"),
    ]


def test_the_command_line_holds_a_conversation(index_dir: Path) -> None:
    from tests.support.cli import run

    status, out = run("ask", "-", "--conversation", stdin="How did China react?\nwhen?\n")
    assert status == 0
    assert "Q: when?\nSearching for: When did China react?" in out
