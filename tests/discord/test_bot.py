"""The real bot, with the real index and model, against the fake Discord: what users see."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
import pytest_asyncio

from bot.app import build_bot, open_server_data
from bot.client import ArticleBot
from bot.index_service import IndexService
from bot.render import MESSAGE_EMBED_CHARS_LIMIT
from bot.settings import BotSettings, Cooldown
from index import ArticleIndex
from index.ingest.parse import parse_text
from tests.support.discord.fake_discord import FakeDiscord, running_client
from tests.support.discord.fake_payloads import FakeChannel, FakeGuild, FakeMessage, FakeUser
from tests.support.discord.servers import Servers, restarted
from tests.support.texts import SEED_TITLE, XI_SENTENCE


@dataclass
class Server:
    """A guild with two channels and two members, and the bot connected to it."""

    fake: FakeDiscord
    bot: ArticleBot
    guild: FakeGuild
    general: FakeChannel
    asks: FakeChannel
    alice: FakeUser
    bob: FakeUser

    async def ask(self, question: str, user: FakeUser | None = None, **options: Any):
        return await self.fake.send_command(
            "ask", user=user or self.alice, channel=self.general, options={"question": question, **options}
        )


@asynccontextmanager
async def serve(
    fake: FakeDiscord,
    index: ArticleIndex,
    *,
    ask_channels: bool = False,
    read_messages: bool = True,
    threads: bool = False,
    **changes: Any,
) -> AsyncIterator[Server]:
    """The bot in one server; answers come as replies unless `threads` (the product's default is threads)."""
    guild = fake.add_guild("Newsroom")
    general = fake.add_channel(guild, "general")
    asks = fake.add_channel(guild, "ask-the-articles")
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    fake.add_member(guild, alice)
    fake.add_member(guild, bob)
    settings = BotSettings(
        token=fake.token,
        guild_id=int(guild.id),
        index=index.settings,
        ask_channels=frozenset({int(asks.id)}) if ask_channels else frozenset(),
        **changes,
    )
    with open_server_data(settings) as server_data:
        bot = build_bot(
            IndexService(index.settings, index),
            settings,
            server_data,
            read_messages=read_messages,
            guild_ready_timeout=0.1,
        )
        bot.server_data.set_answers_in_threads(int(guild.id), threads)
        async with running_client(fake, bot, timeout=60):
            yield Server(fake, bot, guild, general, asks, alice, bob)


@pytest_asyncio.fixture
async def server(fake_discord: FakeDiscord, seed_index: ArticleIndex) -> AsyncIterator[Server]:
    async with serve(fake_discord, seed_index) as s:
        yield s


def button(message: FakeMessage, label: str) -> dict[str, Any]:
    return next(c for row in message.components for c in row["components"] if c.get("label") == label)


def body(message: FakeMessage) -> dict[str, Any]:
    """What the bot last sent for this message (a deferred reply is filled in by an edit)."""
    sent = message.edits[-1] if message.edits else message.sent
    assert sent is not None
    return sent


async def answer_of(interaction) -> FakeMessage:
    """The deferred /ask's answer, after checking it was deferred in time."""
    response = await interaction.wait_for_response()
    assert response.type == 5 and response.after < 3, "acknowledged with a deferral within 3 s"
    return await interaction.wait_for_followup(timeout=30)


@pytest.mark.asyncio
async def test_commands_are_synced_with_their_options(server: Server) -> None:
    ask = server.fake.command("ask", guild=server.guild)
    assert [(o["name"], o["type"], o.get("required", False)) for o in ask["options"]] == [
        ("question", 3, True),
        ("private", 5, False),
        ("since", 3, False),
    ]
    assert ask["options"][0]["max_length"] == 1000
    [page] = server.fake.command("sources", guild=server.guild)["options"]
    assert (page["name"], page["type"], page.get("required", False)) == ("page", 4, False)
    [article] = server.fake.command("source", guild=server.guild)["options"]
    assert article["autocomplete"] is True
    assert server.fake.identify["intents"] & (1 << 15), "the message-content intent, for watched channels"


@pytest.mark.asyncio
async def test_ask_is_deferred_then_answered_with_the_xi_quote(server: Server) -> None:
    reply = await answer_of(await server.ask("How did China react?"))
    assert not reply.ephemeral
    first = reply.embeds[0]
    assert first["title"] == SEED_TITLE
    assert first["description"].startswith(f"> {XI_SENTENCE}")
    assert "*paragraph 9*" in first["description"]
    assert first["footer"]["text"] == "Newsweek · 2018-03-20"
    assert body(reply)["allowed_mentions"] == {"parse": []}


@pytest.mark.asyncio
async def test_private_answers_are_ephemeral(server: Server) -> None:
    reply = await answer_of(await server.ask("How did China react?", private=True))
    assert reply.ephemeral and reply.embeds[0]["title"] == SEED_TITLE


@pytest.mark.asyncio
async def test_not_found_says_so_and_lists_the_nearest_sources(server: Server) -> None:
    reply = await answer_of(await server.ask("What is the capital of Peru?"))
    [embed] = reply.embeds
    assert embed["title"] == "Nothing found"
    assert "couldn't find anything" in embed["description"]
    assert f"**{SEED_TITLE}**" in embed["description"] and ">" not in embed["description"]


@pytest.mark.asyncio
async def test_sources_lists_the_seed_article(server: Server) -> None:
    interaction = await server.fake.send_command("sources", user=server.alice, channel=server.general)
    reply = await interaction.wait_for_original()
    [embed] = reply.embeds
    assert embed["title"] == "Articles I can quote (1)"
    assert SEED_TITLE in embed["description"] and "Newsweek · 2018-03-20 · 10 passages" in embed["description"]
    assert reply.components == [], "one page needs no buttons"


@pytest.mark.asyncio
async def test_sources_pages_turn_only_for_the_asker_and_stop_after_a_timeout(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    for n in range(12):
        seed_index.add(
            parse_text(
                f"Local story {n:02}\n\nThe town council met {n} times to discuss the park.", f"file:story{n}.txt"
            )
        )
    async with serve(fake_discord, seed_index, page_timeout=2.0) as s:
        interaction = await s.fake.send_command("sources", user=s.alice, channel=s.general)
        message = await interaction.wait_for_original()
        assert message.embeds[0]["footer"]["text"] == "Page 1 of 2"
        assert button(message, "Previous")["disabled"] is True
        first_page = message.embeds[0]["description"]

        refused = await s.fake.send_component(message, button(message, "Next")["custom_id"], user=s.bob)
        assert (await refused.wait_for_original()).ephemeral
        assert message.embeds[0]["footer"]["text"] == "Page 1 of 2"

        turned = await s.fake.send_component(message, button(message, "Next")["custom_id"], user=s.alice)
        assert (await turned.wait_for_response()).type == 7
        assert message.embeds[0]["footer"]["text"] == "Page 2 of 2"
        assert message.embeds[0]["description"] != first_page
        assert button(message, "Next")["disabled"] is True

        await s.fake.wait_for(
            lambda: button(message, "Previous").get("disabled"), 10, "buttons disabled by the timeout"
        )


@pytest.mark.asyncio
async def test_sources_pages_turn_after_a_restart_for_the_asker_only(servers: Servers) -> None:
    for n in range(12):
        text = f"Local story {n:02}\n\nThe town council met {n} times to discuss the park."
        await asyncio.to_thread(servers.bot.service.index.add, parse_text(text, f"file:story{n}.txt"))
    listed = await (await servers.command("sources", servers.a, servers.reader)).wait_for_original()
    assert listed.embeds[0]["footer"]["text"] == "Page 1 of 2"
    async with restarted(servers):
        refused = await servers.fake.send_component(listed, button(listed, "Next")["custom_id"], user=servers.editor)
        assert (await refused.wait_for_original()).content.startswith("Only the person who ran the command")
        turned = await servers.fake.send_component(listed, button(listed, "Next")["custom_id"], user=servers.reader)
        assert (await turned.wait_for_response()).type == 7  # the message updated in place
        assert listed.embeds[0]["footer"]["text"] == "Page 2 of 2"
        assert button(listed, "Next")["disabled"] and not button(listed, "Previous")["disabled"]


@pytest.mark.asyncio
async def test_source_autocompletes_titles_and_shows_details(server: Server) -> None:
    complete = await server.fake.send_autocomplete(
        "source", user=server.alice, channel=server.general, focused="article", value="kim jong"
    )
    await complete.wait_for_response()
    [choice] = complete.choices
    assert choice["name"] == SEED_TITLE
    interaction = await server.fake.send_command(
        "source", user=server.alice, channel=server.general, options={"article": choice["value"]}
    )
    [embed] = (await interaction.wait_for_original()).embeds
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"] == SEED_TITLE
    assert fields["Outlet"] == "Newsweek" and fields["Author"] == "Tracy Lee" and fields["Date"] == "2018-03-20"
    assert fields["Length"].endswith("10 passages")
    assert embed["description"].startswith("> North Korean leader Kim Jong Un")
    typed = await server.fake.send_command(  # a title typed out, not picked: found in the listing
        "source", user=server.alice, channel=server.general, options={"article": SEED_TITLE.upper()}
    )
    [embed] = (await typed.wait_for_original()).embeds
    assert embed["title"] == SEED_TITLE and embed["description"].startswith("> North Korean leader Kim Jong Un")

    missing = await server.fake.send_command(
        "source", user=server.alice, channel=server.general, options={"article": "No such story"}
    )
    assert (await missing.wait_for_original()).ephemeral


@pytest.mark.asyncio
async def test_a_mention_is_answered_as_a_reply_without_the_message_content_intent(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    async with serve(fake_discord, seed_index, read_messages=False) as server:
        assert server.fake.identify["intents"] & (1 << 15) == 0
        await check_mention_reply(server)


@pytest.mark.asyncio
async def test_a_mention_of_the_bot_s_own_role_asks_it_too(server: Server) -> None:
    fake = server.fake
    role = next(r for r in server.guild.roles.values() if r.managed)  # Discord offers it beside the bot under "@"
    question = await fake.send_message(server.general, server.alice, f"<@&{role.id}> How did China react?")
    reply = await fake.wait_for_message(server.general, timeout=30)
    assert reply.referenced is question and reply.embeds[0]["description"].startswith(f"> {XI_SENTENCE}")
    assert not reply.content.startswith("Searching for"), "the role's mention is no part of the question"


async def check_mention_reply(server: Server) -> None:
    fake = server.fake
    question = await fake.send_message(server.general, server.alice, f"{fake.bot_user.mention} How did China react?")
    reply = await fake.wait_for_message(server.general, timeout=30)
    assert reply.referenced is question
    assert reply.embeds[0]["description"].startswith(f"> {XI_SENTENCE}")
    assert reply.mentions == [] and body(reply)["allowed_mentions"]["parse"] == []

    await fake.send_message(server.general, server.alice, fake.bot_user.mention)
    hint = await fake.wait_for_message(server.general)
    assert "/ask" in hint.content


@pytest.mark.asyncio
async def test_plain_messages_are_answered_only_in_ask_channels(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    async with serve(fake_discord, seed_index, ask_channels=True) as s:
        assert s.fake.identify["intents"] & (1 << 15), "ask channels need the message-content intent"
        await s.fake.send_message(s.general, s.alice, "How did China react?")
        question = await s.fake.send_message(s.asks, s.alice, "How did China react?")
        reply = await s.fake.wait_for_message(s.asks, timeout=30)
        assert reply.referenced is question and XI_SENTENCE in reply.embeds[0]["description"]
        robot = s.fake.add_user("otherbot", bot=True)
        s.fake.add_member(s.guild, robot)
        await s.fake.send_message(s.asks, robot, "How did China react?")
        await asyncio.sleep(1.0)  # give a wrong answer the time to arrive
        assert s.fake.bot_messages(s.general) == []
        assert len(s.fake.bot_messages(s.asks)) == 1, "other bots and the bot itself are ignored"


@pytest.mark.asyncio
async def test_article_text_with_mentions_never_pings(server: Server) -> None:
    server.bot.service.index.add(
        parse_text(
            "Club notice\n\nThe chess club secretary wrote @everyone and <@123456789012345678> that the tournament "
            "moves to the library on Friday.",
            "file:club.txt",
        )
    )
    reply = await answer_of(await server.ask("Where does the chess tournament move?"))
    assert "@everyone" in reply.embeds[0]["description"]
    assert "<@123456789012345678>" in reply.embeds[0]["description"]
    assert body(reply)["allowed_mentions"] == {"parse": []}
    assert reply.mentions == [] and not reply.mention_everyone


@pytest.mark.asyncio
async def test_a_long_answer_stays_within_every_limit(fake_discord: FakeDiscord, seed_index: ArticleIndex) -> None:
    seed_index.settings = replace(seed_index.settings, top_k=10)
    for n in range(
        10
    ):  # the words in another order in each, or they would be copies of one story (index/ingest/stories.py)
        words = " ".join(f"harbour{i} crane" for i in random.Random(n).sample(range(300), 300))
        seed_index.add(
            parse_text(
                f"Harbour report {n} with a long title {'x' * 300}\n\n"
                f"The harbour cranes of dock {n} {words} moved today.",
                f"file:harbour{n}.txt",
            )
        )
    async with serve(fake_discord, seed_index) as s:
        interaction = await s.ask("harbour cranes moved")
        await answer_of(interaction)
        await asyncio.sleep(1.0)
        replies = [interaction.original, *[m for m in interaction.followups if m is not interaction.original]]
        embeds = [e for m in replies for e in m.embeds]
        assert len(embeds) >= 8 and len(replies) >= 2, "many articles' quotes split over several messages"
        for message in replies:
            assert (
                sum(
                    len(e.get("title", "")) + len(e.get("description", "")) + len(e.get("footer", {}).get("text", ""))
                    for e in message.embeds
                )
                <= MESSAGE_EMBED_CHARS_LIMIT
            )
        for embed in embeds:
            assert len(embed["title"]) <= 256 and embed["title"].endswith(" …")
            for block in embed["description"].split("\n\n"):
                quote = block.split("\n")[0].removeprefix("> ")
                assert any(quote in a.text for a in seed_index.articles()), "quotes stay verbatim"
    # Nothing was refused: the fake fails the test on any limit broken.


@pytest.mark.asyncio
async def test_the_cooldown_answers_kindly(fake_discord: FakeDiscord, seed_index: ArticleIndex) -> None:
    async with serve(fake_discord, seed_index, cooldown=Cooldown(2, 60)) as s:
        for _ in range(2):
            await answer_of(await s.ask("How did China react?"))
        third = await s.ask("How did China react?")
        refused = await third.wait_for_original()
        assert refused.ephemeral and "please wait" in refused.content
        assert third.response.type == 4
        other = await s.ask("How did China react?", user=s.bob)
        await answer_of(other)


@pytest.mark.asyncio
async def test_an_error_in_a_command_is_answered_privately_and_the_bot_stays_up(
    server: Server, monkeypatch, caplog
) -> None:
    index = server.bot.service.index
    real_ask = index.ask

    def broken(question: str, *args: Any, **kwargs: Any):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(index, "ask", broken)
    failing = await server.ask("How did China react?")
    await failing.wait_for_response()
    error = await failing.wait_for_followup()
    assert error.ephemeral and "something went wrong" in error.content
    assert failing.original is None or failing.original.deleted, "the public thinking message is gone"
    assert "disk on fire" in caplog.text and "Traceback" in caplog.text

    monkeypatch.setattr(index, "ask", real_ask)
    reply = await answer_of(await server.ask("How did China react?"))
    assert reply.embeds[0]["title"] == SEED_TITLE


@pytest.mark.asyncio
async def test_heartbeats_keep_going_during_a_slow_search(server: Server, monkeypatch) -> None:
    index = server.bot.service.index
    real_ask = index.ask

    def slow(question: str, *args: Any, **kwargs: Any):
        time.sleep(3.5)  # a search this slow would stall the gateway if it ran on the event loop
        return real_ask(question, *args, **kwargs)

    monkeypatch.setattr(index, "ask", slow)
    interaction = await server.ask("How did China react?")
    reply = await answer_of(interaction)
    assert reply.embeds[0]["title"] == SEED_TITLE
    during = [t for t in server.fake.heartbeats if t > interaction.dispatched_at]
    assert len(during) >= 3
    assert max(b - a for a, b in zip(during, during[1:])) < 1.5


@pytest.mark.asyncio
async def test_a_reply_to_an_answer_is_read_as_a_follow_up(server: Server) -> None:
    fake = server.fake
    await fake.send_message(server.general, server.alice, f"{fake.bot_user.mention} How did China react?")
    answer = await fake.wait_for_message(server.general, timeout=30)
    assert not answer.content and answer.embeds
    follow_up = await fake.send_message(server.general, server.alice, "when?", reply_to=answer)
    reply = await fake.wait_for_message(server.general, timeout=30)
    assert reply.referenced is follow_up
    assert reply.content == "Searching for: When did China react?" and reply.embeds

    slash = await answer_of(await server.ask("How did China react?"))
    await fake.send_message(server.general, server.bob, "what about Kim Jong Un?", reply_to=slash)
    reply = await fake.wait_for_message(server.general, timeout=30)
    assert reply.content == "Searching for: How did Kim Jong Un react?"


@pytest.mark.asyncio
async def test_ask_can_be_limited_in_time_and_says_when_the_newest_is_old(server: Server) -> None:
    recent = await answer_of(await server.ask("How did China react?", since="7d"))
    assert recent.embeds[0]["title"] == "Nothing found"
    older = await answer_of(await server.ask("How did China react?", since="2018-03-01"))
    assert older.embeds[0]["footer"]["text"] == "Newsweek · 2018-03-20"
    refused = await (await server.ask("How did China react?", since="soon")).wait_for_original()
    assert refused.ephemeral and refused.content.startswith("Sorry: since must be like 7d")
    latest = await answer_of(await server.ask("What is the latest on how China reacted?"))
    assert latest.content == "The newest article on this is from 20 March 2018." and latest.embeds


@pytest.mark.asyncio
async def test_an_answer_opens_a_thread_where_every_message_is_a_follow_up(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    async with serve(fake_discord, seed_index, threads=True) as s:
        fake = s.fake
        question = await fake.send_message(s.general, s.alice, f"{fake.bot_user.mention} How did China react?")
        [thread] = await fake.wait_for(lambda: list(fake.threads) or None, 30, "a thread")
        assert thread.id == question.id and thread.parent_id == s.general.id and thread.name == "How did China react?"
        answer = await fake.wait_for_message(thread, timeout=30)
        assert answer.embeds[0]["description"].startswith(f"> {XI_SENTENCE}")
        assert fake.bot_messages(s.general) == [], "nothing but the thread in the channel"

        await fake.send_message(thread, s.bob, "what about Kim Jong Un?")  # no mention needed in the bot's thread
        follow_up = await fake.wait_for_message(thread, timeout=30)
        assert follow_up.content == "Searching for: How did Kim Jong Un react?"
        await fake.send_message(thread, s.bob, "when?")
        again = await fake.wait_for_message(thread, timeout=30)
        assert again.content == "Searching for: When did Kim Jong Un react?"

        off = await (
            await fake.send_command("answer-threads", user=fake.owner, channel=s.general, options={"enabled": False})
        ).wait_for_original()
        assert off.content == "Answers now come as replies in the channel."
        await fake.send_message(s.general, s.alice, f"{fake.bot_user.mention} How did China react?")
        reply = await fake.wait_for_message(s.general, timeout=30)
        assert reply.embeds and len(fake.threads) == 1


@pytest.mark.asyncio
async def test_a_reply_to_an_answer_with_its_mention_off_is_answered_in_a_thread_named_as_searched(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    async with serve(fake_discord, seed_index, threads=True) as s:
        fake = s.fake
        slash = await answer_of(await s.ask("How did China react?"))
        reply = await fake.send_message(
            s.general, s.bob, "what about Kim Jong Un?", reply_to=slash, mention_author=False
        )
        assert fake.bot_user not in reply.mentions, "@OFF: the reply does not ping the bot"
        [thread] = await fake.wait_for(lambda: list(fake.threads) or None, 30, "a thread")
        assert thread.id == reply.id and thread.name == "How did Kim Jong Un react?"
        answer = await fake.wait_for_message(thread, timeout=30)
        assert answer.content == "Searching for: How did Kim Jong Un react?"

        await fake.send_message(s.general, s.bob, "Nice weather today", reply_to=reply, mention_author=False)
        await asyncio.sleep(1.0)  # a reply to someone else's message is not for the bot
        assert len(fake.threads) == 1 and fake.bot_messages(s.general) == []


@pytest.mark.asyncio
async def test_a_follow_up_in_a_thread_follows_its_answer_after_a_restart(servers: Servers) -> None:
    fake = servers.fake
    await fake.send_message(servers.a_general, servers.reader, f"{fake.bot_user.mention} How did China react?")
    [thread] = await fake.wait_for(lambda: list(fake.threads) or None, 30, "the answer's thread")
    await fake.wait_for_message(thread, timeout=30)
    async with restarted(servers):  # the bot remembers no turn now: it reads the thread back
        await fake.send_message(thread, servers.reader, "what about Kim Jong Un?")
        follow_up = await fake.wait_for_message(thread, timeout=30)
        assert follow_up.content == "Searching for: How did Kim Jong Un react?"


@pytest.mark.asyncio
async def test_the_bot_logs_once_per_server_the_permissions_it_uses_but_lacks(
    fake_discord: FakeDiscord, seed_index: ArticleIndex, caplog
) -> None:
    from tests.support.discord.fake_payloads import DEFAULT_BOT_PERMISSIONS, Permission

    def without_threads(name: str) -> FakeGuild:
        guild = fake_discord.add_guild(
            name, bot_permissions=DEFAULT_BOT_PERMISSIONS & ~Permission.CREATE_PUBLIC_THREADS
        )
        guild.everyone.permissions &= ~Permission.CREATE_PUBLIC_THREADS
        return guild

    strict = without_threads("Strict")
    with caplog.at_level(logging.WARNING, logger="bot.client"):
        async with serve(fake_discord, seed_index) as s:  # "Newsroom" gives the bot everything it uses
            await s.bot.wait_until_ready()
            joined = without_threads("Joined later")
            await fake_discord.join_guild(joined)
            await fake_discord.wait_for(lambda: s.bot.get_guild(int(joined.id)), 10, "the joined server")
            s.bot.dispatch("guild_available", s.bot.get_guild(int(strict.id)))  # as after a reconnection
            await asyncio.sleep(0.2)
    lacking = [r.getMessage() for r in caplog.records if "does not give the bot" in r.getMessage()]
    assert lacking == [
        f"server {strict.id} (Strict) does not give the bot Create Public Threads; see the invite in docs/discord.md",
        f"server {joined.id} (Joined later) does not give the bot Create Public Threads; see the invite in docs/discord.md",
    ]
