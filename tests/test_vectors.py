"""Vector search: exact up to a size limit, IVF above it, with real FAISS and SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.articles import article_key, parse_text
from index.chunking import Chunk
from index.store import Store
from index.vectors import Selection, VectorIndex

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors in 20 loose clusters, like topics in embedded text."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    return unit(centres[rng.integers(0, 20, count)] + 0.6 * rng.normal(size=(count, DIM)))


def fill(store: Store, vectors: np.ndarray, per_article: int = 50) -> list[str]:
    """Store `vectors` as articles of `per_article` chunks; returns the article sources."""
    sources = []
    for n, start in enumerate(range(0, len(vectors), per_article)):
        rows = vectors[start:start + per_article]
        article = parse_text(f"Article {n}\n\n" + " ".join(f"Word{i}." for i in range(len(rows))), f"file:{n}.txt")
        chunks = [Chunk(0, 1, 0, "W")] * len(rows)
        store.add(article, chunks, rows)
        sources.append(article.source)
    return sources


def exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    return set(ids[np.argsort(-(vectors @ query))[:k]].tolist())


def test_small_collections_are_searched_exactly(tmp_path: Path) -> None:
    store = Store(tmp_path, "m", DIM, exact_limit=1000)
    vectors = clustered(400)
    fill(store, vectors)
    store.save()
    assert store.vector_index_kind == "exact"
    ids = np.arange(1, 401)
    query = vectors[17]
    assert {i for i, _ in store.search(query, 10)} == exact_top(vectors, ids, query, 10)


def test_past_the_limit_saving_switches_to_ivf_which_finds_nearly_what_exact_search_finds(tmp_path: Path) -> None:
    store = Store(tmp_path, "m", DIM, exact_limit=1000)
    vectors = clustered(3000)
    fill(store, vectors)
    assert store.vector_index_kind == "exact"
    store.save()
    assert store.vector_index_kind == "ivf"
    ids = np.arange(1, 3001)
    queries = unit(clustered(50, seed=1) + 0.1)
    recall = np.mean([len({i for i, _ in store.search(q, 10)} & exact_top(vectors, ids, q, 10)) / 10 for q in queries])
    assert recall >= 0.9  # on real text vectors it is about 0.99: `articlebot bench`
    store.close()

    reopened = Store(tmp_path, "m", DIM, exact_limit=1000)
    assert reopened.vector_index_kind == "ivf"
    assert reopened.search(vectors[5], 1)[0][0] == 6  # a stored vector is its own nearest neighbour


def test_ivf_follows_removals_and_limited_searches(tmp_path: Path) -> None:
    store = Store(tmp_path, "m", DIM, exact_limit=1000)
    vectors = clustered(2000)
    sources = fill(store, vectors)
    store.save()
    assert store.remove(article_key(sources[0], ""))  # chunk ids 1..50
    assert all(i > 50 for i, _ in store.search(vectors[0], 20))

    allowed = Selection(np.arange(1000, 1101))
    found = store.search(vectors[1500], 10, allowed)
    assert found and all(1000 <= i <= 1100 for i, _ in found)
    assert {i for i, _ in found} == exact_top(vectors[999:1100], np.arange(1000, 1101), vectors[1500], 10)


def test_a_rebuild_from_the_database_picks_the_kind_by_size(tmp_path: Path) -> None:
    store = Store(tmp_path, "m", DIM, exact_limit=1000)
    fill(store, clustered(1500))
    store.close()  # never saved: the next open rebuilds from SQLite
    rebuilt = Store(tmp_path, "m", DIM, exact_limit=1000)
    assert rebuilt.vector_index_kind == "ivf"
    rebuilt.save()
    rebuilt.close()
    assert Store(tmp_path, "m", DIM, exact_limit=5000).vector_index_kind == "ivf", "a saved file is used as it is"
    assert Store(tmp_path / "other", "m", DIM, exact_limit=5000).vector_index_kind == "exact"


def test_vector_index_round_trips(tmp_path: Path) -> None:
    index = VectorIndex.exact(DIM)
    vectors = clustered(10)
    index.add(vectors, np.arange(100, 110))
    copy = VectorIndex.deserialize(index.serialize())
    assert copy.ntotal == 10 and copy.search(vectors[3], 1)[0][0] == 103
