"""Followed questions on a development set under variants of the check: the bar, how many follows are
asked in full and how near they must be, and which probability decides (docs/evaluation.md,
"Followed questions"), and whether the reader's first quote must hold the sentence the probability
without it likes best.

    python -m tools.follow_variants ../shared/eval/onestopqa-news
"""

from __future__ import annotations

import argparse
from pathlib import Path

from index import Settings
from index.measure.follow_eval import follow_eval

#: (bar, follows asked in full, nearness floor, decided with the reader, the two agreeing)
VARIANTS = (
    (0.0, 16, 0.35, False, True),
    (0.1, 16, 0.35, False, True),
    (0.2, 16, 0.35, False, True),
    (0.3, 16, 0.35, False, True),
    (0.5, 16, 0.35, False, True),
    (0.1, 16, 0.35, False, False),
    (0.5, 16, 0.35, False, False),
    (0.1, 48, 0.3, False, True),
    (0.1, 48, 0.3, False, False),
    (0.5, 48, 0.3, False, True),
    (0.5, 32, 0.3, True, True),
    (0.8, 32, 0.3, True, True),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    args = parser.parse_args()
    settings = Settings.from_env()
    print(
        "probability  bar  asked  floor  agreeing  notices  recall  on target  precision  any quote  unanswerable notified  "
        "check p50 ms"
    )
    for bar, asked, floor, with_reader, agreeing in VARIANTS:
        r = follow_eval(
            args.dataset, settings, min_score=bar, asked=asked, floor=floor, with_reader=with_reader, agreeing=agreeing
        )
        print(
            f"{'score' if with_reader else 'support':11}  {bar:.1f}  {asked:5}  {floor:5.2f}  "
            f"{'yes' if agreeing else 'no':>8}  {r.notices:7}  "
            f"{r.recall:6.3f}  {r.recall_on_target:9.3f}  {r.precision:9.3f}  {r.precision_any_quote:9.3f}  "
            f"{r.unanswerable_notified:21.3f}  {r.check_p50_ms:12.0f}"
        )


if __name__ == "__main__":
    main()
