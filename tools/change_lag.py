"""How long a change made by one process takes to reach another on a shared PostgreSQL index.

Two indexes (as two processes have them: one database, each its own folder) are opened on a scratch
database of the given server. One adds articles one at a time; for each, the time from the add's
return to the other index finding it by its words (its own BM25 index, kept in step from the change
log: the last part of a change to arrive) is measured; then the same for removing them.

    python -m tools.change_lag postgresql://... [--changes 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from index import ArticleIndex, Settings, load_encoder, parse_text, scratch_store
from index.measure.percentiles import percentile

TIMEOUT_S = 30.0


def lag(check) -> float:
    """Seconds until `check()` holds."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > TIMEOUT_S:
            raise SystemExit(f"a change was not seen within {TIMEOUT_S} s")
        time.sleep(0.002)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="a PostgreSQL server with pgvector (a scratch database is made there)")
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args()
    settings = Settings(database_url=args.url)
    encoder = load_encoder(settings)
    with tempfile.TemporaryDirectory() as tmp, scratch_store(settings) as scratch:
        writer = ArticleIndex(Path(tmp) / "writer", encoder, scratch)
        reader = ArticleIndex(Path(tmp) / "reader", encoder, scratch)
        added, removed, ids = [], [], []
        for n in range(args.changes):
            word = f"zebra{n}quokka"
            result = writer.add(
                parse_text(f"Report {n}\n\nThe {word} was seen near the harbour on day {n}.", f"file:report{n}.txt")
            )
            ids.append(result.article_id)
            added.append(lag(lambda: any(p.article_id == result.article_id for p in reader.search(word, mode="bm25"))))
        for n, article_id in enumerate(ids):
            writer.remove(article_id)
            removed.append(lag(lambda: not reader.search(f"zebra{n}quokka", mode="bm25")))
        writer.close()
        reader.close()
    for name, seconds in (("add", added), ("remove", removed)):
        ms = [s * 1000 for s in seconds]
        print(
            f"{name:6} seen by the other process after: p50 {statistics.median(ms):.1f} ms, "
            f"p95 {percentile(ms, 0.95):.1f} ms, max {max(ms):.1f} ms ({len(ms)} changes)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
