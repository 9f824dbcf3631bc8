"""ArticleBot: the AutoShardedBot that receives its index and settings, loads and syncs in setup_hook.

It runs the shards of DISCORD_SHARD_COUNT named by DISCORD_SHARD_IDS (all of them by default), so that N
processes can split the servers; with neither set it asks Discord for the recommended count and runs all
of them, which is one connection, as for a plain commands.Bot, until the bot is in thousands of servers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, cast

import discord
from discord import app_commands
from discord.ext import commands

from .arrivals import listen_elsewhere
from .conversations import Conversations
from .cooldown import QuestionCooldown
from .feedback import FeedbackButton
from .index_service import IndexService
from .permissions import missing_permissions
from .render import FAILED_REPLY, NO_MENTIONS, plural
from .server_data import ServerData
from .settings import BotSettings

log = logging.getLogger(__name__)


def intents_for(read_messages: bool) -> discord.Intents:
    """Default intents, and message content (privileged) to read the links of watched channels and the
    questions of ask channels (mentions are read without it)."""
    intents = discord.Intents.default()
    intents.message_content = read_messages
    return intents


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a server's events to."""
    return (guild_id >> 22) % shard_count


def describe_shards(shard_ids: Sequence[int] | None, shard_count: int | None) -> str:
    if shard_count is None:
        return "as many shards as Discord recommends"
    ids = range(shard_count) if shard_ids is None else sorted(shard_ids)
    return f"shard{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))} of {shard_count}"


class ArticleBot(commands.AutoShardedBot):
    """Answers questions about the articles of `service` in Discord.

    Always an AutoShardedBot, so that every test runs the code path of a sharded deployment; unsharded
    settings give one shard of one on a small bot, which is what a commands.Bot would run.
    """

    def __init__(
        self,
        service: IndexService,
        settings: BotSettings,
        *,
        server_data: ServerData,
        conversations: Conversations,
        cogs: Sequence[Callable[[ArticleBot], commands.Cog]],
        read_messages: bool = True,
        **options: Any,
    ) -> None:
        """What the bot uses comes in (`bot/app.py: build_bot` wires it), as in discord.py's
        advanced_startup example: the index service, the settings, each server's data (the caller opens
        and closes it: it outlives a bot that is started again), the conversations, and the cogs to load.

        `read_messages`: ask for the Message Content intent (app.main starts without it when Discord
        refuses it and no ask channel needs it)."""
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents_for(read_messages),
            allowed_mentions=NO_MENTIONS,
            help_command=None,
            shard_count=settings.shard_count,
            shard_ids=cast(Any, list(settings.shard_ids) if settings.shard_ids is not None else None),  # None: all
            **options,
        )
        self.service = service
        self.settings = settings
        self.server_data = server_data
        self.conversations = conversations
        #: Each user's question cooldown, shared by every command that searches for them.
        self.cooldown = QuestionCooldown(settings.cooldown)
        self._cogs = tuple(cogs)
        self._permissions_checked: set[int] = set()

    def serves(self, guild_id: int | None) -> bool:
        """Whether this process runs the shard of a server (other processes run the other shards); work of
        no server (the shared articles) belongs to shard 0, as direct messages do on Discord."""
        if self.shard_count is None or self.shard_ids is None:
            return True
        return (0 if guild_id is None else shard_of(guild_id, self.shard_count)) in self.shard_ids

    async def setup_hook(self) -> None:
        log.info("running %s", describe_shards(self.shard_ids, self.shard_count))
        await self.service.load()
        for cog in self._cogs:
            await self.add_cog(cog(self))
        listen_elsewhere(self, self.service.index, asyncio.get_running_loop())
        self.add_dynamic_items(FeedbackButton)  # answers' buttons work after a restart
        self.tree.error(self.on_app_command_error)
        synced = await self.sync_commands()
        log.info(
            "synced %d commands%s",
            len(synced),
            f" to server {self.settings.guild_id}" if self.settings.guild_id else " globally",
        )

    async def on_guild_available(self, guild: discord.Guild) -> None:
        self._check_permissions(guild)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        self._check_permissions(guild)

    def _check_permissions(self, guild: discord.Guild) -> None:
        """Log, once per server and process, the permissions the bot uses but the server does not give it: what
        it then cannot do would otherwise fail quietly (no thread, no reaction)."""
        if guild.id in self._permissions_checked:
            return
        self._permissions_checked.add(guild.id)
        if missing := missing_permissions(guild.me.guild_permissions):
            log.warning(
                "server %s (%s) does not give the bot %s; see the invite in docs/discord.md",
                guild.id,
                guild.name,
                ", ".join(missing),
            )

    async def on_shard_ready(self, shard_id: int) -> None:
        servers = sum(1 for guild in self.guilds if guild.shard_id == shard_id)
        log.info("shard %d of %s ready: %s", shard_id, self.shard_count, plural(servers, "server"))

    async def close(self) -> None:
        await super().close()
        await self.service.close()

    async def sync_commands(self) -> list[app_commands.AppCommand]:
        """Sync to the development server when one is set (instant), else globally."""
        if self.settings.guild_id:
            guild = discord.Object(id=self.settings.guild_id)
            self.tree.copy_global_to(guild=guild)
            return await self.tree.sync(guild=guild)
        return await self.tree.sync()

    async def tell_privately(self, user_id: int, text: str) -> bool:
        """Tell a member something in a direct message (what the bot stopped doing for them, and why); False
        if Discord refused it (their privacy settings, say): logged, nothing else to do."""
        try:
            user = self.get_user(user_id) or await self.fetch_user(user_id)
            await user.send(text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not tell %s privately", user_id, exc_info=True)
            return False
        return True

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: questions in messages are the AskCog's."""

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """Tell the user briefly and privately; put the traceback in the log; stay up."""
        if isinstance(error, app_commands.CheckFailure):
            text = str(error) or "You can't use this command here."
        else:
            name = interaction.command.qualified_name if interaction.command else "?"
            log.error("command /%s failed", name, exc_info=error)
            text = FAILED_REPLY
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(text, ephemeral=True)
                return
            if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
                # The public "thinking…" message would otherwise show the error to everyone.
                await interaction.delete_original_response()
            await interaction.followup.send(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not report the error of an interaction", exc_info=True)
