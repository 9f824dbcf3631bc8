"""Recency: limiting answers to articles since a day, and what a question's words say about time.

`since` is read from "7d", "2w", "3m" (days, weeks, months back from today) or a date (2024-03-01);
articles published on or after it are searched, and articles with no date are kept (marked undated
in answers). A question that asks for the latest ("latest", "this week", "today") prefers newer
articles among near ties, and is told when the newest match is older than it implies.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

_RELATIVE = re.compile(r"^\s*(\d{1,4})\s*([dwmy])\s*$", re.IGNORECASE)
_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}
#: Words that ask for what is new, and the days back they imply.
_RECENT = (
    (re.compile(r"\btoday\b|\btonight\b", re.I), 1),
    (re.compile(r"\byesterday\b", re.I), 2),
    (re.compile(r"\bthis week\b|\bpast week\b|\blast few days\b", re.I), 7),
    (re.compile(r"\bthis month\b|\bpast month\b", re.I), 31),
    (re.compile(r"\b(latest|newest|most recent|recent(ly)?|currently|right now|so far)\b", re.I), 31),
)


class SinceError(ValueError):
    """A `since` that cannot be read."""


def parse_since(text: str, today: date | None = None) -> str:
    """The first day (YYYY-MM-DD) that `text` ("7d", "2w", "3m", "1y" or a date) allows."""
    today = today or date.today()
    relative = _RELATIVE.match(text)
    if relative:
        try:
            return (today - timedelta(days=int(relative[1]) * _DAYS[relative[2].lower()])).isoformat()
        except OverflowError:
            raise SinceError(f"since {text.strip()} reaches before the year 1") from None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise SinceError(
            f"since must be like 7d, 2w, 3m or a date like 2024-03-01, not {text.strip()[:40]!r}"
        ) from None
    if day > today:
        raise SinceError(f"since {day.isoformat()} is in the future")
    return day.isoformat()


def recency_days(question: str) -> int | None:
    """How many days back the question's words ask about ("this week": 7), or None if they do not."""
    found = [days for pattern, days in _RECENT if pattern.search(question)]
    return min(found) if found else None


def older_than_asked(newest: str, days: int, today: date | None = None) -> str:
    """A note when the newest matching article (`newest`, YYYY-MM-DD) is older than the question's
    words imply; empty otherwise."""
    try:
        day = date.fromisoformat(newest[:10])
    except ValueError:
        return ""
    today = today or date.today()
    if (today - day).days <= days:
        return ""
    return f"The newest article on this is from {day.day} {day.strftime('%B %Y')}."
