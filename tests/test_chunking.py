"""Sentences and chunks: exact spans, every sentence covered, no word cut, within the model's limit."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.ingest.chunking import chunk_text, paragraph_spans, sentence_spans

WORDS = st.one_of(
    st.sampled_from(
        [
            "the",
            "Putin",
            "U.S.",
            "Mr.",
            "77",
            "percent",
            "e.g.",
            "Xi's",
            "re-election",
            "“quoted”",
            "(aside)",
            "São",
            "naïve",
            "北京",
            "3.5",
            "emoji🙂",
            "x" * 40,
        ]
    ),
    st.text(alphabet=st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=12),
)
SENTENCE = st.tuples(st.lists(WORDS, min_size=1, max_size=40), st.sampled_from([".", "!", "?", '."', ""])).map(
    lambda t: " ".join(t[0]) + t[1]
)
PARAGRAPH = st.lists(SENTENCE, min_size=1, max_size=8).map(" ".join)
ARTICLE = st.lists(PARAGRAPH, min_size=1, max_size=6).map("\n\n".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ARTICLE, budget=st.integers(min_value=4, max_value=254), overlap=st.integers(0, 2))
def test_chunks_are_exact_whole_word_spans_covering_every_sentence(
    encoder, text: str, budget: int, overlap: int
) -> None:
    chunks = chunk_text(text, encoder.count_tokens, budget, overlap)
    paragraphs = paragraph_spans(text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text == c.text.strip() and c.text
        assert c.start == 0 or text[c.start - 1].isspace(), "chunk starts inside a word"
        assert c.end == len(text) or text[c.end].isspace(), "chunk ends inside a word"
        para = paragraphs[c.paragraph - 1]
        assert para.start <= c.start and c.end <= para.end
        tokens = encoder.count_tokens([c.text])[0]
        assert tokens <= budget or len(c.text.split()) == 1, "chunk over budget"
    for para in paragraphs:
        for s in sentence_spans(text, para.start, para.end):
            if encoder.count_tokens([text[s.start : s.end]])[0] <= budget:
                assert any(c.start <= s.start and s.end <= c.end for c in chunks), "sentence not in one chunk"
            else:  # an over-long sentence is spread over several chunks, word by word
                for word_start in range(s.start, s.end):
                    if not text[word_start].isspace():
                        assert any(c.start <= word_start < c.end for c in chunks)


def test_chunks_of_a_real_article_fit_the_model_with_title_context(seed_index) -> None:
    [article] = seed_index.articles()
    title_tokens = seed_index.encoder.count_tokens([article.title])[0]
    for chunk in seed_index.store.all_chunks():
        text = article.text[chunk.start : chunk.end]
        assert seed_index.encoder.count_tokens([text])[0] + title_tokens + 3 <= seed_index.encoder.max_tokens


def test_long_paragraphs_overlap_by_one_sentence(encoder) -> None:
    sentences = [f"Sentence number {i} talks about topic {i} at some length today." for i in range(12)]
    text = " ".join(sentences)
    chunks = chunk_text(text, encoder.count_tokens, budget=40, overlap=1)
    assert len(chunks) > 3
    for before, after in zip(chunks, chunks[1:]):
        last_sentence = before.text.rsplit(". ", 1)[-1]
        assert after.text.startswith(last_sentence)


def test_sentences_respect_abbreviations_initials_and_quotes() -> None:
    text = 'Mr. Smith met J. K. Rowling in the U.S. on Jan. 5. They talked. "Is it?" she asked. It cost $4.5 million.'
    assert [text[s.start : s.end] for s in sentence_spans(text)] == [
        "Mr. Smith met J. K. Rowling in the U.S. on Jan. 5.",
        "They talked.",
        '"Is it?" she asked.',
        "It cost $4.5 million.",
    ]
