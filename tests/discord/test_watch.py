"""Watched channels over the fake Discord: links posted there are added to the server, others are not."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from bot.cogs.watch import ADDED, FAILED, KNOWN, LIMITED, WatchCog, links_in
from index import ArticleIndex, Scope
from tests.support.discord.fake_discord import FakeDiscord
from tests.support.discord.fake_payloads import FakeChannel, FakeMessage
from tests.support.discord.servers import Servers, two_servers
from tests.support.web import QuietHandler, serving

pytestmark = pytest.mark.both_stores  # the same tests with the server data, feeds and index in SQLite and in PostgreSQL


def page(title: str, body: str) -> bytes:
    return (
        f"<html><head><title>{title}</title><meta property='og:site_name' content='Port News'></head>"
        f"<body><article><h1>{title}</h1><p>{body}</p></article></body></html>"
    ).encode()


STRIKE = page(
    "Harbour strike ends",
    "Dock workers ended their nine-day strike on Friday after winning a pay rise of 5 percent, the union said.",
)
EMPTY = b"<html><head><title>Home</title></head><body><nav><a href='/'>Home</a></nav></body></html>"


@pytest.fixture
def site() -> Iterator[str]:
    """/harbour (an article), /home (no article), /story/N (articles; after a pause at /slow/N)."""
    release = threading.Event()

    class Handler(QuietHandler):
        pages = {
            "/harbour": STRIKE,
            "/home": EMPTY,
            **{
                f"/story/{n}": page(
                    f"Story {n}", f"Story number {n} tells of the town's {n} bridges over the river and who built them."
                )
                for n in range(10)
            },
        }

        def do_GET(self) -> None:
            if self.path.startswith("/slow/"):
                release.wait(1.0)
                self.path = self.path.replace("/slow/", "/story/")
            self.serve_page()

    with serving(Handler) as url:
        yield url
        release.set()


@pytest_asyncio.fixture
async def watching(fake_discord: FakeDiscord, seed_index: ArticleIndex) -> AsyncIterator[tuple[Servers, FakeChannel]]:
    """Two servers, server A's #news watched by its editor, the limit at 4 links an hour."""
    async with two_servers(fake_discord, seed_index, links_per_hour=4) as servers:
        news = servers.a_news
        cog = servers.bot.get_cog("WatchCog")
        assert isinstance(cog, WatchCog)
        cog.reason_seconds = 0.5
        reply = await (await servers.command("watch add", servers.a, servers.editor, channel=news)).wait_for_original()
        assert reply.ephemeral and reply.content.startswith(f"Watching <#{news.id}>")
        yield servers, news


async def reactions(servers: Servers, message: FakeMessage, count: int, timeout: float = 30) -> list[str]:
    return await servers.fake.wait_for(
        lambda: list(message.reactions) if len(message.reactions) >= count else None,
        timeout,
        f"{count} reactions on message {message.id}",
    )


def test_links_are_found_in_message_text() -> None:
    text = "See https://news.test/a, and <https://news.test/b> (also https://news.test/a). Not http:// or ftp://x"
    assert links_in(text) == ["https://news.test/a", "https://news.test/b"]


@pytest.mark.asyncio
async def test_links_in_a_watched_channel_are_added_and_answerable(
    watching: tuple[Servers, FakeChannel], site: str
) -> None:
    servers, news = watching
    fake = servers.fake
    posted = await fake.send_message(news, servers.reader, f"Big news: {site}/harbour and also {site}/home")
    assert sorted(await reactions(servers, posted, 2)) == sorted([ADDED, FAILED])
    why = await fake.wait_for_message(news, timeout=10)
    assert why.referenced is posted and why.content.startswith("Couldn't add that link:")
    assert "no article text" in why.content and why.mentions == []
    await fake.wait_for(lambda: why.deleted, 5, "the reason to delete itself")

    [added] = [a for a in servers.bot.service.index.articles(Scope.of_server(int(servers.a.id))) if a.collection]
    assert added.title == "Harbour strike ends" and added.added_by == servers.reader.id
    assert not [a for a in servers.bot.service.index.articles(Scope.of_server(int(servers.b.id))) if a.collection]
    answer = await (
        await servers.command("ask", servers.a, servers.reader, question="How long was the dock strike?")
    ).wait_for_followup(timeout=30)
    assert "nine-day strike" in answer.embeds[0]["description"]

    again = await fake.send_message(news, servers.editor, f"{site}/harbour")
    assert await reactions(servers, again, 1) == [KNOWN]


@pytest.mark.asyncio
async def test_links_elsewhere_or_from_bots_are_left_alone(watching: tuple[Servers, FakeChannel], site: str) -> None:
    servers, news = watching
    fake = servers.fake
    robot = fake.add_user("feedbot", bot=True)
    fake.add_member(servers.a, robot)
    elsewhere = await fake.send_message(servers.a_general, servers.reader, f"{site}/story/1")
    from_bot = await fake.send_message(news, robot, f"{site}/story/2")
    marker = await fake.send_message(news, servers.reader, f"{site}/story/3")
    await reactions(servers, marker, 1)  # links are taken in order: the earlier ones were passed over
    await asyncio.sleep(0.2)
    assert elsewhere.reactions == [] and from_bot.reactions == []
    titles = {a.title for a in servers.bot.service.index.articles(Scope.of_server(int(servers.a.id))) if a.collection}
    assert titles == {"Story 3"}


@pytest.mark.asyncio
async def test_only_managers_choose_channels_and_the_choice_is_per_server(
    watching: tuple[Servers, FakeChannel],
) -> None:
    servers, news = watching
    with pytest.raises(PermissionError, match="requires permissions"):  # Discord does not even offer it
        await servers.command("watch list", servers.a, servers.reader)
    listed = await (await servers.command("watch list", servers.a, servers.editor)).wait_for_original()
    assert listed.content == f"Watched: <#{news.id}>."
    assert servers.bot.server_data.watched(int(servers.b.id)) == []
    removed = await (await servers.command("watch remove", servers.a, servers.editor, channel=news)).wait_for_original()
    assert removed.content == f"No longer watching <#{news.id}>."
    assert not servers.bot.server_data.is_watched(int(servers.a.id), int(news.id))


@pytest.mark.asyncio
async def test_the_choice_survives_a_restart(fake_discord: FakeDiscord, seed_index: ArticleIndex) -> None:
    async with two_servers(fake_discord, seed_index) as servers:
        news = servers.a_news
        await (await servers.command("watch add", servers.a, servers.editor, channel=news)).wait_for_original()
    async with two_servers(fake_discord, seed_index) as again:
        assert again.bot.server_data.watched(int(servers.a.id)) == [int(news.id)]


@pytest.mark.asyncio
async def test_a_flood_of_links_is_capped_per_hour_and_answers_do_not_wait(
    watching: tuple[Servers, FakeChannel], site: str
) -> None:
    servers, news = watching
    fake = servers.fake
    flood = await fake.send_message(news, servers.reader, " ".join(f"{site}/slow/{n}" for n in range(6)))
    asked = await servers.command("ask", servers.a, servers.reader, question="How did China react?")
    answer = await asked.wait_for_followup(timeout=10)
    assert answer.embeds and ADDED not in flood.reactions, "the answer came while the links were still being fetched"
    assert sorted(await reactions(servers, flood, 2)) == sorted([ADDED, LIMITED])
    why = await fake.wait_for_message(news, check=lambda m: "in the last hour" in m.content, timeout=10)
    assert why.referenced is flood and why.content.startswith("2 of these links were not added")
    await fake.wait_for(
        lambda: (
            len([a for a in servers.bot.service.index.articles(Scope.of_server(int(servers.a.id))) if a.collection])
            == 4
            or None
        ),
        30,
        "the four links within the limit",
    )
