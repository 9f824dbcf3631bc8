"""Asking: verbatim quotes from the right article, grouped by source, and abstention."""

from __future__ import annotations

from dataclasses import replace

import pytest

from index import ArticleIndex, QuestionError
from index.ingest.parse import parse_text
from tests.support.texts import XI_SENTENCE

pytestmark = pytest.mark.both_stores  # the same tests on SQLite and on PostgreSQL


CORPUS = {
    "bridge": """Old bridge closes for repairs

The city council voted on Tuesday to close the old river bridge for at least six months. Engineers found that the steel beams were badly corroded.

The repairs will cost about 12 million dollars, paid from the state infrastructure fund. Traffic will be sent over the northern ring road.

Shop owners near the bridge said they feared losing customers during the closure.""",
    "museum": """Science museum opens downtown

A new science museum opened downtown on Saturday with a planetarium and a hall of dinosaur skeletons. More than 5,000 visitors came on the first day.

The building was designed by the architect Maria Lindqvist. Tickets cost 15 dollars for adults and are free for children under 12.""",
    "election": """Mayor re-elected with a wide margin

Mayor Tom Okafor won a second term on Sunday with 64 percent of the vote. His challenger, Ellen Park, conceded before midnight.

Turnout was 41 percent, the lowest in twenty years. Okafor promised to fix the old bridge and to build more housing.""",
}


@pytest.fixture
def corpus_index(seed_index: ArticleIndex) -> ArticleIndex:
    for name, text in CORPUS.items():
        seed_index.add(parse_text(text, f"file:{name}.txt"))
    return seed_index


def test_china_question_quotes_the_xi_jinping_sentence_first(seed_index: ArticleIndex) -> None:
    answer = seed_index.ask("How did China react?")
    assert answer.answered
    first = answer.quotes[0]
    assert first.text.startswith(XI_SENTENCE)
    assert first.title == "North Korea's Kim Jong Un Congratulates Vladimir Putin on Election Win"
    assert (first.outlet, first.paragraph) == ("Newsweek", 9)


def test_vote_share_question_quotes_the_77_percent_sentence_first(seed_index: ArticleIndex) -> None:
    first = seed_index.ask("What percentage of votes did Putin win?").quotes[0]
    assert "Putin won close to 77 percent of votes." in first.text


@pytest.mark.parametrize(
    "question",
    ["What is the capital of Peru?", "What will the weather be in Paris tomorrow?", "Who won the Super Bowl?"],
)
def test_unrelated_questions_are_not_answered(seed_index: ArticleIndex, question: str) -> None:
    answer = seed_index.ask(question)
    assert not answer.answered
    assert answer.quotes == ()
    assert [s.title for s in answer.sources] == [seed_index.articles()[0].title]


def test_the_abstention_threshold_is_a_setting(seed_index: ArticleIndex) -> None:
    assert seed_index.ask("What did Trump say?").answered
    seed_index.settings = replace(seed_index.settings, min_score=0.95)
    assert not seed_index.ask("What did Trump say?").answered
    seed_index.settings = replace(seed_index.settings, min_score=0.0)
    assert seed_index.ask("What is the capital of Peru?").answered


QUESTIONS = [
    "How did China react?",
    "Who congratulated Putin?",
    "How much will the bridge repairs cost?",
    "Who designed the museum?",
    "How many visitors came to the museum?",
    "What was the turnout?",
    "Who conceded?",
    "Why was the bridge closed?",
    "What did shop owners fear?",
    "sanctions",
    "Russia",
    "bridge",
    "dinosaur",
    "percent",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_every_quote_is_a_verbatim_substring_of_its_article(corpus_index: ArticleIndex, question: str) -> None:
    answer = corpus_index.ask(question, k=5)
    for quote in answer.quotes:
        article = corpus_index.article(quote.article_id)
        assert article is not None
        assert article.text[quote.start : quote.end] == quote.text
        assert quote.title == article.title
        paragraph = article.text.split("\n\n")[quote.paragraph - 1]
        assert quote.text in paragraph


@pytest.mark.parametrize(
    ("question", "article", "words"),
    [
        ("How much will the bridge repairs cost?", "Old bridge closes for repairs", "12 million dollars"),
        ("Who designed the museum?", "Science museum opens downtown", "Maria Lindqvist"),
        ("What share of the vote did the mayor get?", "Mayor re-elected with a wide margin", "64 percent"),
    ],
)
def test_answers_come_from_the_right_article(
    corpus_index: ArticleIndex, question: str, article: str, words: str
) -> None:
    first = corpus_index.ask(question).quotes[0]
    assert first.title == article
    assert words in first.text


def test_quotes_are_grouped_by_article_at_most_two_each(corpus_index: ArticleIndex) -> None:
    answer = corpus_index.ask("bridge", k=10)
    articles = [q.article_id for q in answer.quotes]
    assert articles, "the bridge is in two articles"
    for article_id in set(articles):
        assert articles.count(article_id) <= 2
        first = articles.index(article_id)
        assert articles[first : first + articles.count(article_id)] == [article_id] * articles.count(article_id)
    scores = {}
    for q in answer.quotes:
        scores.setdefault(q.article_id, []).append(q.score)
    assert all(s == sorted(s, reverse=True) for s in scores.values())


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 1001])
def test_bad_questions_are_refused(seed_index: ArticleIndex, question: str) -> None:
    with pytest.raises(QuestionError):
        seed_index.ask(question)


def test_dense_and_lexical_modes_both_find_the_vote_share(seed_index: ArticleIndex) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        [best] = seed_index.search("What percentage of votes did Putin win?", k=1, mode=mode)
        assert "77 percent" in best.text, mode
    with pytest.raises(ValueError):
        seed_index.search("votes", mode="fuzzy")  # type: ignore[arg-type]


def test_answer_json_has_the_documented_keys(seed_index: ArticleIndex) -> None:
    data = seed_index.ask("How did China react?").to_json()
    assert list(data) == ["question", "answered", "quotes", "sources"]
    assert list(data["quotes"][0]) == [
        "text",
        "article_id",
        "title",
        "url",
        "outlet",
        "paragraph",
        "start",
        "end",
        "score",
    ]
    assert list(data["sources"][0]) == ["article_id", "title", "url", "score"]


def test_a_quote_that_leans_on_the_sentence_before_brings_it_along(empty_index: ArticleIndex) -> None:
    empty_index.add(
        parse_text(
            "Talks in Brussels\n\nThe German chancellor met the French president in Brussels on Monday. "
            "She said the talks on the budget had been difficult but fair. Farmers protested outside the building.\n\n"
            "The summit ends on Friday with a vote on fishing quotas.",
            "file:talks.txt",
        )
    )
    answer = empty_index.ask("What did the chancellor say about the talks?")
    assert answer.answered
    first = answer.quotes[0].text
    assert first.startswith("The German chancellor met the French president") and "difficult but fair" in first, (
        "'She said ...' alone does not say who she is"
    )
