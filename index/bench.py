"""`articlebot bench`: ingest throughput against the encoder's own, query latency by stage, memory, disk.

Passages are the paragraphs of a SQuAD-format dataset's articles, repeated (as new articles) to
reach the larger sizes.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterator, Sequence

from .article_index import ArticleIndex
from .articles import Article, parse_text
from .embedder import get_embedder
from .ingest import ARTICLES_PER_BATCH
from .settings import Settings

QUERIES = 200


@dataclass(frozen=True)
class SizeReport:
    """One collection size; the JSON keys are documented in the README and kept stable."""

    passages: int
    articles: int
    encoder_passages_per_s: float
    ingest_passages_per_s: float
    ingest_ratio: float
    query_p50_ms: float
    query_p95_ms: float
    query_p99_ms: float
    stage_p50_ms: dict[str, float]
    rss_mb: float
    disk_mb: float
    load_s: float


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _articles(dataset: Path, passages: int) -> Iterator[Article]:
    """Articles of `passages` paragraphs in all."""
    rows = [json.loads(line) for line in (dataset / "articles.jsonl").open(encoding="utf-8") if line.strip()]
    made, copy = 0, 0
    while made < passages:
        for row in rows:
            paragraphs = [p for p in row["text"].split("\n\n") if p.strip()][: passages - made]
            if not paragraphs:
                return
            if copy:  # a copy with the same text would be recognised as a duplicate and not embedded
                paragraphs[0] = f"{paragraphs[0]} (Copy {copy}.)"
            text = "\n\n".join(paragraphs)
            yield parse_text(f"{row['title']}\n\n{text}", f"bench:{copy}:{row['id']}")
            made += len(paragraphs)
            if made >= passages:
                return
        copy += 1


def _questions(dataset: Path) -> list[str]:
    rows = [json.loads(line)["question"] for line in (dataset / "questions.jsonl").open(encoding="utf-8") if line.strip()]
    return random.Random(0).sample(rows, min(QUERIES, len(rows)))


def bench_size(dataset: Path, passages: int, settings: Settings, folder: Path) -> SizeReport:
    """Build an index of about `passages` passages in `folder` and measure it."""
    embedder = get_embedder(settings.model, settings.device, settings.batch_size)
    index = ArticleIndex(folder, embedder, replace(settings, index_dir=folder))
    articles = list(_articles(dataset, passages))

    started = time.perf_counter()
    for start in range(0, len(articles), ARTICLES_PER_BATCH):  # as `articlebot ingest` does
        index.add_many(articles[start:start + ARTICLES_PER_BATCH])
    index.save()
    ingest_s = time.perf_counter() - started
    chunks = index.store.count_chunks()

    # The limit: the same encoder on the same texts (title + chunk), batched, nothing else.
    stored = {a.id: a for a in index.articles()}
    texts = [index._embedding_text(stored[c.article_id].title, stored[c.article_id].text[c.start:c.end])
             for c in index.store.all_chunks()]
    started = time.perf_counter()
    embedder.encode(texts)
    encode_s = time.perf_counter() - started

    index.store.close()
    started = time.perf_counter()
    index = ArticleIndex(folder, embedder, replace(settings, index_dir=folder))
    index.search("warm-up", k=1)  # the first search builds the lexical index
    load_s = time.perf_counter() - started

    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    for question in _questions(dataset):
        timings: dict[str, float] = {}
        started = time.perf_counter()
        index.ask_with_passages(question, stages=timings)
        latencies.append((time.perf_counter() - started) * 1000)
        for stage, seconds in timings.items():
            stages.setdefault(stage, []).append(seconds * 1000)
    report = SizeReport(
        passages=chunks, articles=len(articles),
        encoder_passages_per_s=len(texts) / encode_s, ingest_passages_per_s=chunks / ingest_s,
        ingest_ratio=(chunks / ingest_s) / (len(texts) / encode_s),
        query_p50_ms=_percentile(latencies, 0.5), query_p95_ms=_percentile(latencies, 0.95),
        query_p99_ms=_percentile(latencies, 0.99),
        stage_p50_ms={s: round(statistics.median(v), 2) for s, v in stages.items()},
        rss_mb=_rss_mb(), disk_mb=_disk_mb(folder), load_s=load_s,
    )
    index.store.close()
    return report


def bench(dataset: Path, sizes: Sequence[int], settings: Settings) -> list[SizeReport]:
    """Measure each size in a fresh temporary index."""
    reports = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="articlebot-bench-") as tmp:
            reports.append(bench_size(dataset, size, settings, Path(tmp) / "index"))
    return reports


def to_json(reports: Sequence[SizeReport]) -> dict[str, Any]:
    return {"sizes": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(r).items()} for r in reports]}


def format_reports(reports: Sequence[SizeReport]) -> str:
    """A text table, one column per size."""
    rows = [
        ("passages", lambda r: f"{r.passages:,}"),
        ("encoder passages/s", lambda r: f"{r.encoder_passages_per_s:.1f}"),
        ("ingest passages/s", lambda r: f"{r.ingest_passages_per_s:.1f}"),
        ("ingest / encoder", lambda r: f"{r.ingest_ratio:.2f}"),
        ("query p50 ms", lambda r: f"{r.query_p50_ms:.1f}"),
        ("query p95 ms", lambda r: f"{r.query_p95_ms:.1f}"),
        ("query p99 ms", lambda r: f"{r.query_p99_ms:.1f}"),
        *[(f"  {stage} p50 ms", lambda r, s=stage: f"{r.stage_p50_ms.get(s, 0):.1f}")
          for stage in (reports[0].stage_p50_ms if reports else {})],
        ("resident MB", lambda r: f"{r.rss_mb:.0f}"),
        ("disk MB", lambda r: f"{r.disk_mb:.1f}"),
        ("load s", lambda r: f"{r.load_s:.2f}"),
    ]
    return "\n".join(f"{name:22}" + "".join(f"{cell(r):>12}" for r in reports) for name, cell in rows)
