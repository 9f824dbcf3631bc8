"""Measure how well near-copies of news articles are recognised as one story (index/ingest/stories.py).

Copies are made from real articles (onestopqa-news: Guardian; SQuAD dev: Wikipedia; the seeds) with
the variation copies of a story have in practice, each on its own:
  headline   another title, the same text
  trimmed    the last third of the paragraphs cut (wire copies are cut from the end)
  edited     one paragraph in five rewritten: every fourth word replaced
  relede     a new first paragraph, and a credit line added at the end
  combined   trimmed, edited and relede together
  tracking   the same text at its address with tracking parameters (canonical_url must undo them)
Every pair of different articles is a negative. A copy is recognised when the LSH index finds the
original among its candidates and the estimated containment reaches SAME_STORY.

    python -m tools.near_duplicates ../shared/eval/onestopqa-news ../shared/eval/squad-v1.1-dev seeds
"""

from __future__ import annotations

import itertools
import json
import random
import sys
from pathlib import Path

from index.ingest.canonical import canonical_url
from index.ingest.stories import SAME_STORY, Signature, StoryIndex

CREDIT = "Reporting by Anna Lee; additional reporting by Tom Park; editing by Sara Kim."
FILLER = ["reportedly", "officials", "later", "also", "widely", "new", "local", "several"]


def articles(folders: list[Path]) -> list[tuple[str, str]]:
    out = []
    for folder in folders:
        if (folder / "articles.jsonl").exists():
            out += [(r["title"], r["text"]) for r in map(json.loads, (folder / "articles.jsonl").open()) if r["text"]]
        else:
            for path in sorted(folder.glob("*.txt")) + sorted(folder.glob("*.md")):
                body = path.read_text().split("---", 2)[-1].strip()
                out.append((path.stem, body))
    return out


def variants(text: str, rng: random.Random) -> dict[str, str]:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]

    def edited(ps: list[str]) -> list[str]:
        ps = list(ps)
        for i in range(0, len(ps), 5):
            words = ps[i].split()
            ps[i] = " ".join(rng.choice(FILLER) if n % 4 == 3 else w for n, w in enumerate(words))
        return ps

    keep = max(1, len(paragraphs) * 2 // 3)
    lede = "In a development that surprised many, the story below unfolded over the past few days."
    return {
        "headline": text,
        "trimmed": "\n\n".join(paragraphs[:keep]),
        "edited": "\n\n".join(edited(paragraphs)),
        "relede": "\n\n".join([lede, *paragraphs[1:], CREDIT]),
        "combined": "\n\n".join([lede, *edited(paragraphs[1:keep]), CREDIT]),
    }


def main(folders: list[Path]) -> None:
    rng = random.Random(0)
    corpus = articles(folders)
    signatures = [Signature.of(text) for _, text in corpus]
    index = StoryIndex()
    index.add_many((str(n), s, "") for n, s in enumerate(signatures))
    found: dict[str, list[bool]] = {}
    for n, (_, text) in enumerate(corpus):
        for kind, copy in variants(text, rng).items():
            signature = Signature.of(copy)
            hit = str(n) in index.candidates(signature) and signature.containment(signatures[n]) >= SAME_STORY
            found.setdefault(kind, []).append(hit)
        url = f"https://news.test/{n}"
        found.setdefault("tracking", []).append(canonical_url(f"{url}?utm_source=rss&utm_medium=feed&fbclid=x") == url)
    merged = sum(
        signatures[a].containment(signatures[b]) >= SAME_STORY and str(b) in index.candidates(signatures[a])
        for a, b in itertools.combinations(range(len(corpus)), 2)
    )
    pairs = len(corpus) * (len(corpus) - 1) // 2
    print(f"{len(corpus)} articles; threshold: containment >= {SAME_STORY}")
    print("| variation | copies | recognised |")
    print("| --- | --- | --- |")
    for kind, hits in found.items():
        print(f"| {kind} | {len(hits)} | {sum(hits) / len(hits):.3f} |")
    if pairs:  # one article has none
        print(f"| different articles (pairs) | {pairs} | {merged / pairs:.4f} merged |")


if __name__ == "__main__":
    main([Path(a) for a in sys.argv[1:]])
