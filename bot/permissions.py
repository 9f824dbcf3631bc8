"""Who may manage a server's articles, watched channels and feeds: one rule for every such command."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

if TYPE_CHECKING:
    from .client import ArticleBot


def may_manage(member: discord.Member, manager_role: str) -> bool:
    """Manage Server holders may manage articles, and members of the configured role."""
    if member.guild_permissions.manage_guild:
        return True
    return bool(manager_role) and any(manager_role in (role.name, str(role.id)) for role in member.roles)


def manager_only() -> app_commands.Check:
    """A run-time check: server admins can change who sees a command, so its default is not enough."""
    async def predicate(interaction: discord.Interaction) -> bool:
        bot: ArticleBot = interaction.client  # type: ignore[assignment]
        role = bot.settings.manager_role
        if isinstance(interaction.user, discord.Member) and may_manage(interaction.user, role):
            return True
        extra = f" or the {role} role" if role else ""
        raise app_commands.CheckFailure(f"This needs the Manage Server permission{extra}.")
    return app_commands.check(predicate)
