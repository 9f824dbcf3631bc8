"""Managing articles from Discord: /add (a link or a file) and /remove, for server managers only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import AddResult, Article, ArticleError, Deadline, Scope, check_file

from ..confirm import ConfirmView
from ..permissions import manager_only
from ..render import NO_MENTIONS, byline, escape, plural, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)
#: Every add and remove, with who, where and when (the log record's time).
audit = logging.getLogger("articlebot.audit")



def describe(result: AddResult, outlet: str, published: str) -> str:
    title = f"**{escape(shorten(result.title, 200))}**"
    where = byline(outlet, published)
    where = f" ({where})" if where else ""
    if result.status == "duplicate":
        return f"Already there: {title} has the same text as an article this server has."
    if result.status == "unchanged":
        return f"Already there: {title}{where}, unchanged."
    verb = "Updated" if result.status == "updated" else "Added"
    notes = "".join(f"\nNote: {note}." for note in result.notes)
    return f"{verb} {title}{where}: {plural(result.passages, 'passage')}.{notes}"


class ManageCog(commands.Cog):
    """Adds articles to a server's own collection and removes them."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="add", description="Add an article to this server from a link or a file")
    @app_commands.describe(url="A link to the article", file="A .txt, .md, .html or .pdf file with the article")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def add(self, interaction: discord.Interaction, url: str | None = None,
                  file: discord.Attachment | None = None) -> None:
        if (url is None) == (file is None):
            await interaction.response.send_message("Give either a `url` or a `file`, not both.", ephemeral=True)
            return
        await interaction.response.defer(thinking=True)
        service = self.bot.service
        deadline = Deadline(self.bot.settings.add_timeout, "adding the article")
        try:
            if url is not None:
                await interaction.edit_original_response(content=f"Fetching {shorten(url.strip(), 300)} …")
                article = await service.fetch_article(url.strip(), deadline)
            else:
                assert file is not None
                article = await self._read(interaction, file, deadline)
            await interaction.edit_original_response(content=f"Indexing **{escape(shorten(article.title, 200))}** …")
            result = await service.add(article, Scope.of_server(interaction.guild_id), str(interaction.user.id),
                                       deadline)
        except ArticleError as exc:
            await interaction.edit_original_response(content=f"Couldn't add that: {shorten(str(exc), 1500)}")
            return
        audit.info("add %s %r (%s) by %s in server %s: %s", result.article_id, result.title, article.source,
                   interaction.user.id, interaction.guild_id, result.status)
        await interaction.edit_original_response(content=describe(result, article.outlet, article.published),
                                                 allowed_mentions=NO_MENTIONS)

    async def _read(self, interaction: discord.Interaction, file: discord.Attachment, deadline: Deadline) -> Article:
        name = file.filename
        check_file(name, file.size)  # refused before downloading it
        await interaction.edit_original_response(content=f"Reading {escape(name)} …")
        try:
            data = await file.read()
        except discord.HTTPException:
            raise ArticleError(f"{name}: could not download the file from Discord") from None
        source = f"upload:{interaction.guild_id}/{name}"
        return await self.bot.service.read_article(data, name, source, deadline)

    @app_commands.command(name="remove", description="Remove an article this server added")
    @app_commands.describe(article="The article's title (pick one from the list)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        scope = Scope.of_server(interaction.guild_id)
        found = await self.bot.service.article(article, scope)
        if found is None or found.collection != scope.owner:
            shared = found is not None
            await interaction.response.send_message(
                "Shared articles can't be removed from one server." if shared
                else "This server has no such article; pick one from the list.", ephemeral=True)
            return
        view = ConfirmView(interaction.user.id)
        await interaction.response.send_message(
            f"Remove **{escape(shorten(found.title, 200))}** from this server?", view=view, ephemeral=True)
        await view.wait()
        if not view.confirmed:
            await interaction.edit_original_response(content="Nothing removed.", view=None)
            return
        await self.bot.service.remove(found.id)
        audit.info("remove %s %r by %s in server %s", found.id, found.title, interaction.user.id, interaction.guild_id)
        await interaction.edit_original_response(content=f"Removed **{escape(shorten(found.title, 200))}**.", view=None)

    @remove.autocomplete("article")
    async def own_titles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        scope = Scope.of_server(interaction.guild_id)
        wanted = current.strip().casefold()
        own = [a for a in await self.bot.service.articles(scope) if a.collection == scope.owner]
        return [app_commands.Choice(name=shorten(a.title, 100) or a.id, value=a.id)
                for a in own if wanted in a.title.casefold()][:25]
