"""`articlebot bench` as a smoke test on a tiny dataset (the real runs are benchmarks, not tests)."""

from __future__ import annotations

import json
from pathlib import Path

from .test_cli import run
from .test_evaluate import dataset  # noqa: F401 - the fixture


def test_bench_prints_every_number_for_every_size(dataset: Path, index_dir) -> None:  # noqa: F811
    status, out = run("bench", str(dataset), "--passages", "3,8", "--json")
    assert status == 0
    sizes = json.loads(out)["sizes"]
    assert [s["passages"] for s in sizes] == [3, 8]
    for size in sizes:
        assert list(size) == ["passages", "articles", "encoder_passages_per_s", "ingest_passages_per_s",
                              "ingest_ratio", "query_p50_ms", "query_p95_ms", "query_p99_ms", "stage_p50_ms",
                              "rss_mb", "disk_mb", "load_s"]
        assert set(size["stage_p50_ms"]) == {"embed", "search", "quotes"}
        assert size["encoder_passages_per_s"] > 0 and size["ingest_passages_per_s"] > 0
        assert size["rss_mb"] > 100 and size["disk_mb"] > 0
    assert run("bench", str(dataset), "--passages", "many")[0] == 1
    assert run("bench", str(dataset / "nope"))[0] == 1
