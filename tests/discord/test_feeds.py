"""/feeds over the fake Discord: a feed added in a server is read into that server at once and polled
after; a feed that starts failing is reported once in the channel it was added from."""

from __future__ import annotations

import time

import pytest

from bot.cogs.feeds import FeedsCog
from index import Scope
from tests.support.discord.servers import Servers, final_text
from tests.support.feed_site import FeedSite, serving_feeds

pytestmark = pytest.mark.both_stores  # the same tests with the server data, feeds and index in SQLite and in PostgreSQL


def cog_of(servers: Servers) -> FeedsCog:
    cog = servers.bot.get_cog("FeedsCog")
    assert isinstance(cog, FeedsCog)
    return cog


def own_titles(servers: Servers, guild) -> set[str]:
    return {a.title for a in servers.bot.service.index.articles(Scope.of_server(int(guild.id))) if a.collection}


@pytest.mark.asyncio
async def test_a_feed_is_read_into_its_server_at_once_then_polled(servers: Servers) -> None:
    site = FeedSite(items=5)
    with serving_feeds(site) as base:
        url = f"{base}/feed.xml"
        added = await final_text(await servers.command("feeds add", servers.a, servers.editor, url=url))
        assert added == "Following **Port News**: 5 articles added. New items are read every 15 minutes."
        assert own_titles(servers, servers.a) == {f"Bridge report {n}" for n in range(5)}
        assert own_titles(servers, servers.b) == set()
        again = await final_text(await servers.command("feeds add", servers.a, servers.editor, url=url))
        assert again == "This server already follows that feed."

        answer = await (
            await servers.command(
                "ask", servers.a, servers.reader, question="How many cracked girders did bridge number 4 have?"
            )
        ).wait_for_followup(timeout=30)
        assert "6 cracked girders" in answer.embeds[0]["description"]

        site.items.append(5)
        feeds = servers.bot.service.feeds
        [feed] = feeds.feeds(servers.a.id)
        poller = cog_of(servers).poller()
        results = await poller.poll_all([feed])  # as the schedule would, once the feed is due
        assert results[0].new_items == 1 and own_titles(servers, servers.a) >= {"Bridge report 5"}

        listed = await (await servers.command("feeds list", servers.a, servers.editor)).wait_for_original()
        assert listed.ephemeral and listed.content.startswith(f"• **Port News** <{url}>: checked <t:")
        assert feeds.feeds(servers.b.id) == []

        complete = await servers.fake.send_autocomplete(
            "feeds remove", user=servers.editor, channel=servers.a_general, focused="url", value="port"
        )
        await complete.wait_for_response()
        assert [c["value"] for c in complete.choices] == [str(feed.id)]
        removed = await (
            await servers.command("feeds remove", servers.a, servers.editor, url=str(feed.id))
        ).wait_for_original()
        assert removed.content == "No longer following that feed; its articles stay."
        assert feeds.feeds(servers.a.id) == []


@pytest.mark.asyncio
async def test_a_feed_that_keeps_failing_is_reported_once(servers: Servers) -> None:
    site = FeedSite(items=2)
    with serving_feeds(site) as base:
        await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/feed.xml"))
        site.broken = True
        cog = cog_of(servers)
        feeds = servers.bot.service.feeds
        for _ in range(5):
            [feed] = feeds.feeds(servers.a.id)
            await cog.report(await cog.poller().poll_all([feed]))
        warnings = [m for m in servers.fake.bot_messages(servers.a_general) if "has failed" in m.content]
        assert len(warnings) == 1
        assert warnings[0].content.startswith("The feed **Port News** has failed 3 times in a row (HTTP 500")
        [feed] = feeds.feeds(servers.a.id)
        assert feed.failures == 5 and feed.next_poll > time.time() + 15 * 60, "polled less often"


@pytest.mark.asyncio
async def test_what_is_not_a_feed_is_refused_with_the_reason(servers: Servers) -> None:
    site = FeedSite(items=1)
    with serving_feeds(site) as base:
        text = await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/item/0"))
    assert text.startswith("Couldn't follow that feed:") and "not a feed: content type text/html" in text
    assert servers.bot.service.feeds.feeds(servers.a.id) == []
