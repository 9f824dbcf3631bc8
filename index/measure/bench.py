"""`articlebot bench`: ingest throughput against the encoder's own, query latency by stage, memory, disk.

Passages are the paragraphs of a SQuAD-format dataset's articles, repeated (as new articles) to
reach the larger sizes. Up to `--encode-limit` passages every one is embedded, as `articlebot
ingest` does; above it (embedding 1,000,000 passages would take hours) the copies reuse the vectors
of a first embedded copy with random noise added, so that no two are alike. Each index is then
measured in a fresh process, as the bot would open it: load time, query latency, memory.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import ARTICLES_PER_BATCH, Article, ArticleIndex, Embedded, Settings, load_encoder, parse_text, scratch_store
from .percentiles import percentile

QUERIES = 200
#: Articles ingested between two measurements of the raw encoder.
PART = 48
ENCODE_LIMIT = 20_000
#: Norm of the noise added to a reused vector (before normalising): cosine to the original ≈ 0.9.
NOISE = 0.5
#: Synthetic articles stored at a time (one lexical commit each), as a large ingest would.
SYNTHETIC_BATCH = 256


@dataclass(frozen=True)
class SizeReport:
    """One collection size; the JSON keys are documented in docs/performance.md and kept stable."""

    passages: int
    articles: int
    backend: str  # the encoder backend ("onnx" or "torch")
    vectors: str  # "encoded" or "synthetic"
    encoder_passages_per_s: float | None
    ingest_passages_per_s: float | None
    ingest_ratio: float | None
    build_s: float
    query_p50_ms: float
    query_p95_ms: float
    query_p99_ms: float
    stage_p50_ms: dict[str, float]
    stage_p95_ms: dict[str, float]
    vector_index: str  # "exact" or "ivf"
    recall_at_10: float
    rss_mb: float
    disk_mb: float
    load_s: float
    ready_s: float
    #: The same questions on the same index without the reader (None when the reader is off).
    no_reader_p50_ms: float | None = None
    no_reader_p95_ms: float | None = None


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _process_age_s() -> float:
    """Seconds since this process started (Linux: its start time and the uptime, both since boot)."""
    with open("/proc/self/stat") as stat:
        started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as uptime:
        return float(uptime.read().split()[0]) - started


def _disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _articles(dataset: Path, passages: int, copy: int = 0) -> Iterator[Article]:
    """Articles of `passages` paragraphs in all, copies numbered from `copy`."""
    rows = [json.loads(line) for line in (dataset / "articles.jsonl").open(encoding="utf-8") if line.strip()]
    made = 0
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
    rows = [
        json.loads(line)["question"] for line in (dataset / "questions.jsonl").open(encoding="utf-8") if line.strip()
    ]
    return random.Random(0).sample(rows, min(QUERIES, len(rows)))


def _ingest(index: ArticleIndex, articles: Sequence[Article]) -> None:
    for start in range(0, len(articles), ARTICLES_PER_BATCH):  # as `articlebot ingest` does
        index.add_many(articles[start : start + ARTICLES_PER_BATCH])


def _embedded_base(index: ArticleIndex, dataset: Path) -> list[Embedded]:
    """Every article of the dataset once, chunked and embedded (the material of synthetic copies)."""
    base = []
    rows = [json.loads(line) for line in (dataset / "articles.jsonl").open(encoding="utf-8") if line.strip()]
    articles = list(_articles(dataset, sum(len([p for p in r["text"].split("\n\n") if p.strip()]) for r in rows)))
    for start in range(0, len(articles), ARTICLES_PER_BATCH):
        base += index.embed(articles[start : start + ARTICLES_PER_BATCH])
    return base


def _fill_synthetic(index: ArticleIndex, base: Sequence[Embedded], passages: int) -> int:
    """Store copies of `base` with noisy vectors until `passages` chunks; returns the articles stored."""
    rng = np.random.default_rng(0)
    made = articles = copy = 0
    batch: list[Embedded] = []
    while made < passages:
        copy += 1
        for item in base:
            noisy = item.vectors + rng.normal(scale=NOISE / np.sqrt(item.vectors.shape[1]), size=item.vectors.shape)
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            batch.append(
                replace(
                    item,
                    article=replace(item.article, source=f"synthetic:{copy}:{item.article.source}"),
                    vectors=noisy.astype(np.float32),
                )
            )
            made, articles = made + len(item.chunks), articles + 1
            if len(batch) == SYNTHETIC_BATCH or made >= passages:
                index.add_embedded(batch)
                batch = []
            if made >= passages:
                break
    index.save()
    return articles


def _measure(folder: Path, settings: Settings, questions: Sequence[str]) -> dict[str, Any]:
    """Open the index in this (fresh) process and time it, as the bot would use it."""
    encoder = load_encoder(settings)
    encoder.encode(["warm-up"])  # "ready" is counted from a loaded model
    started = time.perf_counter()
    index = ArticleIndex(folder, encoder, replace(settings, index_dir=folder))
    index.warm_up()  # as the bot does before it reports ready
    load_s = time.perf_counter() - started
    ready_s = _process_age_s()  # from the process's start: imports, model and index

    latencies, stages = _ask_all(index, questions)
    rss = _rss_mb()  # before the exact search below reads every vector
    report = dict(
        query_p50_ms=percentile(latencies, 0.5),
        query_p95_ms=percentile(latencies, 0.95),
        query_p99_ms=percentile(latencies, 0.99),
        stage_p50_ms={s: round(statistics.median(v), 2) for s, v in stages.items()},
        stage_p95_ms={s: round(percentile(v, 0.95), 2) for s, v in stages.items()},
        vector_index=index.stats().vector_search,
        recall_at_10=_vector_recall(index, encoder, questions),
        rss_mb=rss,
        load_s=load_s,
        ready_s=ready_s,
    )
    index.close()
    if settings.reader:  # the same questions on the same index without the reader, for the ratio
        with ArticleIndex(folder, encoder, replace(settings, index_dir=folder, reader=False)) as plain:
            plain.warm_up()
            without, _ = _ask_all(plain, questions)
        report.update(no_reader_p50_ms=percentile(without, 0.5), no_reader_p95_ms=percentile(without, 0.95))
    return report


def _ask_all(index: ArticleIndex, questions: Sequence[str]) -> tuple[list[float], dict[str, list[float]]]:
    """Each question's milliseconds, and each stage's."""
    latencies: list[float] = []
    stages: dict[str, list[float]] = {}
    for question in questions:
        started = time.perf_counter()
        timings = index.retrieve(question).timings
        latencies.append((time.perf_counter() - started) * 1000)
        for stage, seconds in timings.items():
            stages.setdefault(stage, []).append(seconds * 1000)
    return latencies, stages


def _vector_recall(index: ArticleIndex, encoder: Any, questions: Sequence[str], k: int = 10) -> float:
    """How many of the `k` passages vector search finds for each question are among the exact `k` best."""
    found = [[p.chunk_id for p in index.search(q, k, mode="dense")] for q in questions]
    wanted = {i for ids in found for i in ids}
    # One at a time, as the index embeds a question: int8 ONNX Runtime quantises each batch's activations
    # by its own range, so a question embedded in a batch comes out slightly different (cosine ≥ 0.99).
    queries = np.stack([encoder.encode([q])[0] for q in questions])
    best = np.full((len(queries), k), -np.inf, dtype=np.float32)
    exact: dict[int, np.ndarray] = {}  # the exact vectors of what was found
    for ids, vectors in index.chunk_vectors():
        best = -np.sort(-np.concatenate([best, queries @ vectors.T], axis=1), axis=1)[:, :k]
        exact.update((int(i), v) for i, v in zip(ids, vectors) if int(i) in wanted)
    # A result counts if its exact score reaches the exact k-th best (less float error): copies of a
    # passage tie, and which of two tied copies comes first is no loss.
    return statistics.mean(
        float(np.sum(np.array([exact[i] for i in ids]) @ q >= top[np.isfinite(top)].min() - 1e-5))
        / np.isfinite(top).sum()
        for ids, q, top in zip(found, queries, best)
        if ids
    )


def bench_size(
    dataset: Path,
    passages: int,
    settings: Settings,
    folder: Path,
    encode_limit: int = ENCODE_LIMIT,
    base: list[Embedded] | None = None,
) -> SizeReport:
    """Build an index of about `passages` passages in `folder` and measure it.

    Args:
        base: embedded articles to copy for a synthetic index (made here if needed and not given).
    """
    encoder = load_encoder(settings)
    index = ArticleIndex(folder, encoder, replace(settings, index_dir=folder))
    encode_rate = ingest = ratio = None
    started = time.perf_counter()
    if passages <= encode_limit:
        articles = list(_articles(dataset, passages))
        count, build_s, encode_s = len(articles), 0.0, 0.0
        # Warm the encoder first (torch's first passes at each new input shape are slow), so that
        # neither side pays for it.
        encoder.encode([text for a in articles[:PART] for text in index.texts_to_embed(a)])
        # Ingest and the limit (the same encoder on the same texts, title + chunk, batched, nothing
        # else) take turns part by part, so that a machine that slows down or speeds up over the
        # minutes of a run weighs on both alike.
        for part in range(0, len(articles), PART):
            texts = [text for a in articles[part : part + PART] for text in index.texts_to_embed(a)]
            started = time.perf_counter()
            _ingest(index, articles[part : part + PART])
            build_s += time.perf_counter() - started
            started = time.perf_counter()
            encoder.encode(texts)
            encode_s += time.perf_counter() - started
        started = time.perf_counter()
        index.save()  # once at the end, as `articlebot ingest` does
        build_s += time.perf_counter() - started
        chunks = index.stats().chunks
        encode_rate, ingest = chunks / encode_s, chunks / build_s
        ratio = ingest / encode_rate
    else:
        count = _fill_synthetic(index, base if base is not None else _embedded_base(index, dataset), passages)
        chunks = index.stats().chunks
    index.close()  # waits for a vector index being built in the background (PostgreSQL)
    if encode_rate is None:
        build_s = time.perf_counter() - started

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        measured = pool.apply(_measure, (folder, settings, _questions(dataset)))
    return SizeReport(
        passages=chunks,
        articles=count,
        backend=settings.backend,
        vectors="encoded" if encode_rate else "synthetic",
        encoder_passages_per_s=encode_rate,
        ingest_passages_per_s=ingest,
        ingest_ratio=ratio,
        build_s=build_s,
        disk_mb=_disk_mb(folder),
        **measured,
    )


def bench(
    dataset: Path,
    sizes: Sequence[int],
    settings: Settings,
    encode_limit: int = ENCODE_LIMIT,
    backends: Sequence[str] = (),
) -> list[SizeReport]:
    """Measure each size in a fresh temporary index, with each encoder backend in turn (default: the setting's),
    so that backends are compared in one run."""
    reports = []
    bases: dict[str, list[Embedded]] = {}
    for size in sizes:
        for backend in backends or [settings.backend]:
            chosen = replace(settings, backend=backend)  # type: ignore[arg-type]
            with tempfile.TemporaryDirectory(prefix="articlebot-bench-") as tmp, scratch_store(chosen) as chosen:
                folder = Path(tmp) / "index"
                if size > encode_limit and backend not in bases:
                    # Only embeds: no database needed beyond a throwaway SQLite one.
                    embedding = replace(chosen, database_url="")
                    bases[backend] = _embedded_base(
                        ArticleIndex(Path(tmp) / "base", load_encoder(embedding), embedding), dataset
                    )
                reports.append(bench_size(dataset, size, chosen, folder, encode_limit, bases.get(backend)))
    return reports


def to_json(reports: Sequence[SizeReport]) -> dict[str, Any]:
    return {"sizes": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(r).items()} for r in reports]}


def format_reports(reports: Sequence[SizeReport]) -> str:
    """A text table, one column per size."""

    def number(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:,.{digits}f}"

    rows = [
        ("passages", lambda r: f"{r.passages:,}"),
        ("backend", lambda r: r.backend),
        ("vectors", lambda r: r.vectors),
        ("encoder passages/s", lambda r: number(r.encoder_passages_per_s, 1)),
        ("ingest passages/s", lambda r: number(r.ingest_passages_per_s, 1)),
        ("ingest / encoder", lambda r: number(r.ingest_ratio, 2)),
        ("build s", lambda r: number(r.build_s, 0)),
        ("query p50 ms", lambda r: f"{r.query_p50_ms:.1f}"),
        ("query p95 ms", lambda r: f"{r.query_p95_ms:.1f}"),
        ("query p99 ms", lambda r: f"{r.query_p99_ms:.1f}"),
        *[
            (f"  {stage} p50 ms", lambda r, s=stage: f"{r.stage_p50_ms.get(s, 0):.1f}")
            for stage in (reports[0].stage_p50_ms if reports else {})
        ],
        ("  reader p95 ms", lambda r: f"{r.stage_p95_ms.get('reader', 0):.1f}"),
        ("no reader p50 ms", lambda r: number(r.no_reader_p50_ms, 1)),
        ("no reader p95 ms", lambda r: number(r.no_reader_p95_ms, 1)),
        ("p50 / no reader", lambda r: number(r.query_p50_ms / r.no_reader_p50_ms if r.no_reader_p50_ms else None, 2)),
        ("vector index", lambda r: r.vector_index),
        ("recall@10 vs exact", lambda r: f"{r.recall_at_10:.3f}"),
        ("resident MB", lambda r: f"{r.rss_mb:,.0f}"),
        ("disk MB", lambda r: f"{r.disk_mb:,.1f}"),
        ("load s", lambda r: f"{r.load_s:.2f}"),
        ("ready s", lambda r: f"{r.ready_s:.2f}"),
    ]
    return "\n".join(f"{name:22}" + "".join(f"{cell(r):>12}" for r in reports) for name, cell in rows)
