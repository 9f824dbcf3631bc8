"""RSS and Atom feeds: which feeds each collection follows, and polling them into the index.

A feed belongs to a collection (a server's, or the shared one of the command line) and is kept in
`feeds.sqlite3` in the index folder or, with ARTICLEBOT_DATABASE_URL, in that database, where every
bot process (and the command line) sees the same feeds. Polling fetches the feed under the URL safety rules with a
conditional request (ETag / Last-Modified), parses it with feedparser, fetches the page of each item
not seen before (falling back to the feed's own text for the item when the page cannot be fetched or
read), fills in date, author and outlet from the feed where the page has none, and adds the articles
to the feed's collection. A feed that fails is polled less and less often (doubling up to a day),
and after `WARN_AFTER` failures in a row is reported once (`PollResult.warn`), not on every poll.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..records import AddResult, Article
from ..storage.database import open_database
from ..storage.scope import Scope
from .base import ArticleSink
from .canonical import canonical_url
from .fetch import FEED_TYPES, Fetcher, FetchError
from .load import fetched_article
from .parse import ArticleError, parse_text

log = logging.getLogger(__name__)
FILE_NAME = "feeds.sqlite3"
#: Seconds between polls of a feed (each jittered by ±20%, so feeds added together spread out).
POLL_INTERVAL = 15 * 60
#: The longest a failing feed waits between polls.
MAX_BACKOFF = 24 * 3600
#: Failures in a row after which a feed is reported (once).
WARN_AFTER = 3
#: Items read from one poll of one feed at most.
ITEMS_PER_POLL = 50
#: Articles embedded per hold of the indexing lock: between batches an `/add` or a watched link gets its turn.
INDEXED_AT_ONCE = 4
#: Item pages fetched at once for one feed (the fetcher also limits connections per host).
PAGES_AT_ONCE = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id {id},
    collection TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    added_by TEXT NOT NULL DEFAULT '',
    notify TEXT NOT NULL DEFAULT '',
    etag TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    last_checked TEXT NOT NULL DEFAULT '',
    last_new TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL DEFAULT 0,
    warned INTEGER NOT NULL DEFAULT 0,
    next_poll DOUBLE PRECISION NOT NULL DEFAULT 0,
    UNIQUE (collection, url)
);
CREATE TABLE IF NOT EXISTS feed_items (
    feed_id BIGINT NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
    item TEXT NOT NULL,
    PRIMARY KEY (feed_id, item)
);
"""

#: The columns of a feed, in the order of `Feed`'s fields.
_COLUMNS = (
    "id, collection, url, title, added_by, notify, etag, last_modified, last_checked, last_new, last_error, "
    "failures, warned, next_poll"
)


class FeedError(ArticleError):
    """A feed cannot be added or read; the message says why in one line."""


@dataclass(frozen=True)
class Feed:
    """A followed feed and what its polls found."""

    id: int
    collection: str
    url: str
    title: str
    added_by: str
    #: Where to report it when it keeps failing (a channel id for the bot; empty on the command line).
    notify: str
    etag: str
    last_modified: str
    last_checked: str
    last_new: str
    last_error: str
    failures: int
    warned: bool
    next_poll: float


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, with what the feed says of it."""

    key: str  # its id in the feed, else its link
    link: str
    title: str
    published: str  # YYYY-MM-DD or ""
    author: str
    text: str  # the feed's own text of it (summary or content), as plain paragraphs


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    items: tuple[FeedItem, ...]


@dataclass(frozen=True)
class PollResult:
    """What one poll of one feed did."""

    feed: Feed
    added: tuple[AddResult, ...] = ()
    new_items: int = 0
    not_modified: bool = False
    error: str = ""
    #: The feed has now failed WARN_AFTER times in a row and was not reported yet: report it.
    warn: bool = False


def _now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedList:
    """The followed feeds of every collection, in SQLite or PostgreSQL; safe to use from several threads,
    and, on PostgreSQL, from several processes at once."""

    def __init__(self, folder: Path, database_url: str = "") -> None:
        """The feeds in `feeds.sqlite3` in `folder`, or in the database at `database_url` if one is given."""
        self._db = open_database(folder / FILE_NAME, database_url, _SCHEMA)
        self._lock = threading.Lock()

    def _rows(self, where: str = "", args: Sequence[Any] = ()) -> list[Feed]:
        with self._lock:
            rows = self._db.rows(f"SELECT {_COLUMNS} FROM feeds {where} ORDER BY id", args)
        return [Feed(*[*row[:12], bool(row[12]), row[13]]) for row in rows]

    def feeds(self, collection: str | None = None) -> list[Feed]:
        """The feeds of one collection, or of all (None)."""
        return self._rows("WHERE collection = ?", (collection,)) if collection is not None else self._rows()

    def feed(self, collection: str, url: str) -> Feed | None:
        found = self._rows("WHERE collection = ? AND url = ?", (collection, url))
        return found[0] if found else None

    def due(self, now: float) -> list[Feed]:
        return self._rows("WHERE next_poll <= ?", (now,))

    def add(
        self, collection: str, url: str, title: str, added_by: str = "", notify: str = "", first_poll: float = 0.0
    ) -> Feed | None:
        """Follow a feed, polled from `first_poll` (a time; default: at once); None if the collection
        already follows it."""
        with self._lock:
            inserted = self._db.change(
                "INSERT INTO feeds (collection, url, title, added_by, notify, next_poll) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (collection, url) DO NOTHING",
                (collection, url, title, added_by, notify, first_poll),
            )
        return self.feed(collection, url) if inserted else None

    def remove(self, collection: str, url: str) -> bool:
        """Stop following a feed of the collection, named by its URL or its id."""
        with self._lock:
            return (
                self._db.change(
                    "DELETE FROM feeds WHERE collection = ? AND (url = ? OR CAST(id AS TEXT) = ?)",
                    (collection, url, url),
                )
                > 0
            )

    def seen(self, feed: Feed, keys: Sequence[str]) -> set[str]:
        """Which of these item keys earlier polls took."""
        if not keys:
            return set()
        with self._lock:
            return {
                r[0]
                for r in self._db.rows(
                    f"SELECT item FROM feed_items WHERE feed_id = ? AND item IN ({', '.join('?' * len(keys))})",
                    (feed.id, *keys),
                )
            }

    def items(self, feed: Feed) -> list[str]:
        """The keys of every item earlier polls took."""
        with self._lock:
            return [
                r[0] for r in self._db.rows("SELECT item FROM feed_items WHERE feed_id = ? ORDER BY item", (feed.id,))
            ]

    def _current(self, feed: Feed) -> Feed:
        """The feed as stored now; as it was if it has been removed meanwhile (its poll's results go nowhere)."""
        found = self._rows("WHERE id = ?", (feed.id,))
        return found[0] if found else feed

    def succeeded(
        self, feed: Feed, etag: str, last_modified: str, title: str, items: Sequence[str], interval: float
    ) -> Feed:
        now = _now_text()
        with self._lock, self._db.transaction():
            # The feed's row first: on PostgreSQL the update locks it, so a removal by another process
            # waits for this transaction (and then takes its items with it) instead of leaving items
            # that point at no feed; no row means it was removed meanwhile.
            if self._db.change(
                "UPDATE feeds SET etag = ?, last_modified = ?, title = CASE WHEN ? = '' THEN title ELSE ? END, "
                "last_checked = ?, last_new = CASE WHEN ? THEN ? ELSE last_new END, last_error = '', "
                "failures = 0, warned = 0, next_poll = ? WHERE id = ?",
                (etag, last_modified, title, title, now, bool(items), now, time.time() + _jittered(interval), feed.id),
            ):
                # In one order, so that two processes recording the same items never wait on each other in a cycle.
                self._db.change_many(
                    "INSERT INTO feed_items (feed_id, item) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [(feed.id, k) for k in sorted(set(items))],
                )
        return self._current(feed)

    def failed(self, feed: Feed, error: str, interval: float) -> tuple[Feed, bool]:
        """Record a failure; the feed, and whether it should be reported now (once per run of failures)."""
        failures = feed.failures + 1
        warn = failures >= WARN_AFTER and not feed.warned
        wait = min(MAX_BACKOFF, interval * 2**failures)
        with self._lock:
            changed = self._db.change(
                "UPDATE feeds SET last_checked = ?, last_error = ?, failures = ?, warned = ?, next_poll = ? WHERE id = ?",
                (_now_text(), error, failures, int(feed.warned or warn), time.time() + _jittered(wait), feed.id),
            )
        return self._current(feed), warn and bool(changed)

    def restore(self, feed: Feed, items: Sequence[str]) -> bool:
        """Take in a feed as another list holds it (what its polls found, and the items they took),
        for a migration; False if this list already follows it, whose items are then merged."""
        with self._lock, self._db.transaction():
            row = self._db.one(
                f"INSERT INTO feeds ({_COLUMNS.removeprefix('id, ')}) VALUES ({', '.join('?' * 13)}) "
                "ON CONFLICT (collection, url) DO NOTHING RETURNING id",
                (
                    feed.collection,
                    feed.url,
                    feed.title,
                    feed.added_by,
                    feed.notify,
                    feed.etag,
                    feed.last_modified,
                    feed.last_checked,
                    feed.last_new,
                    feed.last_error,
                    feed.failures,
                    int(feed.warned),
                    feed.next_poll,
                ),
            )
            found = row or self._db.one(
                "SELECT id FROM feeds WHERE collection = ? AND url = ?", (feed.collection, feed.url)
            )
            assert found is not None  # there: inserted now, or already
            self._db.change_many(
                "INSERT INTO feed_items (feed_id, item) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(found[0], k) for k in sorted(set(items))],
            )
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(0.8, 1.2)


# -- reading feeds ---------------------------------------------------------------------------------


def parse_feed(content: bytes, url: str) -> ParsedFeed:
    """The title and items of an RSS (0.9x, 1.0, 2.0) or Atom feed; FeedError if it is none."""
    import feedparser

    parsed = feedparser.parse(
        content, sanitize_html=True, resolve_relative_uris=True, response_headers={"content-location": url}
    )
    if not parsed.get("version") and not parsed.entries:
        raise FeedError(f"{url}: not an RSS or Atom feed")
    items = []
    for entry in parsed.entries[:ITEMS_PER_POLL]:
        link = (entry.get("link") or "").strip()
        key = (entry.get("id") or link).strip()
        if not key:
            continue
        items.append(
            FeedItem(
                key,
                link,
                " ".join((entry.get("title") or "").split()),
                _date(entry),
                (entry.get("author") or "").strip(),
                _entry_text(entry),
            )
        )
    return ParsedFeed(" ".join((parsed.feed.get("title") or "").split()), tuple(items))


def _date(entry: Any) -> str:
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    return time.strftime("%Y-%m-%d", stamp) if stamp else ""


def _entry_text(entry: Any) -> str:
    """The longest of the entry's content and summary, as paragraphs of plain text."""
    candidates = [c.get("value", "") for c in entry.get("content", [])] + [entry.get("summary", "")]
    html = max(candidates, key=len, default="")
    return _html_paragraphs(html) if html else ""


def _html_paragraphs(html: str) -> str:
    import lxml.html

    try:
        root = lxml.html.fromstring(f"<div>{html}</div>")
    except (ValueError, lxml.etree.ParserError):
        return ""
    blocks = [" ".join(b.text_content().split()) for b in root.iter("p", "li", "h1", "h2", "h3", "blockquote")]
    blocks = [b for b in blocks if b]
    return "\n\n".join(blocks) if blocks else " ".join(root.text_content().split())


# -- polling ----------------------------------------------------------------------------------------


class FeedPoller:
    """Polls feeds into an index: the network on the event loop, parsing and indexing in threads."""

    def __init__(
        self,
        index: ArticleSink,
        feeds: FeedList,
        fetcher: Fetcher,
        interval: float = POLL_INTERVAL,
        indexing: asyncio.Lock | None = None,
    ) -> None:
        """`indexing`: held while a feed's new articles are embedded and stored, one feed at a time (pass
        the lock other adds take, so that all of them leave a core to the questions)."""
        self.index = index
        self.feeds = feeds
        self.fetcher = fetcher
        self.interval = interval
        self.indexing = indexing or asyncio.Lock()

    async def check(self, url: str) -> ParsedFeed:
        """Fetch and parse a feed to follow it; FeedError says why it cannot be."""
        try:
            fetched = await self.fetcher.fetch(url, FEED_TYPES)
        except FetchError as exc:
            raise FeedError(f"{url}: {exc}") from None
        return await asyncio.to_thread(parse_feed, fetched.content, url)

    async def poll_due(self, collection: str | None = None) -> list[PollResult]:
        """Poll every feed whose time has come (of one collection, or all), several at once."""
        due = [f for f in self.feeds.due(time.time()) if collection is None or f.collection == collection]
        return await self.poll_all(due)

    async def poll_all(self, feeds: Sequence[Feed]) -> list[PollResult]:
        return list(await asyncio.gather(*(self.poll(feed) for feed in feeds)))

    async def poll(self, feed: Feed) -> PollResult:
        """Poll one feed now and add its new items' articles; whatever goes wrong is recorded as the feed's
        failure (and backs it off), never raised."""
        try:
            return await self._poll(feed)
        except Exception as exc:  # a bug or a database error must not stop the other feeds or re-poll this one at once
            log.exception("polling feed %s failed", feed.url)
            error = f"internal error ({type(exc).__name__})"
            updated, warn = await asyncio.to_thread(self.feeds.failed, feed, error, self.interval)
            return PollResult(updated, error=error, warn=warn)

    async def _poll(self, feed: Feed) -> PollResult:
        try:
            fetched = await self.fetcher.fetch(feed.url, FEED_TYPES, feed.etag, feed.last_modified)
            if fetched.not_modified:
                updated = await asyncio.to_thread(
                    self.feeds.succeeded, feed, feed.etag, feed.last_modified, "", [], self.interval
                )
                return PollResult(updated, not_modified=True)
            parsed = await asyncio.to_thread(parse_feed, fetched.content, feed.url)
        except (FetchError, ArticleError) as exc:
            error = str(exc).removeprefix(f"{feed.url}: ")
            updated, warn = await asyncio.to_thread(self.feeds.failed, feed, error, self.interval)
            return PollResult(updated, error=error, warn=warn)
        seen = await asyncio.to_thread(self.feeds.seen, feed, [i.key for i in parsed.items])
        new = [item for item in parsed.items if item.key not in seen]
        limit = asyncio.Semaphore(PAGES_AT_ONCE)

        async def article_of(item: FeedItem) -> Article | None:
            async with limit:
                return await self._article(item, parsed.title or feed.title)

        found = await asyncio.gather(*(article_of(i) for i in new))
        articles = [a for a in found if a is not None]
        added: list[AddResult] = []
        for start in range(0, len(articles), INDEXED_AT_ONCE):  # the lock is let go between small batches
            async with self.indexing:
                added += await asyncio.to_thread(
                    self.index.add_many,
                    articles[start : start + INDEXED_AT_ONCE],
                    Scope(feed.collection),
                    f"feed:{feed.url}",
                )
        if any(r.status in ("added", "updated") for r in added):
            await asyncio.to_thread(self.index.save)  # as every other add does
        # An item that gave no article (its page failed, the feed has no text of it) is tried again next poll.
        taken = [item.key for item, article in zip(new, found) if article is not None]
        updated = await asyncio.to_thread(
            self.feeds.succeeded, feed, fetched.etag, fetched.last_modified, parsed.title, taken, self.interval
        )
        return PollResult(updated, tuple(added), len(new))

    async def _article(self, item: FeedItem, outlet: str) -> Article | None:
        """The item's page as an article, else the feed's own text of it; None if neither has an article."""
        article = None
        if item.link:
            try:
                fetched = await self.fetcher.fetch(item.link)
                article = await asyncio.to_thread(fetched_article, fetched, item.link)
            except Exception:  # whatever the page did, the feed's own text may still serve
                article = None
        if article is None and item.text:
            try:
                address = canonical_url(item.link) if item.link else item.key
                article = parse_text(f"{item.title}\n\n{item.text}", address, address)
                article = replace(article, url=address if item.link else "", source=address)
            except ArticleError:
                return None
        if article is None:
            return None
        # The page knows best; the feed fills in what the page left out (an outlet that is only the page's
        # host name is the extractor's guess, and the feed's title is better).
        host = urlsplit(item.link).netloc.lower().removeprefix("www.")
        page_outlet = "" if article.outlet.lower().removeprefix("www.") == host else article.outlet
        return replace(
            article,
            title=article.title or item.title,
            published=article.published or item.published,
            author=article.author or item.author,
            outlet=page_outlet or outlet,
        )
