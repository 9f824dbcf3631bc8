"""Turn scraped article text into clean prose: normalised, without site boilerplate.

The cleaned text is what the index stores and what every quote is cut from, so everything here
decides what can ever be shown to a user.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import NamedTuple

# Characters scrapers leave behind that are not visible text.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"), None)
_SPACES = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BULLET = re.compile(r"^\s*(?:[•·▪◦‣●○■□►▸\-*+–—]|\d{1,2}[.)])\s+")
_TERMINAL = re.compile(r"[.!?…:\"'”’)\]]$")
_WORD = re.compile(r"\w+")

# A paragraph that is exactly one of these headings is page furniture; in the second half of the
# page it starts the furniture that follows the story (author bio, comments, link lists).
_END_MARKERS = re.compile(
    r"^(?:about the (?:author|authors|writer|writers|reporter)|about us|related(?: articles| stories"
    r"| coverage| content| posts| reading)?|read more|more from .{1,40}|more stories|recommended"
    r"(?: for you| articles| reading)?|most (?:popular|read|viewed)|trending(?: now)?|share this"
    r"(?: article| story)?|comments?|join the (?:conversation|discussion)|sign up.{0,40}"
    r"|newsletter|you may also like|what to read next|editor'?s picks|latest news|top stories"
    r"|advertisement|sponsored(?: content)?)\s*:?$",
    re.IGNORECASE,
)
# Short paragraphs with these phrases are promos, calls to action or "Read more" stubs.
_PROMO = re.compile(
    r"\bread more\b|\bclick here\b|\bsubscribe\b|\bsign up\b|\bnewsletter\b|\bfollow us\b"
    r"|\ball rights reserved\b|©|\bdownload (?:our|the) app\b|\bad-free\b|\bshare (?:this|on)\b"
    r"|\bcookies?\b.*\b(?:policy|consent)\b|^related\s*:",
    re.IGNORECASE,
)
_UPDATE_FLAG = re.compile(r"^(?:updated?|breaking(?: news)?|exclusive|live|watch)\s*[|:]\s*", re.IGNORECASE)
_BYLINE = re.compile(r"^(?i:by|written by)\s+([A-Z][\w.'’-]+(?:\s+(?:[A-Z][\w.'’-]+|and|&)){0,5})\s*$")

PROMO_MAX_WORDS = 40
HEADING_MAX_WORDS = 8
FEATURE_ITEM_MAX_WORDS = 12


class CleanText(NamedTuple):
    """The article prose, paragraphs separated by one blank line, and a byline if one was found."""

    text: str
    author: str


def normalise(raw: str) -> str:
    """Unicode NFC, unix newlines, no invisible characters, single spaces, no trailing spaces."""
    text = unicodedata.normalize("NFC", raw).translate(_INVISIBLE)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [b for b in blocks if b]


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _is_heading(paragraph: str) -> bool:
    return _words(paragraph) <= HEADING_MAX_WORDS and not _TERMINAL.search(paragraph)


def _is_promo(paragraph: str) -> bool:
    return _words(paragraph) <= PROMO_MAX_WORDS and bool(_PROMO.search(paragraph))


def _paragraphs(block: list[str]) -> list[str]:
    """Split a block into paragraphs: bullet items stand alone, wrapped lines are joined."""
    items: list[list[str]] = []
    for line in block:
        if _BULLET.match(line) or not items or _BULLET.match(items[-1][0]):
            items.append([line])
        else:
            items[-1].append(line)
    return [" ".join(lines) for lines in items]


def _is_feature_list(items: list[str]) -> bool:
    """A bullet list of short fragments (site features, link lists) rather than article points."""
    fragments = [i for i in items if _words(i) <= FEATURE_ITEM_MAX_WORDS and not _TERMINAL.search(i)]
    return len(fragments) * 2 >= len(items)


def clean_article_text(raw: str, title: str = "") -> CleanText:
    """Clean scraped article text.

    Args:
        raw: the text as scraped or written, paragraphs separated by blank lines.
        title: the article's title; a first paragraph repeating it is dropped.
    Returns:
        The cleaned prose and the author found in a byline ("" if none).
    """
    paragraphs: list[str] = []
    for block in _blocks(normalise(raw)):
        parts = _paragraphs(block)
        bullets = [p for p in parts if _BULLET.match(p)]
        if bullets and _is_feature_list(bullets):
            parts = [p for p in parts if not _BULLET.match(p)]
        paragraphs.extend(parts)

    # The same paragraph twice on one page is furniture (promos, share bars), not reporting.
    counts = Counter(p.casefold() for p in paragraphs)
    paragraphs = [p for p in paragraphs if counts[p.casefold()] == 1]

    author = ""
    kept: list[str] = []
    for position, p in enumerate(paragraphs):
        if _END_MARKERS.match(p):
            if kept and position * 2 >= len(paragraphs):
                break
            continue
        byline = _BYLINE.match(p)
        if byline and not author:
            author = byline.group(1)
            continue
        if _is_promo(p) or (not kept and title and p.casefold() == title.casefold()):
            continue
        if not kept:
            p = _UPDATE_FLAG.sub("", p)
        kept.append(p)

    # Headings left dangling at either end (section names of the page, not of the story).
    while kept and _is_heading(kept[-1]):
        kept.pop()
    while kept and _is_heading(kept[0]) and len(kept) > 1:
        kept.pop(0)
    return CleanText("\n\n".join(kept), author)
