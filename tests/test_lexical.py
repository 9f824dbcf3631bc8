"""The lexical index (tantivy): BM25 as written in the textbook, through adds, removals, collections and reopening."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from index.search.bm25 import Analyzer, LexicalError, LexicalIndex

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
        if raw > 0:
            scores[i] = min(raw / total, 1.0)
    return scores


def found(index: LexicalIndex, query: str, collections: tuple[str, ...] | None = None) -> dict[int, float]:
    return dict(index.top(index.analyzer.terms(query), 100, collections))


def assert_matches_reference(index: LexicalIndex, docs: dict[int, str], query: str) -> None:
    expected = reference_scores(docs, query)
    scores = found(index, query)
    assert scores.keys() == expected.keys()
    for i in expected:
        assert scores[i] == pytest.approx(expected[i], rel=1e-4)


def filled(folder: Path, one_commit_each: bool = False) -> LexicalIndex:
    index = LexicalIndex(folder)
    for i, text in DOCS.items():
        index.add([i], [text])
        if one_commit_each:  # one segment per add
            index.save()
    index.save()
    return index


@pytest.mark.parametrize("query", ["old bridge steel", "museum dinosaur", "bridge bridge council", "president vote"])
@pytest.mark.parametrize("one_commit_each", [False, True])
def test_scores_are_bm25(tmp_path: Path, query: str, one_commit_each: bool) -> None:
    assert_matches_reference(filled(tmp_path, one_commit_each), DOCS, query)


def test_the_analyzer_stems_and_drops_stop_words() -> None:
    assert Analyzer().terms("How did the Councils REACT to the bridges' closing?") == [
        "council",
        "react",
        "bridg",
        "close",
    ]


def test_changes_are_seen_after_the_commit(tmp_path: Path) -> None:
    index = filled(tmp_path)
    index.add([7], ["A second bridge of corroded steel."])
    index.remove([2])
    assert 2 in found(index, "corroded") and 7 not in found(index, "corroded")
    index.save()
    assert set(found(index, "corroded")) == {7}
    assert len(index) == 6 and index.newest() == 7


def test_removed_chunks_are_never_found_again(tmp_path: Path) -> None:
    index = filled(tmp_path, one_commit_each=True)
    index.remove([2, 4, 99])  # 99 was never there
    index.save()
    assert len(index) == 4
    assert not {2, 4} & set(found(index, "bridge steel museum dinosaur corroded"))
    reopened = LexicalIndex(tmp_path)
    assert not {2, 4} & set(found(reopened, "bridge steel museum dinosaur corroded"))
    assert list(reopened.chunk_ids()) == [1, 3, 5, 6]


def test_scores_of_given_chunks_are_their_scores_in_the_ranking(tmp_path: Path) -> None:
    index = filled(tmp_path)
    terms = index.analyzer.terms("old bridge steel")
    ranked = dict(index.top(terms, 10))
    assert index.scores(terms, [6, 2, 3]) == {2: ranked[2], 6: ranked[6]}  # 3 holds no query term
    assert index.scores(terms, []) == {}


def test_a_search_sees_only_the_collections_it_names(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    index.add([1, 2], [DOCS[1], DOCS[2]])  # shared
    index.add([3, 4], [DOCS[4], DOCS[6]], collection="111")
    index.add([5], [DOCS[6]], collection="222")
    index.save()
    assert set(found(index, "bridge")) == {1, 2, 3, 4, 5}
    assert set(found(index, "bridge", ("", "111"))) == {1, 2, 3, 4}
    assert set(found(index, "bridge", ("",))) == {1, 2}
    assert set(found(index, "budget", ("", "111"))) == {4}


def test_the_best_come_first_and_k_limits_them(tmp_path: Path) -> None:
    index = filled(tmp_path)
    expected = sorted(reference_scores(DOCS, "bridge steel").items(), key=lambda h: -h[1])
    top = index.top(index.analyzer.terms("bridge steel"), 2)
    assert [i for i, _ in top] == [i for i, _ in expected[:2]]


def test_a_query_term_no_chunk_has_lowers_every_score(tmp_path: Path) -> None:
    index = filled(tmp_path)
    plain, diluted = found(index, "museum"), found(index, "museum zanzibar")
    assert diluted.keys() == plain.keys() and all(diluted[i] < plain[i] for i in plain)
    assert index.idf("zanzibar") > index.idf("museum")


def test_reopened_it_scores_as_before(tmp_path: Path) -> None:
    index = filled(tmp_path)
    before = found(index, "bridge steel museum")
    assert found(LexicalIndex(tmp_path), "bridge steel museum") == before


def test_an_empty_index_finds_nothing(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path)
    assert (len(index), index.newest(), list(index.chunk_ids())) == (0, 0, [])
    assert index.top(["bridg"], 5) == [] and index.top([], 5) == [] and index.scores(["bridg"], [1]) == {}


def test_a_damaged_index_says_so(tmp_path: Path) -> None:
    filled(tmp_path)
    (tmp_path / "meta.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(LexicalError, match="damaged lexical index"):
        LexicalIndex(tmp_path)
    rebuilt = LexicalIndex.recreate(tmp_path)
    assert len(rebuilt) == 0
