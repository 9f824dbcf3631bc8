"""The work budget of one article: size limits applied before cleaning, and a deadline for the bot.

Every later step (cleaning, sentence splitting, word-piece counting, chunking, embedding) is
linear in its input, but "linear" still means minutes for a hostile 5 MB file. These limits bound
the input of all of them at once, so that no pattern found later can keep a worker busy for long.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from ..errors import ArticleError

#: Characters of article text kept: about 17,000 words, more than all but the longest long reads,
#: and a few seconds of embedding. The rest is dropped at a paragraph break, and the add says so.
MAX_ARTICLE_CHARS = 100_000
#: A paragraph (or a single line) longer than this is broken into several at sentence ends.
MAX_PARAGRAPH_CHARS = 20_000
#: An unbroken run of characters longer than this is wrapped, as a browser wraps it: a space goes
#: in every this many characters. Below the model's window of word pieces whatever the run holds
#: (one piece is at least one character), so chunking never meets a "word" it cannot place.
MAX_WORD_CHARS = 100

_LONG_RUN = re.compile(rf"\S{{{MAX_WORD_CHARS}}}(?=\S)")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


class Bounded(NamedTuple):
    """Text within the limits, and what was changed to get there (one line each, for the user)."""

    text: str
    notes: tuple[str, ...]


def _cut(text: str, limit: int) -> int:
    """Where to cut `text` to at most `limit` characters: a paragraph break, else a sentence end,
    else a space in the second half of the range, else at `limit`."""
    for separator, kept in (("\n\n", 0), (". ", 1), ("\n", 0), (" ", 0)):
        at = text.rfind(separator, limit // 2, limit)
        if at > 0:
            return at + kept
    return limit


def _paragraphs_within(block: str) -> Iterator[str]:
    """`block` as paragraphs of at most MAX_PARAGRAPH_CHARS, broken at lines, else sentence ends."""
    lines: list[str] = []
    size = 0
    for line in block.split("\n"):
        while len(line) > MAX_PARAGRAPH_CHARS:
            at = _cut(line, MAX_PARAGRAPH_CHARS)
            yield from (["\n".join(lines)] if lines else [])
            lines, size = [], 0
            yield line[:at]
            line = line[at:].lstrip()
        if lines and size + len(line) > MAX_PARAGRAPH_CHARS:
            yield "\n".join(lines)
            lines, size = [], 0
        lines.append(line)
        size += len(line) + 1
    if lines:
        yield "\n".join(lines)


def bound_text(text: str) -> Bounded:
    """Apply the limits to raw article text (before cleaning): shorten it, wrap over-long runs,
    break over-long paragraphs. Text within the limits comes back unchanged."""
    notes: list[str] = []
    if len(text) > MAX_ARTICLE_CHARS:
        notes.append(f"shortened: only the first {MAX_ARTICLE_CHARS:,} of its {len(text):,} characters are indexed")
        text = text[: _cut(text, MAX_ARTICLE_CHARS)]
    wrapped = _LONG_RUN.sub(lambda m: m.group() + " ", text)
    if len(wrapped) != len(text):
        notes.append(f"runs of more than {MAX_WORD_CHARS} characters without a space were wrapped")
        text = wrapped
    if any(len(block) > MAX_PARAGRAPH_CHARS for block in _BLANK_LINES.split(text)):
        notes.append(f"paragraphs of more than {MAX_PARAGRAPH_CHARS:,} characters were broken into several")
        text = "\n\n".join(p for block in _BLANK_LINES.split(text) for p in _paragraphs_within(block))
    return Bounded(text, tuple(notes))


class BudgetExceeded(ArticleError):
    """An add took longer than its time budget and was abandoned before anything was stored."""


class Deadline:
    """A time budget for one add, shared by the thread doing the work and the caller waiting for it.

    The worker calls `check()` between steps and stores the article inside `committing()`; the
    caller, when tired of waiting, calls `cancel()`. Exactly one of the two wins: either the
    article is stored whole, or nothing is, and `cancel()` says which.
    """

    def __init__(self, seconds: float, what: str = "indexing") -> None:
        self.seconds = seconds
        self.what = what
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._cancelled = False
        self._committing = False

    def remaining(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    def exceeded(self) -> BudgetExceeded:
        """The error that says the work was abandoned."""
        return BudgetExceeded(f"{self.what} took longer than {self.seconds:g} s and was abandoned; nothing was added")

    def check(self) -> None:
        """Raise BudgetExceeded if the time is up or the caller gave up."""
        if self._cancelled or time.monotonic() > self._ends:
            raise self.exceeded()

    def cancel(self) -> bool:
        """Give up on the work; False if it is already storing its result (wait for it then)."""
        with self._lock:
            if self._committing:
                return False
            self._cancelled = True
            return True

    @contextmanager
    def committing(self) -> Iterator[None]:
        """Store the result within this block: from here on `cancel()` can no longer stop it."""
        with self._lock:
            self.check()
            self._committing = True
        yield
