"""/stats for server managers: what this server asked, what went unanswered or unhelpful, what is quoted
most; and /forget-questions to delete the server's question log. Nothing of another server ever shows."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from ..confirm import ConfirmView
from ..permissions import manager_only
from ..render import NO_MENTIONS, escape, plural, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot
    from ..server_data import ServerStats

audit = logging.getLogger("articlebot.audit")


def render_stats(stats: ServerStats) -> discord.Embed:
    votes = stats.helpful + stats.not_helpful
    ratio = f"{stats.helpful / votes:.0%} helpful of {plural(votes, 'vote')}" if votes else "no votes yet"
    embed = discord.Embed(
        title="Questions in this server",
        colour=0x5865F2,
        description=(
            f"{plural(stats.asked, 'question')} asked, {stats.answered:,} answered, "
            f"{stats.asked - stats.answered:,} not found; feedback: {ratio}.\n"
            f"{plural(stats.following, 'followed question')} open, {plural(stats.noticed, 'notice')} sent to "
            f"followers; {plural(stats.announced, 'story', 'stories')} announced."
        ),
    )

    def listing(lines: list[str]) -> str:
        return shorten("\n".join(lines), 1024) if lines else "none"

    embed.add_field(
        name="Most quoted articles",
        inline=False,
        value=listing([f"{escape(shorten(title, 120))} ({count:,})" for title, count in stats.most_cited]),
    )
    embed.add_field(
        name="Recently not found (what to add next)",
        inline=False,
        value=listing([f"• {escape(shorten(q, 150))}" for q in stats.unanswered]),
    )
    embed.add_field(
        name="Recently voted not helpful",
        inline=False,
        value=listing([f"• {escape(shorten(q, 150))}" for q in stats.voted_down]),
    )
    return embed


class StatsCog(commands.Cog):
    """The question log of each server, for its managers."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="stats", description="What this server asked, what went unanswered, what is quoted most")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def stats(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        found = await asyncio.to_thread(self.bot.server_data.stats, interaction.guild_id)
        await interaction.response.send_message(embed=render_stats(found), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="forget-questions", description="Delete this server's question log and its feedback")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def forget(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        view = ConfirmView(interaction.user.id, label="Delete")
        await interaction.response.send_message(
            "Delete every question asked in this server, with its feedback? This cannot be undone.",
            view=view,
            ephemeral=True,
        )
        await view.wait()
        if not view.confirmed:
            await interaction.edit_original_response(content="Nothing deleted.", view=None)
            return
        deleted = await asyncio.to_thread(self.bot.server_data.forget, interaction.guild_id)
        audit.info("forget questions by %s in server %s: %d", interaction.user.id, interaction.guild_id, deleted)
        await interaction.edit_original_response(
            content=f"Deleted {plural(deleted, 'question')} and their feedback.", view=None
        )
