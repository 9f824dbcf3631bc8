"""Permissions: what the bot needs in a server, and who may manage a server's articles, watched channels
and feeds (one rule for every such command)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import discord
from discord import app_commands

if TYPE_CHECKING:
    from .client import ArticleBot

T = TypeVar("T")


#: The permissions the bot uses, as Discord's settings name them; its invite asks for these (docs/discord.md).
USED_PERMISSIONS: dict[str, str] = {
    "view_channel": "View Channels",  # to see the channels it answers in
    "send_messages": "Send Messages",  # answers and replies
    "send_messages_in_threads": "Send Messages in Threads",  # answers in its threads, and follow-ups there
    "create_public_threads": "Create Public Threads",  # answer threads (`/answer-threads`); else replies
    "embed_links": "Embed Links",  # the quotes are embeds
    "add_reactions": "Add Reactions",  # the outcome of a link posted in a watched channel
    "read_message_history": "Read Message History",  # replying to a message needs it
}
BOT_PERMISSIONS = discord.Permissions(**dict.fromkeys(USED_PERMISSIONS, True))


def missing_permissions(have: discord.Permissions) -> list[str]:
    """The names of the permissions the bot uses that `have` lacks."""
    if have.administrator:
        return []
    return [name for attribute, name in USED_PERMISSIONS.items() if not getattr(have, attribute)]


def may_manage(member: discord.Member, manager_role: str) -> bool:
    """Manage Server holders may manage articles, and members of the configured role."""
    if member.guild_permissions.manage_guild:
        return True
    return bool(manager_role) and any(manager_role in (role.name, str(role.id)) for role in member.roles)


def manager_only() -> Callable[[T], T]:
    """A run-time check: server admins can change who sees a command, so its default is not enough."""

    async def predicate(interaction: discord.Interaction) -> bool:
        bot: ArticleBot = interaction.client  # type: ignore[assignment]
        role = bot.settings.manager_role
        if isinstance(interaction.user, discord.Member) and may_manage(interaction.user, role):
            return True
        extra = f" or the {role} role" if role else ""
        raise app_commands.CheckFailure(f"This needs the Manage Server permission{extra}.")

    return app_commands.check(predicate)
