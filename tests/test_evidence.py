"""The cues the quote model reads: what a question asks for, and what a sentence holds."""

from __future__ import annotations

import numpy as np
import pytest

from index.answer.evidence import (
    FEATURES,
    WITH_READER,
    WITHOUT_READER,
    QuestionCues,
    SentenceCues,
    answer_type,
    ask_of,
    holds,
)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("How many people died in the fire?", "number"),
        ("What percentage of votes did Putin win?", "number"),
        ("How much did the card sell for?", "number"),
        ("When did the strike end?", "date"),
        ("In which year was the bridge built?", "date"),
        ("Who designed the museum?", "name"),
        ("Which country sent troops?", "name"),
        ("Where is the bottle now?", "name"),
        ("How did China react?", ""),
        ("Why did the talks fail?", ""),
    ],
)
def test_the_answer_type_comes_from_the_question_word(question: str, kind: str) -> None:
    assert answer_type(question) == kind


def test_a_long_preamble_is_not_the_ask() -> None:
    question = (
        "A Mickey Mantle baseball card from 1952 recently sold at auction, setting a record. "
        "How much did the card sell for?"
    )
    assert ask_of(question) == "How much did the card sell for?"
    assert answer_type(question) == "number"
    assert ask_of("Tell me about the strike") == "Tell me about the strike"


def test_sentences_hold_numbers_dates_and_names() -> None:
    assert holds("The card sold for $12.6 million.", "number")
    assert holds("It sold for twelve million dollars.", "number")
    assert not holds("It sold for a record sum.", "number")
    assert holds("The strike ended on Friday.", "date") and holds("It was built in 1889.", "date")
    assert holds("The museum was designed by Maria Lindqvist.", "name")
    assert not holds("The museum was designed by a local architect.", "name")  # only the first word is capitalised


def test_attribution_is_asked_for_and_found() -> None:
    assert QuestionCues.of("How did China react?").attribution
    assert QuestionCues.of("What did Merkel say about the deal?").attribution
    assert not QuestionCues.of("How many moons does Jupiter have?").attribution
    assert SentenceCues.of("Xi Jinping said the partnership was at its best level.").attribution
    assert SentenceCues.of("“We will not give up,” the minister told reporters.").attribution
    assert not SentenceCues.of("The bridge was closed for repairs.").attribution


def test_a_sentence_that_opens_with_a_pronoun_leans_on_the_one_before() -> None:
    assert SentenceCues.of("He said the talks would resume.").leans_back
    assert SentenceCues.of("But the union rejected the offer.").leans_back
    assert not SentenceCues.of("The union rejected the offer.").leans_back
    assert not SentenceCues.of("Heathrow was closed.").leans_back


@pytest.mark.parametrize("model", [WITH_READER, WITHOUT_READER])
def test_the_model_is_a_probability_over_its_features(model) -> None:
    assert len(model.weights) == len(FEATURES)
    strong, weak = model.probabilities(
        np.array(
            [
                (0.8, 1.0, 0.0, 0.0, 0.5, 0.5, 0.7, 0.9, 1.0, 0.0, 1.0, 0.0, 1.0, 0.9, 4.0),
                (0.1, 0.0, -0.5, -0.8, 0.1, 0.0, 0.1, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.9, -4.0),
            ]
        )
    )
    assert 0.0 < weak < strong < 1.0
