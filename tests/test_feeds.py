"""Feeds polled into a real index from a real (local) news site: new items only, conditional requests,
the feed's own text when a page is missing, and failing feeds backed off and reported once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from index import ArticleIndex, FetchPolicy, Scope
from index.ingest.feeds import WARN_AFTER, FeedError, FeedList, FeedPoller
from index.ingest.fetch import Fetcher
from tests.support.feed_site import FeedSite, serving_feeds

pytestmark = pytest.mark.both_stores  # the same tests with the feeds (and the index) in SQLite and in PostgreSQL


@pytest_asyncio.fixture
async def poller(empty_index: ArticleIndex, tmp_path: Path, database_url: str) -> AsyncIterator[FeedPoller]:
    feeds = FeedList(tmp_path / "index", database_url)
    async with Fetcher(FetchPolicy(allow_private=True, timeout=10)) as fetcher:
        yield FeedPoller(empty_index, feeds, fetcher, interval=60)
    feeds.close()


def feed_requests(site: FeedSite) -> list[dict[str, str]]:
    return [headers for path, headers in site.requests if path == "/feed.xml"]


@pytest.mark.asyncio
async def test_a_feed_is_read_once_then_only_what_is_new(poller: FeedPoller) -> None:
    site = FeedSite(items=20)
    site.missing = {7}
    with serving_feeds(site) as base:
        parsed = await poller.check(f"{base}/feed.xml")
        assert parsed.title == "Port News" and len(parsed.items) == 20
        feed = poller.feeds.add("", f"{base}/feed.xml", parsed.title)
        assert feed is not None and poller.feeds.add("", f"{base}/feed.xml", parsed.title) is None

        first = await poller.poll(feed)
        assert first.new_items == 20 and [r.status for r in first.added].count("added") == 20
        assert "If-None-Match" not in feed_requests(site)[-1]
        articles = {a.title: a for a in poller.index.articles()}
        report = articles["Bridge report 3"]
        assert (report.outlet, report.published, report.author) == (
            "Port News",
            "2023-11-17",
            "desk@port.test (River Desk)",
        )
        assert "found 5 cracked girders" in report.text
        assert "found 9 cracked girders" in articles["Bridge report 7"].text  # no page: the feed's own text

        again = await poller.poll(first.feed)
        assert again.not_modified and not again.added
        assert feed_requests(site)[-1]["If-None-Match"] == '"v20"'
        assert feed_requests(site)[-1].get("If-Modified-Since")

        site.items += [20, 21]
        pages_before = len([p for p, _ in site.requests if p.startswith("/item/")])
        third = await poller.poll(again.feed)
        assert third.new_items == 2 and {r.title for r in third.added} == {"Bridge report 20", "Bridge report 21"}
        assert len([p for p, _ in site.requests if p.startswith("/item/")]) == pages_before + 2
        assert third.feed.last_new and third.feed.etag == '"v22"'
    answer = poller.index.ask("How many cracked girders did bridge number 21 have?")
    assert answer.answered and "23 cracked girders" in answer.quotes[0].text


@pytest.mark.asyncio
async def test_a_failing_feed_is_backed_off_and_reported_once(poller: FeedPoller) -> None:
    site = FeedSite()
    with serving_feeds(site) as base:
        feed = poller.feeds.add("111", f"{base}/broken.xml", "Broken")
        assert feed is not None
        warned, waits = [], []
        for _ in range(WARN_AFTER + 2):
            result = await poller.poll(feed)
            feed = result.feed
            warned.append(result.warn)
            waits.append(feed.next_poll)
        assert result.error == "HTTP 500 Internal Server Error" and feed.last_error == result.error
        assert warned == [False] * (WARN_AFTER - 1) + [True, False, False]
        assert feed.failures == WARN_AFTER + 2
        assert poller.feeds.due(waits[-1] - 1) == [], "the next poll waits longer after each failure"
        with pytest.raises(FeedError, match="not a feed|HTTP 500"):
            await poller.check(f"{base}/broken.xml")
    assert not [a for a in poller.index.articles(Scope("111")) if a.collection]


@pytest.mark.asyncio
async def test_what_is_not_a_feed_is_refused_clearly(poller: FeedPoller) -> None:
    site = FeedSite()
    with serving_feeds(site) as base:
        with pytest.raises(FeedError, match="not a feed: content type text/html"):
            await poller.check(f"{base}/item/1")
        with pytest.raises(FeedError, match="refused: 10.0.0.1 is a private address"):
            await FeedPoller(poller.index, poller.feeds, Fetcher(FetchPolicy())).check("http://10.0.0.1/feed.xml")


@pytest.mark.asyncio
async def test_a_feed_removed_while_it_is_polled_leaves_the_list_working(poller: FeedPoller) -> None:
    site = FeedSite(items=3)
    with serving_feeds(site) as base:
        feed = poller.feeds.add("", f"{base}/feed.xml", "Port News")
        other = poller.feeds.add("", f"{base}/other.xml", "Other")
        assert feed is not None and other is not None
        poller.feeds.remove("", feed.url)  # as a manager would while its first poll reads the items
        result = await poller.poll(feed)
        assert result.new_items == 3 and not result.error
        assert [f.url for f in poller.feeds.feeds()] == [other.url]
        assert poller.feeds.remove("", str(other.id)), "a feed can be named by its id"
        assert poller.feeds.add("", feed.url, "again") is not None, "the list still takes changes"
