"""Polling many feeds at once while people ask questions: how long indexing takes, and /ask's latency meanwhile.

A local news site (127.0.0.1) serves FEEDS RSS feeds of ITEMS items each; every item page is an article
made of two paragraphs of SQuAD dev prose. An index holding the seeds polls every feed at once, as the
bot's schedule does when they fall due together, while questions are asked back to back through the
same index (each in a worker thread, as the bot asks them). Prints the time until every item is
indexed, and the p50/p95 of a question before and during the polling.

    python -m tools.feed_load ../shared/eval/squad-v1.1-dev [--feeds 50] [--items 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from index import ArticleIndex, FeedList, FeedPoller, Fetcher, FetchPolicy, Settings, ensure_seeded
from index.measure.percentiles import percentile


def paragraphs(dataset: Path) -> list[str]:
    rows = [json.loads(line) for line in (dataset / "articles.jsonl").open()]
    return [p for r in rows for p in r["text"].split("\n\n") if len(p.split()) > 40]


def serve(feeds: int, items: int, prose: list[str]) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts[0] == "feed":
                f = int(parts[1].removesuffix(".xml"))
                entries = "".join(
                    f"<item><title>Report {f}-{n}</title><link>{base}/item/{f}/{n}</link>"
                    f"<guid>{base}/item/{f}/{n}</guid></item>"
                    for n in range(items)
                )
                body = (
                    f"<?xml version='1.0'?><rss version='2.0'><channel><title>Outlet {f}</title>"
                    f"{entries}</channel></rss>"
                ).encode()
                kind = "application/rss+xml"
            else:
                f, n = int(parts[1]), int(parts[2])
                first = (f * items + n) * 2 % len(prose)
                text = "".join(f"<p>{prose[(first + k) % len(prose)]}</p>" for k in range(2))
                body = (
                    f"<html><head><title>Report {f}-{n}</title></head><body><article><h1>Report {f}-{n}</h1>"
                    f"{text}</article></body></html>"
                ).encode()
                kind = "text/html; charset=utf-8"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, base


async def measure(index: ArticleIndex, feeds: FeedList, questions: list[str]) -> dict[str, float]:
    async def ask_until(done: asyncio.Event) -> list[float]:
        latencies = []
        for question in questions * 100:
            if done.is_set():
                break
            started = time.perf_counter()
            await asyncio.to_thread(index.ask, question)
            latencies.append((time.perf_counter() - started) * 1000)
        return latencies

    quiet = asyncio.Event()
    asyncio.get_running_loop().call_later(10, quiet.set)
    before = await ask_until(quiet)
    async with Fetcher(FetchPolicy(allow_private=True, timeout=30)) as fetcher:
        poller = FeedPoller(index, feeds, fetcher)  # one feed indexed at a time, as in the bot
        done = asyncio.Event()
        asking = asyncio.create_task(ask_until(done))
        started = time.perf_counter()
        results = await poller.poll_all(feeds.feeds())
        indexed_s = time.perf_counter() - started
        done.set()
        during = await asking
    added = sum(r.status == "added" for result in results for r in result.added)
    return {
        "articles_added": added,
        "index_s": round(indexed_s, 1),
        "articles_per_s": round(added / indexed_s, 1),
        "ask_p50_ms_before": round(statistics.median(before), 1),
        "ask_p95_ms_before": round(percentile(before, 0.95), 1),
        "ask_p50_ms_during": round(statistics.median(during), 1),
        "ask_p95_ms_during": round(percentile(during, 0.95), 1),
        "questions_during": len(during),
        "errors": sum(bool(r.error) for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--items", type=int, default=20)
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in (args.dataset / "questions.jsonl").open()]
    questions = random.Random(0).sample(questions, 200)
    server, base = serve(args.feeds, args.items, paragraphs(args.dataset))
    folder = Path(tempfile.mkdtemp(prefix="articlebot-feeds-"))
    try:
        settings = Settings.from_env()
        index = ArticleIndex.open(Settings(index_dir=folder / "index", encoder_cache=settings.encoder_cache))
        ensure_seeded(index, settings.seeds_dir)
        feeds = FeedList(folder / "index")
        for f in range(args.feeds):
            feeds.add("", f"{base}/feed/{f}.xml", f"Outlet {f}")
        report = asyncio.run(measure(index, feeds, questions))
        print(json.dumps({"feeds": args.feeds, "items": args.items, **report}))
    finally:
        server.shutdown()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
