"""Followed questions under other decision rules than one bar on one probability: every (follow,
article) pair the check reads is recorded once, with the quote model's probability without the reader
(`support`), the reader's probability of the first quote (`score`) and whether the two agree on it
(`FollowAnswer.agrees`), and each rule is then replayed over the arrivals as `eval --follows` runs them
(a follow closes at its first notice).

    python -m tools.follow_rules ../shared/eval/onestopqa-news [--asked 16] [--floor 0.35]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index import FollowAnswer, Settings
from index.measure.follow_eval import following_while_articles_arrive

#: (support at least, score at least, the two agreeing): the first is `eval --follows`' default rule.
RULES = (
    (0.5, 0.0, True),
    (0.5, 0.0, False),
    (0.1, 0.0, True),
    (0.1, 0.0, False),
    (0.15, 0.0, True),
    (0.2, 0.0, True),
    (0.2, 0.0, False),
    (0.3, 0.0, True),
    (0.3, 0.0, False),
    (0.1, 0.3, True),
    (0.1, 0.3, False),
    (0.2, 0.3, False),
    (0.3, 0.3, False),
    (0.3, 0.4, False),
)


@dataclass(frozen=True)
class Pair:
    arrival: int
    follow: int
    support: float
    score: float
    own: bool  # the article is the one that answers the follow
    right: bool  # ... and its first quote is on target
    right_any: bool  # ... and one of its quotes is
    agrees: bool  # the quote model without the reader likes a sentence of the first quote best


def read_pairs(
    folder: Path, settings: Settings, asked: int, floor: float, seed: int = 0
) -> tuple[list[Pair], set[int], int]:
    """Every pair the check reads as half 2's articles arrive (shuffled by `seed`); the answerable follows;
    how many follows are never answerable."""
    found: list[tuple[int, str, FollowAnswer]] = []
    with following_while_articles_arrive(folder, settings, seed) as (run, arrivals):
        for step, name in arrivals:
            for answer in run.index.answers_for(
                run.follows, run.ids[name], min_score=0.0, asked=asked, floor=floor, agreeing=False
            ):
                found.append((step, name, answer))
    pairs = []
    for step, name, answer in found:
        quotes = answer.answer.quotes
        own = name == run.questions[answer.follow].article
        hits = run.quotes_on_target(answer.follow, name, [(q.start, q.end, q.text) for q in quotes])
        pairs.append(Pair(step, answer.follow, answer.support, quotes[0].score, own, hits[0], any(hits), answer.agrees))
    answerable = {i for i, q in enumerate(run.questions) if q.article in run.ids}
    return pairs, answerable, len(run.questions) - len(answerable)


def replay(pairs: list[Pair], answerable: set[int], never: int, rule: Callable[[Pair], bool]) -> tuple[float, ...]:
    """(notices, recall, precision, any quote, from the right article, unanswerable notified) of a rule."""
    noticed: dict[int, Pair] = {}
    for pair in sorted(pairs, key=lambda p: p.arrival):
        if pair.follow not in noticed and rule(pair):
            noticed[pair.follow] = pair
    notices = list(noticed.values())
    count = max(len(notices), 1)
    return (
        len(notices),
        sum(p.own for f, p in noticed.items() if f in answerable) / len(answerable),
        sum(p.right for p in notices) / count,
        sum(p.right_any for p in notices) / count,
        sum(p.own for p in notices) / count,
        sum(f not in answerable for f in noticed) / max(never, 1),
    )


def bars(support: float, score: float, agreeing: bool) -> Callable[[Pair], bool]:
    return lambda pair: pair.support >= support and pair.score >= score and (pair.agrees or not agreeing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--asked", type=int, default=16)
    parser.add_argument("--floor", type=float, default=0.35)
    args = parser.parse_args()
    pairs, answerable, never = read_pairs(args.dataset, Settings.from_env(), args.asked, args.floor)
    print(f"{len(pairs)} pairs read; {len(answerable)} answerable follows, {never} never answerable")
    print("support  score  agreeing  notices  recall  precision  any quote  right article  unanswerable notified")
    for support, score, agreeing in RULES:
        rule = bars(support, score, agreeing)
        n, recall, precision, any_quote, own, never_rate = replay(pairs, answerable, never, rule)
        print(
            f"{support:7.2f}  {score:5.1f}  {'yes' if agreeing else 'no':>8}  {n:7.0f}  {recall:6.3f}  "
            f"{precision:9.3f}  {any_quote:9.3f}  {own:13.3f}  {never_rate:21.3f}"
        )


if __name__ == "__main__":
    main()
