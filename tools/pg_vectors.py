"""Choose and tune pgvector's index for the PostgreSQL store (index/search/pgvector_index.py): HNSW against
IVFFlat, by recall against exact search and by query time, on the vectors articlebot searches.

The passages (paragraphs of a SQuAD-format dataset, each with its title, as the index embeds them)
are embedded once, then copied with noise to reach each size, as `articlebot bench` does; the
questions are the dataset's. For each size, each index and each search setting (HNSW
`ef_search`, IVFFlat `probes`) it reports the build time, the recall of the 50 candidates
retrieval asks for (and of the top 10) against an exact scan, and the query time. The server is
given by a PostgreSQL URL; the tool works in a scratch database there and drops it.

    python -m tools.pg_vectors ../shared/eval/squad-v1.1-dev postgresql://... --passages 10000,100000
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from index import Settings, load_encoder
from index.storage.postgres import scratch_database

CANDIDATES = 50
QUESTIONS = 200
NOISE = 0.5  # as `articlebot bench` copies passages
EF_SEARCH = (40, 100, 200, 400)
PROBES = (5, 10, 20, 40)


def embedded(dataset: Path) -> tuple[np.ndarray, np.ndarray]:
    """(passage vectors, question vectors) of the dataset, unit length."""
    encoder = load_encoder(Settings())
    rows = [json.loads(line) for line in (dataset / "articles.jsonl").open(encoding="utf-8") if line.strip()]
    texts = [f"{r['title']}\n{p}" for r in rows for p in r["text"].split("\n\n") if p.strip()]
    questions = [
        json.loads(line)["question"] for line in (dataset / "questions.jsonl").open(encoding="utf-8") if line.strip()
    ]
    asked = random.Random(0).sample(questions, min(QUESTIONS, len(questions)))
    return encoder.encode(texts), encoder.encode(asked)


def grown(base: np.ndarray, size: int) -> np.ndarray:
    """`size` vectors: the base ones, then noisy unit-length copies of them."""
    rng = np.random.default_rng(0)
    parts, made = [base[:size]], min(len(base), size)
    while made < size:
        copy = base[: size - made] + rng.normal(scale=NOISE / math.sqrt(base.shape[1]), size=base[: size - made].shape)
        parts.append(copy / np.linalg.norm(copy, axis=1, keepdims=True))
        made += len(copy)
    return np.concatenate(parts).astype(np.float32)


def measure(
    db, queries: np.ndarray, exact: list[set[int]], exact10: list[set[int]], setting: str, value: int
) -> dict[str, float]:
    """Recall of the 50 candidates and of the top 10 against exact search, and per-query milliseconds,
    with `setting` = `value`."""
    db.execute(f"SET {setting} = {value}")
    times, recall50, recall10 = [], [], []
    for query, wanted, wanted10 in zip(queries, exact, exact10):
        started = time.perf_counter()
        found = [
            r[0] for r in db.execute("SELECT id FROM vectors ORDER BY vector <#> %s LIMIT %s", (query, CANDIDATES))
        ]
        times.append((time.perf_counter() - started) * 1000)
        recall50.append(len(set(found) & wanted) / len(wanted))
        recall10.append(len(set(found[:10]) & wanted10) / len(wanted10))
    return {
        "recall_at_50": statistics.mean(recall50),
        "recall_at_10": statistics.mean(recall10),
        "p50_ms": statistics.median(times),
        "p95_ms": float(np.percentile(times, 95)),
    }


def run(dataset: Path, url: str, sizes: list[int]) -> list[dict]:
    import psycopg
    from pgvector.psycopg import register_vector

    base, queries = embedded(dataset)
    results = []
    for size in sizes:
        vectors = grown(base, size)
        scores = queries @ vectors.T
        exact = [set((np.argsort(-row)[:CANDIDATES] + 1).tolist()) for row in scores]
        exact10 = [set((np.argsort(-row)[:10] + 1).tolist()) for row in scores]
        with scratch_database(url) as scratch, psycopg.connect(scratch, autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(db)
            db.execute(f"CREATE TABLE vectors (id bigint PRIMARY KEY, vector vector({vectors.shape[1]}) NOT NULL)")
            with db.cursor().copy("COPY vectors (id, vector) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "vector"])
                for i, v in enumerate(vectors, start=1):
                    copy.write_row((i, v))
            db.execute("SET maintenance_work_mem = '1GB'")
            for kind, build, setting, values in (
                (
                    "hnsw",
                    "CREATE INDEX vectors_index ON vectors USING hnsw (vector vector_ip_ops) "
                    "WITH (m = 16, ef_construction = 64)",
                    "hnsw.ef_search",
                    EF_SEARCH,
                ),
                (
                    "ivfflat",
                    f"CREATE INDEX vectors_index ON vectors USING ivfflat (vector vector_ip_ops) "
                    f"WITH (lists = {max(10, round(math.sqrt(size)))})",
                    "ivfflat.probes",
                    PROBES,
                ),
            ):
                started = time.perf_counter()
                db.execute(build)
                built = time.perf_counter() - started
                for value in values:
                    row = measure(db, queries, exact, exact10, setting, value)
                    row.update(size=size, index=kind, setting=f"{setting}={value}", build_s=built)
                    results.append(row)
                    print(
                        json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True
                    )
                db.execute("DROP INDEX vectors_index")
            started = time.perf_counter()
            for q in queries[:50]:
                db.execute("SELECT id FROM vectors ORDER BY vector <#> %s LIMIT 50", (q,)).fetchall()
            print(
                json.dumps(
                    {
                        "size": size,
                        "index": "none (exact scan)",
                        "p50_ms": round((time.perf_counter() - started) * 1000 / 50, 2),
                    }
                ),
                flush=True,
            )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("url", help="a PostgreSQL server with pgvector (a scratch database is made there)")
    parser.add_argument("--passages", default="10000,100000")
    args = parser.parse_args()
    run(args.dataset, args.url, [int(s) for s in args.passages.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
