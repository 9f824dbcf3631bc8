"""`articlebot bench` as a smoke test on a tiny dataset (the real runs are benchmarks, not tests)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import run


def test_bench_prints_every_number_for_every_size(dataset: Path, index_dir) -> None:  # noqa: F811
    status, out = run("bench", str(dataset), "--passages", "3,8", "--encode-limit", "5", "--json")
    assert status == 0
    encoded, synthetic = json.loads(out)["sizes"]
    for size in (encoded, synthetic):
        assert list(size) == [
            "passages",
            "articles",
            "backend",
            "vectors",
            "encoder_passages_per_s",
            "ingest_passages_per_s",
            "ingest_ratio",
            "build_s",
            "query_p50_ms",
            "query_p95_ms",
            "query_p99_ms",
            "stage_p50_ms",
            "stage_p95_ms",
            "vector_index",
            "recall_at_10",
            "rss_mb",
            "disk_mb",
            "load_s",
            "ready_s",
            "no_reader_p50_ms",
            "no_reader_p95_ms",
        ]
        assert set(size["stage_p50_ms"]) == set(size["stage_p95_ms"]) == {"embed", "search", "reader", "quotes"}
        assert size["stage_p50_ms"]["reader"] > 0 and 0 < size["no_reader_p50_ms"] <= size["no_reader_p95_ms"]
        assert size["backend"] == "onnx"
        assert size["query_p50_ms"] > 0 and 0 < size["load_s"] < size["ready_s"]
        assert size["rss_mb"] > 100 and size["disk_mb"] > 0
        assert (size["vector_index"], size["recall_at_10"]) == ("exact", 1.0)
    assert (encoded["passages"], encoded["vectors"]) == (3, "encoded")
    assert encoded["encoder_passages_per_s"] > 0 and encoded["ingest_passages_per_s"] > 0
    # Above the encode limit the copies reuse embedded vectors: no ingest throughput to report.
    assert (synthetic["passages"], synthetic["vectors"], synthetic["ingest_ratio"]) == (8, "synthetic", None)
    assert run("bench", str(dataset), "--passages", "many")[0] == 1
    assert run("bench", str(dataset), "--backends", "onnx,tensorflow")[0] == 1


def test_bench_compares_backends_in_one_run(dataset: Path, index_dir) -> None:  # noqa: F811
    status, out = run("bench", str(dataset), "--passages", "3", "--backends", "onnx,torch", "--json")
    assert status == 0
    sizes = json.loads(out)["sizes"]
    assert [(s["passages"], s["backend"]) for s in sizes] == [(3, "onnx"), (3, "torch")]
    assert all(s["ingest_passages_per_s"] > 0 for s in sizes)
    assert run("bench", str(dataset / "nope"))[0] == 1
