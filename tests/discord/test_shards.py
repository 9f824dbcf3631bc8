"""Sharding: the bot runs the shards of DISCORD_SHARD_COUNT named by DISCORD_SHARD_IDS, all in one process
or split between processes (here, bots in this process; tests/support/discord/processes.py starts real ones)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import discord
import pytest

from bot.app import build_bot, open_server_data
from bot.client import ArticleBot
from bot.cogs.feeds import FeedsCog
from bot.index_service import IndexService
from bot.settings import BotSettings
from index import ArticleIndex, FetchPolicy, Settings, ensure_seeded
from index.encoders.base import Encoder
from tests.support.discord.fake_discord import FakeDiscord, running_client
from tests.support.discord.fake_payloads import FakeMessage
from tests.support.discord.processes import BotProcess, bot_env, bot_process
from tests.support.discord.shards import Town, two_towns
from tests.support.paths import SEEDS
from tests.support.texts import SEED_TITLE


@dataclass
class Received:
    """The servers whose interactions one bot received."""

    guilds: list[int | None] = field(default_factory=list)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.guilds.append(interaction.guild_id)


@asynccontextmanager
async def sharded_bot(
    fake: FakeDiscord, index: ArticleIndex, towns: list[Town], *, shard_count: int, shard_ids: tuple[int, ...] | None
) -> AsyncIterator[tuple[ArticleBot, Received]]:
    """An ArticleBot running `shard_ids` of `shard_count`, with its commands synced to `towns`, and what it
    received."""
    settings = BotSettings(token=fake.token, index=index.settings, shard_count=shard_count, shard_ids=shard_ids)
    service = IndexService(index.settings, index, FetchPolicy(allow_private=True, timeout=5))
    with open_server_data(settings) as server_data:
        bot = build_bot(service, settings, server_data, guild_ready_timeout=0.1)
        received = Received()
        bot.add_listener(received.on_interaction)
        async with running_client(fake, bot, timeout=60):
            for town in towns:  # global commands take time to appear on Discord; tests sync per server
                bot.tree.copy_global_to(guild=discord.Object(int(town.guild.id)))
                await bot.tree.sync(guild=discord.Object(int(town.guild.id)))
            yield bot, received


def answered(reply: FakeMessage) -> bool:
    return bool(reply.embeds) and reply.embeds[0]["title"] == SEED_TITLE


@pytest.mark.asyncio
async def test_one_process_running_both_shards_answers_in_every_server(
    fake_discord: FakeDiscord, seed_index: ArticleIndex, caplog
) -> None:
    world = two_towns(fake_discord)
    caplog.set_level(logging.INFO, logger="bot.client")
    async with sharded_bot(fake_discord, seed_index, [world.port, world.hill], shard_count=2, shard_ids=None) as (
        bot,
        _,
    ):
        assert sorted(fake_discord.ready_shards) == [(0, 2), (1, 2)]
        assert {g.name: g.shard_id for g in bot.guilds} == {"Port town": 0, "Hill town": 1}
        assert answered(await world.ask(world.port)) and answered(await world.ask(world.hill))
    assert "running shards 0, 1 of 2" in caplog.messages
    assert {"shard 0 of 2 ready: 1 server", "shard 1 of 2 ready: 1 server"} <= set(caplog.messages)


@pytest.mark.asyncio
async def test_two_bots_split_the_servers_and_each_answers_its_own(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    world = two_towns(fake_discord)
    async with AsyncExitStack() as stack:
        first, to_first = await stack.enter_async_context(
            sharded_bot(fake_discord, seed_index, [world.port], shard_count=2, shard_ids=(0,))
        )
        second, to_second = await stack.enter_async_context(
            sharded_bot(fake_discord, seed_index, [world.hill], shard_count=2, shard_ids=(1,))
        )
        assert [g.name for g in first.guilds] == ["Port town"] and [g.name for g in second.guilds] == ["Hill town"]

        for _ in range(2):
            assert answered(await world.ask(world.port)) and answered(await world.ask(world.hill))
        assert to_first.guilds == [int(world.port.guild.id)] * 2, "shard 0's bot gets only Port town's commands"
        assert to_second.guilds == [int(world.hill.guild.id)] * 2, "shard 1's bot gets only Hill town's commands"


@pytest.mark.asyncio
async def test_each_bot_polls_only_the_feeds_of_its_servers(
    fake_discord: FakeDiscord, seed_index: ArticleIndex
) -> None:
    """With the feeds shared (one store), each feed is read by one process: its server's shard's, or shard
    0's for the shared collection."""
    world = two_towns(fake_discord)
    async with AsyncExitStack() as stack:
        bots = [
            (
                await stack.enter_async_context(
                    sharded_bot(fake_discord, seed_index, [town], shard_count=2, shard_ids=(shard,))
                )
            )[0]
            for shard, town in ((0, world.port), (1, world.hill))
        ]
        listed = bots[0].service.feeds
        dead = "http://127.0.0.1:9/feed.xml"  # nothing listens: a poll fails at once and is only recorded
        for collection in (world.port.guild.id, world.hill.guild.id, ""):
            listed.add(collection, dead, "a feed", first_poll=0.0)
        polled = []
        for bot in bots:
            cog = bot.get_cog("FeedsCog")
            assert isinstance(cog, FeedsCog)
            polled.append(sorted(r.feed.collection for r in await cog.poll_own_due()))
        assert polled == [sorted(["", world.port.guild.id]), [world.hill.guild.id]]


def test_settings_reach_discord_py(seed_index: ArticleIndex) -> None:
    settings = BotSettings(token="x", index=seed_index.settings, shard_count=4, shard_ids=(1, 3))
    with open_server_data(settings) as server_data:
        bot = build_bot(IndexService(settings.index, seed_index), settings, server_data)
        assert (bot.shard_count, bot.shard_ids) == (4, [1, 3])
        assert [bot.serves(g) for g in (1 << 22, 2 << 22, 3 << 22, None)] == [True, False, True, False]
        unset = build_bot(
            IndexService(settings.index, seed_index), replace(settings, shard_count=None, shard_ids=None), server_data
        )
        assert (unset.shard_count, unset.shard_ids) == (None, None), "discord.py asks Discord for the count"
        assert unset.serves(3 << 22) and unset.serves(None)


def seeded_folder(folder: Path, encoder: Encoder) -> Path:
    """An index folder (the SQLite store) holding the repo's seeds, as `articlebot ingest seeds` makes it."""
    settings = Settings(index_dir=folder, seeds_dir=SEEDS)
    index = ArticleIndex(folder, encoder, settings)
    try:
        report = ensure_seeded(index, SEEDS)
        assert report is not None and not report.errors
    finally:
        index.close()
    return folder


@pytest.mark.asyncio
async def test_two_bot_processes_split_the_servers_and_each_answers_its_own(
    fake_discord: FakeDiscord, encoder: Encoder, tmp_path: Path
) -> None:
    world = two_towns(fake_discord)
    async with AsyncExitStack() as stack:
        bots: list[BotProcess] = []
        for shard in (0, 1):
            folder = tmp_path / f"shard-{shard}"
            # No DISCORD_GUILD_ID: each process syncs the commands globally (the same set), usable at once here.
            env = bot_env(
                fake_discord,
                ARTICLEBOT_INDEX=str(seeded_folder(folder / "index", encoder)),
                DISCORD_SHARD_COUNT="2",
                DISCORD_SHARD_IDS=str(shard),
            )
            bots.append(await stack.enter_async_context(bot_process(fake_discord, env, workdir=folder)))
        assert [b.shards for b in bots] == [[(0, 2)], [(1, 2)]]

        for _ in range(2):
            assert answered(await world.ask(world.port)) and answered(await world.ask(world.hill))
        delivered = {(i.channel.guild_id, i.shard) for i in fake_discord.interactions.values()}
        assert delivered == {(world.port.guild.id, (0, 2)), (world.hill.guild.id, (1, 2))}
        assert "bot.client running shard 1 of 2\n" in bots[1].output()

        assert [await b.stop() for b in bots] == [0, 0], "SIGTERM closes each bot cleanly"


@pytest.mark.asyncio
async def test_a_killed_bot_process_answers_again_once_restarted(
    fake_discord: FakeDiscord, encoder: Encoder, tmp_path: Path
) -> None:
    world = two_towns(fake_discord)
    # No shard settings: the process runs the count GET /gateway/bot recommends (1), so every server.
    env = bot_env(fake_discord, ARTICLEBOT_INDEX=str(seeded_folder(tmp_path / "index", encoder)))
    async with bot_process(fake_discord, env, workdir=tmp_path) as first:
        assert first.shards == [(0, 1)]
        assert answered(await world.ask(world.hill))
        assert await first.stop(kill=True) == -9
    await fake_discord.wait_for(lambda: fake_discord.connected_shards == [] or None, 30, "the killed bot to be gone")
    with pytest.raises(RuntimeError, match="no client is connected"):
        await world.ask(world.port)
    async with bot_process(fake_discord, env, workdir=tmp_path):
        assert answered(await world.ask(world.port)) and answered(await world.ask(world.hill))
