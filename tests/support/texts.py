"""Texts of the seed article that several tests expect to see."""

from __future__ import annotations

XI_SENTENCE = (
    "Meanwhile Chinese President Xi Jinping, who is a close ally to Russia, said that current "
    'China-Russia partnership is "at the best level in history" on Monday'
)


SEED_TITLE = "North Korea's Kim Jong Un Congratulates Vladimir Putin on Election Win"
