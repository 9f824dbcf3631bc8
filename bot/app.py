"""Start the bot: settings, logging, and one clear line for each way starting can fail."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import discord

from index import SettingsError

from .client import ArticleBot
from .cogs import COGS
from .conversations import Conversations
from .index_service import IndexService
from .server_data import ServerData
from .settings import BotSettings

NO_TOKEN = (
    "DISCORD_TOKEN is not set: create a bot at https://discord.com/developers/applications, "
    "then put its token in .env (see .env.example)"
)


def open_server_data(settings: BotSettings) -> ServerData:
    """Each server's choices and question log, beside the index (or in its PostgreSQL database)."""
    return ServerData(settings.index.index_dir, settings.index.database_url)


def build_bot(
    service: IndexService, settings: BotSettings, server_data: ServerData, read_messages: bool = True, **options: Any
) -> ArticleBot:
    """The bot with every cog, over `service` and `server_data` (which the caller closes)."""
    return ArticleBot(
        service,
        settings,
        server_data=server_data,
        conversations=Conversations(),
        cogs=COGS,
        read_messages=read_messages,
        **options,
    )


def serve(bot: ArticleBot, token: str) -> None:
    """`bot.run`, where SIGTERM (how systemd, Docker and process managers stop a process, such as one of the
    processes running a bot's shards) closes the bot as Ctrl-C does: its shards leave the gateway, ArticleBot.close
    runs, and main returns 0."""

    async def runner() -> None:
        closing: set[asyncio.Task[None]] = set()  # a reference, so that the task is not collected mid-way
        with contextlib.suppress(NotImplementedError):  # Windows' event loops take no signal handlers
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGTERM, lambda: closing.add(asyncio.create_task(bot.close()))
            )
        async with bot:
            await bot.start(token)

    try:
        asyncio.run(runner())
    except KeyboardInterrupt:  # Ctrl-C: asyncio.run has cancelled start, and `async with` closed the bot
        pass


def main(index_dir: Path | None = None) -> int:
    """Run the bot until it is stopped; returns the exit status (2 for a configuration problem)."""
    try:
        settings = BotSettings.from_env(index_dir=index_dir)
    except SettingsError as exc:
        print(f"articlebot: {exc}", file=sys.stderr)
        return 2
    if not settings.token:
        print(f"articlebot: {NO_TOKEN}", file=sys.stderr)
        return 2
    discord.utils.setup_logging(level=logging.getLevelName(settings.index.log_level or "INFO"))
    service = IndexService(settings.index)  # kept across the retry: the index is opened once
    with open_server_data(settings) as server_data:
        return _run(service, settings, server_data)


def _run(service: IndexService, settings: BotSettings, server_data: ServerData) -> int:
    """Start the bot, and again without the Message Content intent if Discord refuses it."""
    for read_messages in (True, False):
        bot = build_bot(service, settings, server_data, read_messages=read_messages)
        try:
            serve(bot, settings.token)
            return 0
        except discord.LoginFailure:
            print("articlebot: Discord refused DISCORD_TOKEN; copy the token again from the Bot page", file=sys.stderr)
            return 2
        except discord.PrivilegedIntentsRequired:
            if settings.ask_channels:
                print(
                    "articlebot: ASK_CHANNELS needs the Message Content intent: enable it on the Bot page of the "
                    "Developer Portal, or leave ASK_CHANNELS empty",
                    file=sys.stderr,
                )
                return 2
            # Mentions and commands work without it; watched channels wait until it is enabled.
            logging.getLogger("articlebot").warning(
                "Discord refused the Message Content intent: starting without it; watched channels cannot read "
                "links until it is enabled on the Bot page of the Developer Portal"
            )
    return 2
