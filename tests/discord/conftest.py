"""Fixtures that run the fake Discord server and point discord.py at it."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest_asyncio

# discord.py imports the deprecated audioop module for voice; nothing here uses voice.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

from index import ArticleIndex
from tests.support.discord.fake_discord import FakeDiscord, patch_discord_py
from tests.support.discord.servers import Servers, two_servers


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started FakeDiscord with discord.py pointed at it.

    Fails the test at teardown if Discord's rules were broken; tests that break them on purpose
    call ``fake_discord.take_violations()`` and assert on the result.
    """
    fake = FakeDiscord()
    await fake.start()
    try:
        with patch_discord_py(fake):
            yield fake
    finally:
        await fake.stop()
    assert not fake.violations, "Discord rules were broken:\n" + "\n".join(fake.violations)


@pytest_asyncio.fixture
async def servers(fake_discord: FakeDiscord, seed_index: ArticleIndex) -> AsyncIterator[Servers]:
    """The bot in two servers, Port town and Hill town (tests/support/discord/servers.py)."""
    async with two_servers(fake_discord, seed_index) as connected:
        yield connected
