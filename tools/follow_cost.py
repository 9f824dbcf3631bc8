"""What checking one new article against many followed questions costs (issue 25: at most 50 ms at
10,000 follows in one server): the news set's articles indexed, 10,000 SQuAD dev questions followed
(none about them, as most follows of a server are about other news), and every article checked.

    python -m tools.follow_cost ../shared/eval/onestopqa-news ../shared/eval/squad-v1.1-dev

Printed: the decision alone (nearness, then the quote model over the article's chunks for the near
follows; a bar no follow reaches, so nothing is quoted) and the whole check at the default bar (the
reader then orders the quotes of the follows that pass), p50 and p95 per article; and what the bot adds
to each check (bot/cogs/follow.py): reading the server's follows' version, and reading the follows
again after they changed, from a servers.sqlite3 holding them; and how many of these unrelated follows
lower bars would let through to the reader (which reads them before the agreement is known).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bot.server_data import ServerData
from index import ArticleIndex, FollowedQuestions, Settings, ingest_paths
from index.measure.evaluate import read_jsonl, write_articles
from index.measure.percentiles import percentile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("articles", type=Path, help="a dataset whose articles arrive")
    parser.add_argument("questions", type=Path, help="a dataset whose questions are followed")
    parser.add_argument("--follows", type=int, default=10_000)
    args = parser.parse_args()
    questions = [str(q["question"]) for q in read_jsonl(args.questions / "questions.jsonl")][: args.follows]
    with tempfile.TemporaryDirectory() as tmp:
        write_articles(read_jsonl(args.articles / "articles.jsonl"), Path(tmp) / "articles")
        index = ArticleIndex.open(replace(Settings.from_env(), index_dir=Path(tmp) / "index"))
        try:
            ingest_paths(index, [Path(tmp) / "articles"])
            follows = FollowedQuestions(index.encoder.dim)
            for n, vector in enumerate(index.question_vectors(questions)):
                follows.add(n, questions[n], vector)
            ids = [a.id for a in index.articles()]
            index.answers_for(follows, ids[0], min_score=1.01)  # stacks the vectors, warms the model
            decision, whole, notices = [], [], 0
            for article_id in ids:
                started = time.perf_counter()
                index.answers_for(follows, article_id, min_score=1.01)
                decision.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                notices += len(index.answers_for(follows, article_id))
                whole.append((time.perf_counter() - started) * 1000)
            # How many unrelated follows a lower bar lets through to the reader, per article.
            passing = {
                bar: sorted(len(index.answers_for(follows, a, min_score=bar, agreeing=False)) for a in ids)
                for bar in (0.1, 0.3)
            }
            disputed = sum(len(index.answers_for(follows, a, agreeing=False)) for a in ids) - notices
        finally:
            index.close()
        with ServerData(Path(tmp) / "servers") as data:
            for n, question in enumerate(questions):
                data.follows.follow(1, 2, 1000 + n // 20, question, keep_open=True)  # 20 follows per member
            version, reread = [], []
            for _ in ids:
                started = time.perf_counter()
                data.follows.version(1)
                version.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                data.follows.open_follows(1)
                reread.append((time.perf_counter() - started) * 1000)
    print(
        f"{len(follows):,} follows, {len(ids)} articles, {notices} notices at the default bar "
        f"({disputed} more without the agreement)"
    )
    print(
        f"decision per article       p50 {percentile(decision, 0.5):7.1f} ms   p95 {percentile(decision, 0.95):7.1f} ms"
    )
    print(f"with the notices' quotes   p50 {percentile(whole, 0.5):7.1f} ms   p95 {percentile(whole, 0.95):7.1f} ms")
    for bar, counts in passing.items():
        print(f"follows passing {bar:.1f}       median {counts[len(counts) // 2]} per article, most {counts[-1]}")
    print(
        f"bot: follows' version      p50 {percentile(version, 0.5):7.2f} ms   p95 {percentile(version, 0.95):7.2f} ms"
    )
    print(f"bot: re-read after change  p50 {percentile(reread, 0.5):7.1f} ms   p95 {percentile(reread, 0.95):7.1f} ms")


if __name__ == "__main__":
    main()
