"""Managing articles from Discord: /add (a link or a file) and /remove, for server managers only; the bot's
owner also curates the shared collection ("", which every server sees) with `/add everywhere:True` and /remove."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import SUPPORTED_TYPES, AddResult, Article, ArticleError, Deadline, Scope, check_file

from ..arrivals import tell
from ..confirm import ConfirmView
from ..permissions import manager_only
from ..render import NO_MENTIONS, byline, escape, plural, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)
#: Every add and remove, with who, where and when (the log record's time).
audit = logging.getLogger("articlebot.audit")

#: The refusal of `/add everywhere:True` to anyone but the bot's owner: every server would see what they add.
OWNER_ONLY = (
    "Only the bot's owner can share an article with every server. Leave `everywhere` off to add it to this server."
)
#: What non-owners are told when they pick a shared article in /remove: other servers rely on it.
SHARED_STAYS = "Shared articles can't be removed from one server."
#: How /remove's suggestions mark the shared articles that the owner may also remove.
SHARED_MARK = " (every server)"


def describe(result: AddResult, outlet: str, published: str, shared: bool = False) -> str:
    """The reply to an add; `shared`: it went to the collection every server sees."""
    title = f"**{escape(shorten(result.title, 200))}**"
    where = byline(outlet, published)
    where = f" ({where})" if where else ""
    if result.status == "duplicate":
        other = "a shared article" if shared else "an article this server has"
        return f"Already there: {title} has the same text as {other}."
    if result.status == "unchanged":
        return f"Already there: {title}{where}, unchanged."
    verb = "Updated" if result.status == "updated" else "Added"
    notes = "".join(f"\nNote: {note}." for note in result.notes)
    reach = " Shared with every server." if shared else ""
    return f"{verb} {title}{where}: {plural(result.chunks, 'passage')}.{reach}{notes}"


class ManageCog(commands.Cog):
    """Adds articles to a server's own collection and removes them."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    @app_commands.command(name="add", description="Add an article to this server from a link or a file")
    @app_commands.describe(
        url="A link to the article",
        file=f"A {SUPPORTED_TYPES} file with the article",
        everywhere="Share it with every server (the bot's owner only)",
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def add(
        self,
        interaction: discord.Interaction,
        url: str | None = None,
        file: discord.Attachment | None = None,
        everywhere: bool = False,
    ) -> None:
        if (url is None) == (file is None):
            await interaction.response.send_message("Give either a `url` or a `file`, not both.", ephemeral=True)
            return
        # Refused before anything is fetched or read: a server manager must not put text in every server.
        if everywhere and not await self.bot.is_owner(interaction.user):
            await interaction.response.send_message(OWNER_ONLY, ephemeral=True)
            return
        scope = Scope.everything() if everywhere else Scope.of_server(interaction.guild_id)
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
            result = await service.add(article, scope, str(interaction.user.id), deadline)
        except ArticleError as exc:
            await interaction.edit_original_response(content=f"Couldn't add that: {shorten(str(exc), 1500)}")
            return
        audit.info(
            "add %s %r (%s) by %s in server %s%s: %s",
            result.article_id,
            result.title,
            article.source,
            interaction.user.id,
            interaction.guild_id,
            " for every server" if everywhere else "",
            result.status,
        )
        tell(self.bot, None if everywhere else interaction.guild_id, [result], "add")  # stored, whatever the reply
        await interaction.edit_original_response(
            content=describe(result, article.outlet, article.published, shared=everywhere), allowed_mentions=NO_MENTIONS
        )

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
        if found is None:
            await interaction.response.send_message(
                "This server has no such article; pick one from the list.", ephemeral=True
            )
            return
        # The server sees its own articles and the shared ones; only the owner, who shared them, takes those back.
        shared = found.collection != scope.owner
        if shared and not await self.bot.is_owner(interaction.user):
            await interaction.response.send_message(SHARED_STAYS, ephemeral=True)
            return
        title = f"**{escape(shorten(found.title, 200))}**"
        view = ConfirmView(interaction.user.id)
        await interaction.response.send_message(
            f"Remove {title} from {'every server' if shared else 'this server'}?", view=view, ephemeral=True
        )
        await view.wait()
        if not view.confirmed:
            await interaction.edit_original_response(content="Nothing removed.", view=None)
            return
        await self.bot.service.remove(found.id)
        audit.info(
            "remove %s %r by %s in server %s%s",
            found.id,
            found.title,
            interaction.user.id,
            interaction.guild_id,
            " from every server" if shared else "",
        )
        await interaction.edit_original_response(
            content=f"Removed {title}{' from every server' if shared else ''}.", view=None
        )

    @remove.autocomplete("article")
    async def own_titles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        """The server's own articles; for the bot's owner, the shared ones too (marked as such)."""
        scope = Scope.of_server(interaction.guild_id)
        wanted = current.strip().casefold()
        owner = await self.bot.is_owner(interaction.user)
        removable = [
            a
            for a in await self.bot.service.articles(scope)
            if (a.collection == scope.owner or owner) and wanted in a.title.casefold()
        ]
        choices = []
        for a in removable[:25]:
            mark = "" if a.collection == scope.owner else SHARED_MARK
            choices.append(
                app_commands.Choice(name=shorten(a.title, 100 - len(mark)) + mark if a.title else a.id, value=a.id)
            )
        return choices
