"""The lexical index: BM25 as written in the textbook, kept exact through adds, removals, merges and saves."""

from __future__ import annotations

import io
import math
from collections import Counter

import numpy as np
import pytest

from index.lexical import Analyzer, LexicalIndex

DOCS = {
    1: "The council voted to close the old bridge for repairs.",
    2: "Engineers found corroded steel under the bridge deck.",
    3: "A new science museum opened downtown with a planetarium.",
    4: "The museum has a hall of dinosaur skeletons and a bridge of glass.",
    5: "Voters re-elected the president with 77 percent of the vote.",
    6: "Steel prices rose as the council approved the bridge budget.",
}


def reference_scores(docs: dict[int, str], query: str) -> dict[int, float]:
    """Lucene BM25 (k1 1.2, b 0.75) divided by the query's total idf, computed the slow, obvious way."""
    analyzer = Analyzer()
    terms = {i: analyzer.terms(t) for i, t in docs.items()}
    average = sum(len(t) for t in terms.values()) / len(terms)
    query_terms = analyzer.terms(query)

    def idf(term: str) -> float:
        df = sum(term in t for t in terms.values())
        return math.log(1 + (len(terms) - df + 0.5) / (df + 0.5))

    total = sum(idf(q) for q in query_terms)
    scores = {}
    for i, doc in terms.items():
        tf = Counter(doc)
        raw = sum(idf(q) * tf[q] / (tf[q] + 1.2 * (1 - 0.75 + 0.75 * len(doc) / average)) for q in query_terms)
        scores[i] = min(raw / total, 1.0)
    return scores


def scores_by_id(index: LexicalIndex, query: str) -> dict[int, float]:
    scores = index.scores(index.analyzer.terms(query))
    return {int(i): float(s) for i, s in zip(index.ids, scores) if s > 0}


def assert_matches_reference(index: LexicalIndex, docs: dict[int, str], query: str) -> None:
    expected = {i: s for i, s in reference_scores(docs, query).items() if s > 0}
    found = scores_by_id(index, query)
    assert found.keys() == expected.keys()
    for i in expected:
        assert found[i] == pytest.approx(expected[i], rel=1e-5)


@pytest.mark.parametrize("query", ["old bridge steel", "museum dinosaur", "bridge bridge council", "president vote"])
def test_scores_are_bm25_whether_added_at_once_or_one_by_one(query: str) -> None:
    at_once = LexicalIndex()
    at_once.add(list(DOCS), list(DOCS.values()))
    one_by_one = LexicalIndex()
    for i, text in DOCS.items():  # six segments, merged as they come
        one_by_one.add([i], [text])
    assert_matches_reference(at_once, DOCS, query)
    assert_matches_reference(one_by_one, DOCS, query)


def test_removed_chunks_leave_the_scores_of_an_index_built_without_them() -> None:
    index = LexicalIndex()
    for i, text in DOCS.items():
        index.add([i], [text])
    index.remove([2, 4, 99])  # 99 was never there
    remaining = {i: t for i, t in DOCS.items() if i not in (2, 4)}
    assert len(index) == 4
    assert_matches_reference(index, remaining, "bridge steel museum")
    index.add([7], ["A second bridge of steel."])
    assert_matches_reference(index, {**remaining, 7: "A second bridge of steel."}, "bridge steel museum")


def test_many_removals_compact_the_index_and_keep_it_exact() -> None:
    docs = {i: f"{DOCS[i % 6 + 1]} Number {i}." for i in range(1, 3001)}
    index = LexicalIndex()
    for start in range(1, 3001, 100):
        index.add(list(range(start, start + 100)), [docs[i] for i in range(start, start + 100)])
    gone = [i for i in docs if i % 3]  # two thirds
    index.remove(gone)
    remaining = {i: t for i, t in docs.items() if not i % 3}
    assert len(index.ids) == len(remaining), "dead chunks were dropped"
    assert_matches_reference(index, remaining, "corroded steel 300")


def test_ids_must_grow() -> None:
    index = LexicalIndex()
    index.add([5], ["bridge"])
    with pytest.raises(ValueError, match="ascending"):
        index.add([3], ["museum"])


def test_a_query_term_no_chunk_has_lowers_every_score() -> None:
    index = LexicalIndex()
    index.add(list(DOCS), list(DOCS.values()))
    plain = scores_by_id(index, "museum")
    diluted = scores_by_id(index, "museum zanzibar")
    assert diluted.keys() == plain.keys()
    assert all(diluted[i] < plain[i] for i in plain)


def test_save_and_load_give_the_same_scores() -> None:
    index = LexicalIndex()
    for i, text in DOCS.items():
        index.add([i], [text])
    index.remove([3])
    index.generation = 12
    buffer = io.BytesIO()
    index.save(buffer)
    buffer.seek(0)
    loaded = LexicalIndex.load(buffer)
    assert loaded.generation == 12 and len(loaded) == 5
    for query in ("bridge steel", "museum dinosaur planetarium"):
        terms = index.analyzer.terms(query)
        assert np.array_equal(loaded.scores(terms), index.scores(terms))
    loaded.add([8], ["Dinosaur bones in the museum."])  # a loaded index goes on growing
    assert 8 in scores_by_id(loaded, "dinosaur")


def test_an_empty_index_scores_nothing() -> None:
    index = LexicalIndex()
    assert len(index.scores(["bridge"])) == 0
    buffer = io.BytesIO()
    index.save(buffer)
    buffer.seek(0)
    assert len(LexicalIndex.load(buffer)) == 0
