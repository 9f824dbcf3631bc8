"""Announcements over the fake Discord: a feed's new articles are announced once each, oldest first and
within Discord's rate limit, its backlog capped with one line; a message's links in the order they were
posted; a near-copy of an announced story from a watched link edits the post ("also in …"); a channel
the bot cannot post in, or embed links in, is reported once to the manager who chose it and not tried
again."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from bot.cogs.announce import ANNOUNCED_AT_ONCE, AnnounceCog
from bot.cogs.feeds import FeedsCog
from index import Scope
from tests.support.discord.fake_discord import Permission
from tests.support.discord.fake_payloads import FakeMessage, Overwrite
from tests.support.discord.servers import Servers, final_text
from tests.support.feed_site import FeedSite, serving_feeds
from tests.support.web import QuietHandler, serving

pytestmark = pytest.mark.both_stores  # the same tests with the server data, feeds and index in SQLite and in PostgreSQL

STRIKE = (
    "Dock workers at the port of Eastham ended their nine-day strike on Friday after winning a pay rise of "
    "5 percent, the union said. Cranes were working again by the evening shift, and the first container ship "
    "since the walkout left the harbour before midnight. The port authority said it expected the backlog of "
    "some 40 vessels to clear within two weeks."
)
#: The same story as a wire service ran it: another headline, another outlet, one sentence changed.
STRIKE_WIRE = STRIKE.replace("by the evening shift", "by late afternoon")


FERRY = (
    "The island ferry will sail every forty minutes from next week, the operator said, after two new boats "
    "joined the fleet. Fares stay the same for residents, and bicycles travel free outside the morning rush."
)
BRIDGE = (
    "The old swing bridge over the harbour mouth closes for three months of repairs from Monday, the council "
    "said. Cars will be diverted over the ring road, and a temporary footbridge opens for walkers and cyclists."
)


def page(title: str, outlet: str, body: str) -> bytes:
    return (
        f"<html><head><title>{title}</title><meta property='og:site_name' content='{outlet}'></head>"
        f"<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
    ).encode()


@pytest.fixture
def site() -> Iterator[str]:
    class Handler(QuietHandler):
        pages = {
            "/port/strike": page("Harbour strike ends", "Port News", STRIKE),
            "/wire/strike": page("Eastham dockers back at work after pay deal", "Reuters", STRIKE_WIRE),
            "/port/ferry": page("Ferry timetable changes", "Port News", FERRY),
        }

    with serving(Handler) as base:
        yield base


def cog_of(servers: Servers) -> AnnounceCog:
    cog = servers.bot.get_cog("AnnounceCog")
    assert isinstance(cog, AnnounceCog)
    return cog


async def handled(servers: Servers, count: int) -> None:
    """Wait until the announcements cog has handled `count` arrivals since it loaded."""
    cog = cog_of(servers)
    await servers.fake.wait_for(lambda: cog.arrivals.handled >= count or None, 60, f"{count} arrivals announced")


async def announce_in_news(servers: Servers) -> None:
    reply = await (
        await servers.command("announce set", servers.a, servers.editor, channel=servers.a_news)
    ).wait_for_original()
    assert reply.ephemeral and reply.content.startswith("New articles from this server's feeds and watched channels")


async def add_a_feed_and_poll_it_again(servers: Servers) -> None:
    """Port town adds a feed of two articles; a third comes, and the feed is polled again."""
    site = FeedSite(items=2)
    with serving_feeds(site) as base:
        await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/feed.xml"))
        await handled(servers, 1)
        feeds = servers.bot.get_cog("FeedsCog")
        assert isinstance(feeds, FeedsCog)
        site.items.append(2)
        [feed] = servers.bot.service.feeds.feeds(servers.a.id)
        await feeds.report(await feeds.poller().poll_all([feed]))
        await handled(servers, 2)


def titles(posts: list[FakeMessage]) -> list[str]:
    return [p.embeds[0]["title"] if p.embeds else p.content for p in posts]


@pytest.mark.asyncio
async def test_a_feeds_articles_are_announced_once_in_order_within_the_rate_limit(servers: Servers) -> None:
    servers.fake.message_rate = (2, 0.5)  # tighter than Discord's 5 per 5 s: the posts must wait for it
    await announce_in_news(servers)
    # Hill town announces too, in its own channel: it sees nothing of Port town's feed.
    servers.bot.server_data.announcements.set_channel(int(servers.b.id), int(servers.b_general.id), 1)
    site = FeedSite(items=8)
    with serving_feeds(site) as base:
        await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/feed.xml"))
        await handled(servers, 1)
        posts = servers.fake.bot_messages(servers.a_news)
        newest_last = [f"Bridge report {n}" for n in range(8 - ANNOUNCED_AT_ONCE, 8)]
        assert titles(posts) == [
            "Not announced here: 3 older articles from **Port News**; `/sources` lists every article.",
            *newest_last,
        ]
        last = posts[-1].embeds[0]
        assert last["url"] == f"{base}/item/7"
        assert last["description"] == (
            "> Engineers inspected bridge number 7 over the river on Monday and found 9 cracked girders, the council said."
        )
        assert last["footer"]["text"].startswith("Port News · 2023-1")

        feeds = servers.bot.get_cog("FeedsCog")
        assert isinstance(feeds, FeedsCog)
        site.items.append(8)
        [feed] = servers.bot.service.feeds.feeds(servers.a.id)
        await feeds.report(await feeds.poller().poll_all([feed]))  # as the schedule does
        await handled(servers, 2)
        site.items.append(9)
        await feeds.report(await feeds.poller().poll_all([feed]))
        await handled(servers, 3)
        assert titles(servers.fake.bot_messages(servers.a_news))[-2:] == ["Bridge report 8", "Bridge report 9"]
        assert len(servers.fake.bot_messages(servers.a_news)) == ANNOUNCED_AT_ONCE + 3, "nothing announced twice"
        stats = await (await servers.command("stats", servers.a, servers.editor)).wait_for_original()
        assert stats.embeds[0]["description"].endswith(f"{ANNOUNCED_AT_ONCE + 2} stories announced.")
    assert servers.fake.bot_messages(servers.b_general) == [], "another server's feed is not announced here"


@pytest.mark.asyncio
@pytest.mark.parametrize("dated", [True, False], ids=["dated", "undated"])
async def test_a_polls_articles_are_posted_oldest_first(servers: Servers, dated: bool) -> None:
    """The channel reads in time order, the newest post the newest story: by the articles' dates when the
    feed gives them (whatever order it lists them in), else in the reverse of the feed's order."""
    await announce_in_news(servers)
    site = FeedSite(items=4)
    site.dated = dated
    # Item n is dated n days after item 0; the feed lists the items from the last: dated, 3 1 2 0.
    site.items = [0, 2, 1, 3] if dated else [0, 1, 2, 3]
    with serving_feeds(site) as base:
        await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/feed.xml"))
        await handled(servers, 1)
    posts = servers.fake.bot_messages(servers.a_news)
    assert titles(posts) == [f"Bridge report {n}" for n in range(4)]
    assert all(("2023-1" in p.embeds[0]["footer"]["text"]) == dated for p in posts)


@pytest.mark.asyncio
async def test_of_a_backlog_listed_oldest_first_the_newest_are_announced(servers: Servers) -> None:
    await announce_in_news(servers)
    site = FeedSite(items=8)
    site.dated = True
    site.items.reverse()  # the feed lists item 0, the oldest, first
    with serving_feeds(site) as base:
        await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/feed.xml"))
        await handled(servers, 1)
    posts = servers.fake.bot_messages(servers.a_news)
    assert titles(posts) == [
        "Not announced here: 3 older articles from **Port News**; `/sources` lists every article.",
        *[f"Bridge report {n}" for n in range(8 - ANNOUNCED_AT_ONCE, 8)],
    ]


@pytest.mark.asyncio
async def test_a_messages_links_are_announced_in_the_order_they_were_posted(servers: Servers) -> None:
    """Links are read a few at a time: the first link's page answering last does not put its post last."""
    answer = threading.Event()

    class Handler(QuietHandler):
        pages = {
            "/port/strike": page("Harbour strike ends", "Port News", STRIKE),
            "/port/ferry": page("Ferry timetable changes", "Port News", FERRY),
            "/port/bridge": page("Bridge closed for repairs", "Port News", BRIDGE),
        }

        def do_GET(self) -> None:
            if self.path == "/port/strike":
                answer.wait(60)
            self.serve_page()

    await announce_in_news(servers)
    await (await servers.command("watch add", servers.a, servers.editor, channel=servers.a_general)).wait_for_original()
    scope = Scope.of_server(int(servers.a.id))

    def stored() -> bool | None:
        titles = {a.title for a in servers.bot.service.index.articles(scope)}
        return {"Ferry timetable changes", "Bridge closed for repairs"} <= titles or None

    with serving(Handler) as site:
        try:
            await servers.fake.send_message(
                servers.a_general, servers.reader, f"Today: {site}/port/strike {site}/port/ferry {site}/port/bridge"
            )
            await servers.fake.wait_for(stored, 60, "the second and third links' articles stored")
        finally:
            answer.set()  # the first link's page answers only now
        await handled(servers, 3)
    assert titles(servers.fake.bot_messages(servers.a_news)) == [
        "Harbour strike ends",
        "Ferry timetable changes",
        "Bridge closed for repairs",
    ]


@pytest.mark.asyncio
async def test_a_near_copy_of_an_announced_story_edits_its_post(servers: Servers, site: str) -> None:
    await announce_in_news(servers)
    await (await servers.command("watch add", servers.a, servers.editor, channel=servers.a_general)).wait_for_original()
    await servers.fake.send_message(servers.a_general, servers.reader, f"Strike over: {site}/port/strike")
    await handled(servers, 1)
    [post] = servers.fake.bot_messages(servers.a_news)
    assert post.embeds[0]["title"] == "Harbour strike ends" and post.embeds[0]["footer"]["text"] == "Port News"
    assert post.embeds[0]["description"].startswith("> Dock workers at the port of Eastham ended their nine-day")

    await servers.fake.send_message(servers.a_general, servers.reader, f"Wire copy: {site}/wire/strike")
    await handled(servers, 2)
    [post] = servers.fake.bot_messages(servers.a_news)
    assert post.edits and post.embeds[0]["footer"]["text"] == "Port News · also in Reuters"
    assert post.embeds[0]["title"] == "Harbour strike ends", "the post stays the first article's"

    # The same link again is an article already known: nothing is announced or edited. (Links are read in
    # order, so once the next new one is announced, the known one has been dealt with.)
    await servers.fake.send_message(servers.a_general, servers.reader, f"{site}/port/strike")
    await servers.fake.send_message(servers.a_general, servers.reader, f"{site}/port/ferry")
    await handled(servers, 3)
    assert titles(servers.fake.bot_messages(servers.a_news)) == ["Harbour strike ends", "Ferry timetable changes"]
    assert len(post.edits) == 1


@pytest.mark.asyncio
async def test_a_channel_the_bot_cannot_post_in_is_reported_once_to_who_chose_it(servers: Servers) -> None:
    await announce_in_news(servers)
    bot_member = servers.a.members[servers.fake.bot_user.id]
    servers.a_news.overwrites[bot_member.id] = (1, Overwrite(deny=Permission.SEND_MESSAGES))
    await add_a_feed_and_poll_it_again(servers)
    refused = servers.fake.take_violations()
    assert refused == [f"POST /channels/{servers.a_news.id}/messages -> 403" + refused[0].split("-> 403", 1)[1]]
    assert len(refused) == 1, "tried once, not again for the next poll"
    [told] = servers.fake.bot_messages(servers.fake.dm_channel(servers.editor))
    assert told.content == (
        f"I could not announce new articles in <#{servers.a_news.id}> of **Port town**: I may not post there. "
        "Announcements are paused until a manager runs `/announce set` again."
    )


@pytest.mark.asyncio
@pytest.mark.parametrize("bot_told", [True, False], ids=["bot-told-of-the-change", "bot-not-told"])
async def test_a_channel_where_the_bot_may_not_embed_links_is_reported_once(servers: Servers, bot_told: bool) -> None:
    """Without Embed Links Discord drops an announcement's embed and refuses the empty post: the manager is
    told why, as for any channel the bot cannot post in. When the bot knows its permissions there, it does
    not even try."""
    await announce_in_news(servers)
    bot_member = servers.a.members[servers.fake.bot_user.id]
    servers.a_news.overwrites[bot_member.id] = (1, Overwrite(deny=Permission.EMBED_LINKS))
    if bot_told:
        await servers.fake.update_channel(servers.a_news)
    await add_a_feed_and_poll_it_again(servers)
    assert servers.fake.bot_messages(servers.a_news) == []
    refused = servers.fake.take_violations()
    if bot_told:
        assert refused == [], "nothing was tried"
    else:
        assert refused == [f"POST /channels/{servers.a_news.id}/messages -> 400" + refused[0].split("-> 400", 1)[1]]
        assert "Cannot send an empty message" in refused[0]
    [told] = servers.fake.bot_messages(servers.fake.dm_channel(servers.editor))
    assert told.content == (
        f"I could not announce new articles in <#{servers.a_news.id}> of **Port town**: I may not embed links "
        "there. Announcements are paused until a manager runs `/announce set` again."
    )


@pytest.mark.asyncio
async def test_a_reply_to_an_announcement_is_no_question_unless_it_mentions_the_bot(
    servers: Servers, site: str
) -> None:
    await announce_in_news(servers)
    await (await servers.command("watch add", servers.a, servers.editor, channel=servers.a_general)).wait_for_original()
    await servers.fake.send_message(servers.a_general, servers.reader, f"Strike over: {site}/port/strike")
    await handled(servers, 1)
    [post] = servers.fake.bot_messages(servers.a_news)
    fake = servers.fake
    await fake.send_message(servers.a_news, servers.reader, "great piece!", reply_to=post)  # pings the bot
    await asyncio.sleep(1.0)
    assert fake.threads == [] and fake.bot_messages(servers.a_news) == [post], "no thread, no 'Nothing found'"
    await fake.send_message(
        servers.a_news, servers.reader, f"<@{fake.bot_user.id}> how long did the strike last?", reply_to=post
    )
    [thread] = await fake.wait_for(lambda: list(fake.threads) or None, 30, "the answer's thread")
    answer = await fake.wait_for_message(thread, timeout=30)
    assert "nine-day strike" in answer.embeds[0]["description"]
