"""Browsing what the bot knows: /sources (paginated) and /source (one article, autocompleted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import Scope

from ..pagination import PageView
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
CHOICE_NAME_LIMIT = 100


class SourcesCog(commands.Cog):
    """Lists the articles and shows one article's details."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="sources", description="List the articles I can quote, newest first")
    @app_commands.describe(page="The page to start at")
    async def sources(self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 10_000] = 1) -> None:
        articles = await self.bot.service.articles(Scope.of_server(interaction.guild_id))
        pages = page_count(len(articles))
        view = PageView(
            interaction.user.id,
            lambda p: render_sources_page(articles, p),
            pages,
            page - 1,
            timeout=self.bot.settings.page_timeout,
        )
        if pages == 1:
            await interaction.response.send_message(embed=view.render(view.page), allowed_mentions=NO_MENTIONS)
            return
        await interaction.response.send_message(embed=view.render(view.page), view=view, allowed_mentions=NO_MENTIONS)
        view.message = await interaction.original_response()

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
