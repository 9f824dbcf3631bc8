"""Compare BM25 engines for the lexical side: the one articlebot wrote itself (tools/own_bm25.py), tantivy
(index/search/bm25.py, what articlebot uses), SQLite FTS5, and PostgreSQL's ts_rank (not BM25; for the
PostgreSQL store of issue 15, needs `pip install -e '.[postgres]'`).

Each engine indexes the same passages (the paragraphs of a SQuAD-format dataset, each with its
title, as the index embeds them; copied to reach the larger sizes) with the same analyzer (\\w+
words, lowercased, stop words out, Snowball English stems), and answers what retrieval asks of
it: the 50 best passages for a question, and the scores of 50 given passages (the dense side's
candidates). Reported per size: build time, query time, load time, resident memory and disk, and
at the dataset's own size how often BM25 alone ranks the gold paragraph first and in the top 5.

    python -m tools.compare_lexical ../shared/eval/squad-v1.1-dev --quality ../shared/eval/onestopqa-news \\
        --passages 10000,100000,1000000 [--engines own,tantivy,fts5] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from index.search.bm25 import Analyzer, LexicalIndex
from tools import own_bm25

CANDIDATES = 50
QUERIES = 200
BATCH = 160  # passages per add: about what one ingest batch of 16 articles holds
K1 = 1.2  # FTS5's bm25() carries Lucene's (k1 + 1) factor


class Engine(Protocol):
    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None: ...
    def finish(self) -> None: ...
    def top(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]: ...
    def score(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]: ...


class Own:
    """The BM25 articlebot wrote itself (tools/own_bm25.py; one .npz per generation)."""

    def __init__(self, folder: Path, load: bool = False) -> None:
        self.path = folder / "lexical.npz"
        self.index = own_bm25.LexicalIndex.load(self.path) if load else own_bm25.LexicalIndex()

    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        self.index.add(ids, texts)

    def finish(self) -> None:
        with self.path.open("wb") as handle:
            self.index.save(handle)

    def top(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        scores = self.index.scores(terms)
        found = np.flatnonzero(scores)
        if len(found) > k:
            found = found[np.argpartition(-scores[found], k - 1)[:k]]
        return sorted(((int(self.index.ids[i]), float(scores[i])) for i in found), key=lambda h: -h[1])

    def score(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        scores = self.index.scores(terms)
        return {i: float(scores[p]) for i, p in zip(ids, np.searchsorted(self.index.ids, ids))}


class Tantivy:
    """tantivy, as index/search/bm25.py uses it: segments on disk (memory-mapped), block-max WAND top-k."""

    def __init__(self, folder: Path, load: bool = False) -> None:
        self.index = LexicalIndex(folder / "tantivy")

    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        self.index.add(ids, texts)
        self.index.save()  # visible to questions after each add, as an index must be

    def finish(self) -> None:
        pass

    def top(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        return self.index.top(terms, k)

    def score(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        return self.index.scores(terms, ids)


class Fts5:
    """SQLite FTS5 with its bm25(), over the analyzer's terms (FTS5 has no Snowball stemmer or stop words)."""

    def __init__(self, folder: Path, load: bool = False) -> None:
        self.db = sqlite3.connect(folder / "fts.sqlite3", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.analyzer = Analyzer()
        if not load:
            self.db.execute("CREATE VIRTUAL TABLE passages USING fts5(terms, tokenize='unicode61 remove_diacritics 0')")

    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO passages (rowid, terms) VALUES (?, ?)",
                [(int(i), " ".join(self.analyzer.terms(t))) for i, t in zip(ids, texts)],
            )

    def finish(self) -> None:
        self.db.execute("INSERT INTO passages (passages) VALUES ('optimize')")

    @staticmethod
    def _match(terms: Sequence[str]) -> str:
        return " OR ".join(f'"{t}"' for t in terms)

    def top(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        if not terms:
            return []
        rows = self.db.execute(
            "SELECT rowid, -bm25(passages) FROM passages WHERE passages MATCH ? ORDER BY rank LIMIT ?",
            (self._match(terms), k),
        )
        return [(i, s / (K1 + 1)) for i, s in rows]

    def score(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        if not terms:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"SELECT rowid, -bm25(passages) FROM passages WHERE passages MATCH ? AND rowid IN ({marks})",
            (self._match(terms), *map(int, ids)),
        )
        return {i: s / (K1 + 1) for i, s in rows}


class PgTsRank:
    """PostgreSQL full-text search ranked by ts_rank (normalisation 1: divided by 1 + log length), over the
    analyzer's terms with the 'simple' configuration, so that only the ranking differs from BM25. The
    server is the `pgserver` wheel's (PostgreSQL with pgvector), started in the engine's folder."""

    def __init__(self, folder: Path, load: bool = False) -> None:
        import pgserver
        import psycopg

        self.server = pgserver.get_server(str(folder / "pg"), cleanup_mode="stop")
        self.db = psycopg.connect(self.server.get_uri(), autocommit=True)
        self.analyzer = Analyzer()
        if not load:
            self.db.execute("CREATE TABLE passages (id bigint PRIMARY KEY, terms tsvector NOT NULL)")

    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        with self.db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO passages VALUES (%s, to_tsvector('simple', %s))",
                [(int(i), " ".join(self.analyzer.terms(t))) for i, t in zip(ids, texts)],
            )

    def finish(self) -> None:
        self.db.execute("CREATE INDEX IF NOT EXISTS passages_terms ON passages USING gin (terms)")
        self.db.execute("ANALYZE passages")

    @staticmethod
    def _query(terms: Sequence[str]) -> str:
        return " | ".join(dict.fromkeys(t.replace("'", "") for t in terms if t.replace("'", "")))

    def top(self, terms: Sequence[str], k: int) -> list[tuple[int, float]]:
        query = self._query(terms)
        if not query:
            return []
        return list(
            self.db.execute(
                "SELECT id, ts_rank(terms, q, 1) AS r FROM passages, to_tsquery('simple', %s) q WHERE terms @@ q "
                "ORDER BY r DESC LIMIT %s",
                (query, k),
            )
        )

    def score(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        query = self._query(terms)
        if not query:
            return {}
        return dict(
            self.db.execute(
                "SELECT id, ts_rank(terms, q, 1) FROM passages, to_tsquery('simple', %s) q WHERE id = ANY(%s) AND terms @@ q",
                (query, [int(i) for i in ids]),
            )
        )


ENGINES: dict[str, type] = {"own": Own, "tantivy": Tantivy, "fts5": Fts5, "pg_ts_rank": PgTsRank}


def _rows(dataset: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (dataset / name).open(encoding="utf-8") if line.strip()]


def _paragraphs(dataset: Path) -> list[tuple[str, str, int, str]]:
    """(article id, title, start, paragraph) of every paragraph."""
    found = []
    for row in _rows(dataset, "articles.jsonl"):
        at = 0
        for paragraph in row["text"].split("\n\n"):
            start = row["text"].index(paragraph, at)
            at = start + len(paragraph)
            if paragraph.strip():
                found.append((row["id"], row["title"], start, paragraph))
    return found


def _passages(dataset: Path, count: int) -> Iterator[str]:
    paragraphs = _paragraphs(dataset)
    for n in range(count):
        copy, (_, title, _, text) = divmod(n, len(paragraphs))[0], paragraphs[n % len(paragraphs)]
        yield f"{title}\n{text}" + (f" (Copy {copy}.)" if copy else "")


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _build(engine: str, dataset: Path, count: int, folder: Path) -> float:
    index = ENGINES[engine](folder)
    started = time.perf_counter()
    ids, texts = [], []
    for n, text in enumerate(_passages(dataset, count), start=1):
        ids.append(n)
        texts.append(text)
        if len(ids) == BATCH:
            index.add(ids, texts)
            ids, texts = [], []
    if ids:
        index.add(ids, texts)
    index.finish()
    return time.perf_counter() - started


def _measure(engine: str, folder: Path, questions: Sequence[list[str]], count: int) -> dict[str, float]:
    """In a fresh process: open the saved index, then time what one question asks of it."""
    before = _rss_mb()
    started = time.perf_counter()
    index = ENGINES[engine](folder, load=True)
    index.top(["warm"], 1)
    load_s = time.perf_counter() - started
    rng = random.Random(0)
    top_ms, score_ms = [], []
    for terms in questions:
        started = time.perf_counter()
        index.top(terms, CANDIDATES)
        top_ms.append((time.perf_counter() - started) * 1000)
        candidates = sorted(rng.sample(range(1, count + 1), min(CANDIDATES, count)))
        started = time.perf_counter()
        index.score(terms, candidates)
        score_ms.append((time.perf_counter() - started) * 1000)
    return {
        "load_s": load_s,
        "top_p50_ms": statistics.median(top_ms),
        "top_p95_ms": sorted(top_ms)[int(0.95 * len(top_ms))],
        "score_p50_ms": statistics.median(score_ms),
        "rss_mb": _rss_mb() - before,
    }


def _quality(engine: str, dataset: Path, folder: Path) -> dict[str, float]:
    """BM25 alone over the dataset's own paragraphs: is the gold paragraph first, in the top 5?"""
    paragraphs = _paragraphs(dataset)
    index = ENGINES[engine](folder)
    index.add(range(1, len(paragraphs) + 1), [f"{title}\n{text}" for _, title, _, text in paragraphs])
    index.finish()
    where = {(a, start): n for n, (a, _, start, _) in enumerate(paragraphs, start=1)}
    analyzer = Analyzer()
    at1 = at5 = asked = 0
    for row in _rows(dataset, "questions.jsonl"):
        gold = where.get((row["article_id"], row["gold_passage_span"]["start"]))
        if gold is None:
            continue
        ranked = [i for i, _ in index.top(analyzer.terms(row["question"]), 5)]
        asked += 1
        at1 += ranked[:1] == [gold]
        at5 += gold in ranked
    return {"questions": asked, "recall_at_1": at1 / asked, "recall_at_5": at5 / asked}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--quality", type=Path, action="append", default=[], help="more datasets for the quality check")
    parser.add_argument("--passages", default="10000,100000")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    analyzer = Analyzer()
    questions = [
        analyzer.terms(r["question"]) for r in random.Random(0).sample(_rows(args.dataset, "questions.jsonl"), QUERIES)
    ]
    report: dict = {"quality": {}, "sizes": []}
    for dataset in [args.dataset, *args.quality]:
        for engine in engines:
            with tempfile.TemporaryDirectory() as tmp:
                report["quality"].setdefault(dataset.name, {})[engine] = _quality(engine, dataset, Path(tmp))
        print(json.dumps({dataset.name: report["quality"][dataset.name]}), file=sys.stderr)
    for count in (int(p) for p in args.passages.split(",")):
        for engine in engines:
            folder = Path(tempfile.mkdtemp(prefix=f"lexical-{engine}-"))
            try:
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    build_s = pool.apply(_build, (engine, args.dataset, count, folder))
                with multiprocessing.get_context("spawn").Pool(1) as pool:
                    measured = pool.apply(_measure, (engine, folder, questions, count))
                row = {"engine": engine, "passages": count, "build_s": build_s, "disk_mb": _disk_mb(folder), **measured}
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            report["sizes"].append(row)
            print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print("| engine | passages | build s | top-50 p50 / p95 ms | score 50 p50 ms | load s | resident MB | disk MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in report["sizes"]:
        print(
            f"| {r['engine']} | {r['passages']:,} | {r['build_s']:.1f} | {r['top_p50_ms']:.2f} / {r['top_p95_ms']:.2f} | "
            f"{r['score_p50_ms']:.2f} | {r['load_s']:.2f} | {r['rss_mb']:.0f} | {r['disk_mb']:.0f} |"
        )
    for name, engines_quality in report["quality"].items():
        for engine, q in engines_quality.items():
            print(
                f"{name} {engine}: recall@1 {q['recall_at_1']:.4f}, recall@5 {q['recall_at_5']:.4f} ({q['questions']} questions)"
            )


if __name__ == "__main__":
    main()
