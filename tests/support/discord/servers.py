"""Two servers (Port town, Hill town) with the bot connected, for the tests of per-server features."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import discord

from bot.app import build_bot, open_server_data
from bot.client import ArticleBot
from bot.index_service import IndexService
from bot.settings import BotSettings
from index import ArticleIndex, FetchPolicy
from tests.support.discord.fake_discord import FakeDiscord, Permission, running_client
from tests.support.discord.fake_payloads import FakeChannel, FakeGuild, FakeUser


@dataclass
class Servers:
    fake: FakeDiscord
    bot: ArticleBot
    a: FakeGuild
    b: FakeGuild
    a_general: FakeChannel
    b_general: FakeChannel
    a_news: FakeChannel  # for links (watched channels)
    editor: FakeUser  # may manage articles in server A (Manage Server)
    reader: FakeUser  # a plain member of both

    async def command(self, name: str, guild: FakeGuild, user: FakeUser, **options: Any):
        channel = self.a_general if guild is self.a else self.b_general
        return await self.fake.send_command(name, user=user, channel=channel, options=options)


@asynccontextmanager
async def two_servers(fake: FakeDiscord, index: ArticleIndex, **changes: Any) -> AsyncIterator[Servers]:
    """The bot in two servers; `changes` go to its settings."""
    a, b = fake.add_guild("Port town"), fake.add_guild("Hill town")
    a_general, b_general = fake.add_channel(a, "general"), fake.add_channel(b, "general")
    a_news = fake.add_channel(a, "news")
    editor, reader = fake.add_user("editor"), fake.add_user("reader")
    fake.add_member(a, editor, roles=[fake.add_role(a, "editors", permissions=Permission.MANAGE_GUILD)])
    fake.add_member(b, editor)
    fake.add_member(a, reader)
    fake.add_member(b, reader)
    settings = BotSettings(token=fake.token, index=index.settings, **changes)
    service = IndexService(index.settings, index, FetchPolicy(allow_private=True, timeout=5))
    with open_server_data(settings) as server_data:
        bot = build_bot(service, settings, server_data, guild_ready_timeout=0.1)
        async with running_client(fake, bot, timeout=60):
            for guild in (a, b):  # global commands take time to appear on Discord; tests sync per server
                bot.tree.copy_global_to(guild=discord.Object(int(guild.id)))
                await bot.tree.sync(guild=discord.Object(int(guild.id)))
            yield Servers(fake, bot, a, b, a_general, b_general, a_news, editor, reader)


@asynccontextmanager
async def restarted(servers: Servers) -> AsyncIterator[Servers]:
    """The bot stopped and started again on the same index and server data, as a restarted process
    opens them; `servers.bot` is the new one meanwhile."""
    old = servers.bot
    await old.close()
    old.server_data.close()
    service = IndexService(old.service.settings, old.service.index, FetchPolicy(allow_private=True, timeout=5))
    with open_server_data(old.settings) as reopened:
        bot = build_bot(service, old.settings, reopened, guild_ready_timeout=0.1)
        async with running_client(servers.fake, bot, timeout=60):
            for guild in (servers.a, servers.b):
                bot.tree.copy_global_to(guild=discord.Object(int(guild.id)))
                await bot.tree.sync(guild=discord.Object(int(guild.id)))
            servers.bot = bot
            yield servers


async def final_text(interaction) -> str:
    """The text of a deferred reply once the bot has finished editing it."""
    await interaction.wait_for_response()
    original = await interaction.wait_for_original()
    await interaction_done(original)
    return original.content


async def interaction_done(message, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while message.loading or message.content.endswith("…"):
        assert loop.time() < end, f"still working: {message.content!r}"
        await asyncio.sleep(0.05)
