"""Vector search: exact up to a size limit, IVF above it, with real FAISS and SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index.ingest.parse import parse_text
from index.records import Chunk, NewArticle, article_key
from index.search.faiss_index import FaissIndex, FaissVectorIndex
from index.storage.sqlite import SQLiteStore

DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clustered(count: int, seed: int = 0) -> np.ndarray:
    """Unit vectors in 20 loose clusters, like topics in embedded text."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, DIM))
    return unit(centres[rng.integers(0, 20, count)] + 0.6 * rng.normal(size=(count, DIM)))


def opened(folder: Path, exact_limit: int = 1000) -> tuple[SQLiteStore, FaissVectorIndex]:
    store = SQLiteStore(folder, "m", DIM)
    return store, FaissVectorIndex(folder, store, exact_limit)


def fill(
    store: SQLiteStore,
    index: FaissVectorIndex,
    vectors: np.ndarray,
    per_article: int = 50,
    collections: tuple[str, ...] = ("",),
) -> list[str]:
    """Store `vectors` as articles of `per_article` chunks (collections in turn); returns their sources."""
    sources = []
    for n, start in enumerate(range(0, len(vectors), per_article)):
        rows = vectors[start : start + per_article]
        article = parse_text(f"Article {n}\n\n" + " ".join(f"Word{i}." for i in range(len(rows))), f"file:{n}.txt")
        chunks = [Chunk(0, 1, 0, "W")] * len(rows)
        index.apply(store.add(NewArticle(article, chunks, rows, collection=collections[n % len(collections)])))
        sources.append(article.source)
    return sources


def exact_top(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int) -> set[int]:
    return set(ids[np.argsort(-(vectors @ query))[:k]].tolist())


def test_small_collections_are_searched_exactly(tmp_path: Path) -> None:
    store, index = opened(tmp_path)
    vectors = clustered(400)
    fill(store, index, vectors)
    index.save()
    assert index.kind == "exact"
    ids = np.arange(1, 401)
    query = vectors[17]
    assert {i for i, _ in index.search(query, 10)} == exact_top(vectors, ids, query, 10)


def test_past_the_limit_saving_switches_to_ivf_which_finds_nearly_what_exact_search_finds(tmp_path: Path) -> None:
    store, index = opened(tmp_path)
    vectors = clustered(3000)
    fill(store, index, vectors)
    assert index.kind == "exact"
    index.save()
    assert index.kind == "ivf"
    ids = np.arange(1, 3001)
    queries = unit(clustered(50, seed=1) + 0.1)
    recall = np.mean([len({i for i, _ in index.search(q, 10)} & exact_top(vectors, ids, q, 10)) / 10 for q in queries])
    assert recall >= 0.9  # on real text vectors it is about 0.99: `articlebot bench`
    store.close()

    _, reopened = opened(tmp_path)
    assert reopened.kind == "ivf" and len(reopened) == 3000
    assert reopened.search(vectors[5], 1)[0][0] == 6  # a stored vector is its own nearest neighbour


def test_ivf_follows_removals_and_searches_limited_to_collections(tmp_path: Path) -> None:
    store, index = opened(tmp_path)
    vectors = clustered(2000)
    sources = fill(store, index, vectors, collections=("", "111"))  # articles 0, 2, 4 … shared; 1, 3 … server 111's
    index.save()
    index.apply(store.remove(article_key(sources[0], "")))  # chunk ids 1..50
    assert all(i > 50 for i, _ in index.search(vectors[0], 20))

    # Article n holds ids 50n+1 … 50n+50; the shared ones left are articles 2, 4, …, 38.
    shared_ids = np.concatenate([np.arange(100 * m + 1, 100 * m + 51) for m in range(1, 20)])
    found = index.search(vectors[1500], 10, collections=("",))
    assert found and {i for i, _ in found} <= set(shared_ids.tolist())
    assert {i for i, _ in found} == exact_top(vectors[shared_ids - 1], shared_ids, vectors[1500], 10)


def test_a_rebuild_from_the_database_picks_the_kind_by_size(tmp_path: Path) -> None:
    store, index = opened(tmp_path)
    fill(store, index, clustered(1500))
    index.rebuild(store)
    assert index.kind == "ivf"
    index.save()
    store.close()
    assert opened(tmp_path, exact_limit=5000)[1].kind == "ivf", "a saved file is used as it is"
    store, fresh = opened(tmp_path / "other", exact_limit=5000)
    assert fresh.kind == "exact" and len(fresh) == 0


def test_faiss_index_round_trips() -> None:
    index = FaissIndex.exact(DIM)
    vectors = clustered(10)
    index.add(vectors, np.arange(100, 110))
    copy = FaissIndex.deserialize(index.serialize())
    assert copy.ntotal == 10 and copy.search(vectors[3], 1)[0][0] == 103
