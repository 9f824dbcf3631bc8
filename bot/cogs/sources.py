"""Browsing what the bot knows: /sources (paginated) and /source (one article, autocompleted)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import Scope

from ..pagination import PageButton, disable_after, page_buttons, register_book
from ..render import (
    NO_MENTIONS,
    page_count,
    render_article,
    render_sources_page,
    shorten,
)

if TYPE_CHECKING:
    from ..client import ArticleBot

AUTOCOMPLETE_CHOICES = 25
#: The name /sources' page buttons turn pages by (bot/pagination.py).
BOOK = "sources"
CHOICE_NAME_LIMIT = 100


class SourcesCog(commands.Cog):
    """Lists the articles and shows one article's details."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot
        self._expiring: set[asyncio.Task[None]] = set()  # the timers that disable page buttons

    async def cog_load(self) -> None:
        register_book(BOOK, self.sources_page)
        self.bot.add_dynamic_items(PageButton)  # the pages turn after a restart too

    async def cog_unload(self) -> None:
        for task in self._expiring:
            task.cancel()

    async def sources_page(self, interaction: discord.Interaction, page: int) -> tuple[discord.Embed, int, int]:
        """Page `page` of the articles the interaction's server sees, as they are now: (embed, page, pages)."""
        articles = await self.bot.service.articles(Scope.of_server(interaction.guild_id))
        pages = page_count(len(articles))
        page = min(max(page, 0), pages - 1)
        return render_sources_page(articles, page), page, pages

    @app_commands.command(name="sources", description="List the articles I can quote, newest first")
    @app_commands.describe(page="The page to start at")
    async def sources(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 10_000] = 1) -> None:
        embed, shown, pages = await self.sources_page(interaction, page - 1)
        if pages == 1:
            await interaction.response.send_message(embed=embed, allowed_mentions=NO_MENTIONS)
            return
        buttons = page_buttons(BOOK, interaction.user.id, shown, pages)
        await interaction.response.send_message(embed=embed, view=buttons, allowed_mentions=NO_MENTIONS)
        timer = asyncio.create_task(disable_after(interaction, BOOK, self.bot.settings.page_timeout))
        self._expiring.add(timer)
        timer.add_done_callback(self._expiring.discard)

    @app_commands.command(name="source", description="Show one article's details")
    @app_commands.describe(article="The article's title (pick one from the list)")
    async def source(self, interaction: discord.Interaction, article: str) -> None:
        scope = Scope.of_server(interaction.guild_id)
        found = await self.bot.service.article(article, scope)
        if found is None:  # typed a title instead of picking a suggestion
            wanted = article.strip().casefold()
            titled = next((a for a in await self.bot.service.articles(scope) if a.title.casefold() == wanted), None)
            found = titled and await self.bot.service.article(titled.id, scope)  # the listing has no text
        if found is None:
            await interaction.response.send_message(
                f"I have no article called “{shorten(article, 200)}”. `/sources` lists them all.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        await interaction.response.send_message(embed=render_article(found), allowed_mentions=NO_MENTIONS)

    @source.autocomplete("article")
    async def article_titles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        wanted = current.strip().casefold()
        articles = await self.bot.service.articles(Scope.of_server(interaction.guild_id))
        matches = [a for a in articles if wanted in a.title.casefold()][:AUTOCOMPLETE_CHOICES]
        return [app_commands.Choice(name=shorten(a.title, CHOICE_NAME_LIMIT) or a.id, value=a.id) for a in matches]
