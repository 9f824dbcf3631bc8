"""Announcements: /announce set|stop, and a post in the server's announce channel for each new article
its feeds and watched channels bring.

Each new article is one post: its title linked, outlet and date, its lede quoted word for word. A
near-copy of a story already announced (index/ingest/stories.py) edits that post ("also in …") instead
of posting again; an article already known (an update) posts nothing. One feed poll announces at most
ANNOUNCED_AT_ONCE articles, its newest, after one line saying how many older ones came (a new feed's
backlog does not flood the channel). The channel reads in time order, as a feed reader's does: a poll's
articles are posted oldest first, and a message's watched links in the order they were posted. Posts go
out one at a time from one queue, so they keep their order, and discord.py waits as Discord's
rate-limit headers say. A channel the bot cannot post in, or may not embed links in,
stops the announcements and is reported once, privately, to the manager who chose it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, NoReturn

import discord
from discord import app_commands
from discord.ext import commands

from index import Scope, StoredArticle

from ..announcements import AnnounceChannel, Announcements
from ..arrivals import Arrival, ArrivalQueue
from ..permissions import manager_only
from ..render import NO_MENTIONS, channel_in, escape, plural, render_announcement, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)
audit = logging.getLogger("articlebot.audit")
#: Articles announced from one add or feed poll at most; the rest are counted in one line.
ANNOUNCED_AT_ONCE = 5
#: Why announcing stopped in a channel, as the manager who chose it is told.
GONE, MAY_NOT_POST, MAY_NOT_EMBED = "the channel is gone", "I may not post there", "I may not embed links there"
#: Discord's answer to a message with nothing in it: what an announcement is once Discord has dropped its embed
#: because the bot lacks Embed Links.
EMPTY_MESSAGE = 50006


class _Broken(Exception):
    """The bot cannot post in the announce channel (reported): announcing stops there."""


def oldest_first(articles: Sequence[StoredArticle]) -> list[StoredArticle]:
    """`articles` of one arrival (as a feed lists them, newest first) in the order they were published, as a
    channel reads: by the day each was published; an undated one counts as published when it came, and
    those of one day keep the feed's order, reversed."""

    def day(article: StoredArticle) -> date:
        try:
            return date.fromisoformat(article.published[:10])
        except ValueError:
            return date.max

    return sorted(reversed(articles), key=day)  # a stable sort: a day's articles keep the reversed order


def refusal(permissions: discord.Permissions) -> str:
    """Why the bot cannot announce in a channel where it holds `permissions`; "" if it can. An announcement
    is an embed: without Embed Links, Discord drops it and the post is empty."""
    if not (permissions.view_channel and permissions.send_messages):
        return MAY_NOT_POST
    return MAY_NOT_EMBED if not permissions.embed_links else ""


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AnnounceCog(commands.GroupCog, group_name="announce", group_description="Announce new articles in a channel"):
    """Posts the new articles of each server's feeds and watched channels in its announce channel."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot
        self.arrivals = ArrivalQueue("announcing", self.announce)

    @property
    def announcements(self) -> Announcements:
        return self.bot.server_data.announcements

    async def cog_load(self) -> None:
        self.arrivals.start()

    async def cog_unload(self) -> None:
        self.arrivals.stop()

    # -- commands ------------------------------------------------------------------------------

    @app_commands.command(name="set", description="Announce the new articles of feeds and watched channels here")
    @app_commands.describe(channel="Where each new article is posted (title, outlet, date, its lede)")
    @manager_only()
    async def set(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        assert interaction.guild is not None
        if refusal(channel.permissions_for(interaction.guild.me)):
            await interaction.response.send_message(
                f"I can't post in {channel.mention}: give me View Channel, Send Messages and Embed Links there first.",
                ephemeral=True,
            )
            return
        await asyncio.to_thread(self.announcements.set_channel, interaction.guild.id, channel.id, interaction.user.id)
        audit.info("announce in %s by %s in server %s", channel.id, interaction.user.id, interaction.guild.id)
        await interaction.response.send_message(
            f"New articles from this server's feeds and watched channels will be announced in {channel.mention}, "
            f"one post per story, at most {ANNOUNCED_AT_ONCE} at once. `/announce stop` stops it.",
            ephemeral=True,
        )

    @app_commands.command(name="stop", description="Stop announcing new articles")
    @manager_only()
    async def stop(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        stopped = await asyncio.to_thread(self.announcements.stop, interaction.guild_id)
        audit.info("announce stop by %s in server %s", interaction.user.id, interaction.guild_id)
        await interaction.response.send_message(
            "New articles are no longer announced." if stopped else "New articles were not announced.",
            ephemeral=True,
        )

    # -- announcing ----------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_articles_arrived(self, arrival: Arrival) -> None:
        if arrival.guild_id is None or arrival.via not in ("feed", "link") or not arrival.new:
            return  # shared articles, and those a manager added by hand, are not announced
        self.arrivals.put(arrival)

    async def announce(self, arrival: Arrival) -> None:
        assert arrival.guild_id is not None
        where = await asyncio.to_thread(self.announcements.channel, arrival.guild_id)
        if where is None or where.broken:
            return
        try:
            await self._check(where)
            scope = Scope.of_server(where.guild_id)
            found = [await self.bot.service.article(result.article_id, scope) for result in arrival.new]
            # Of a backlog, the newest are announced, whatever order the feed lists them in.
            ordered = oldest_first([a for a in found if a is not None])  # None: removed meanwhile
            chosen, left = ordered[-ANNOUNCED_AT_ONCE:], len(ordered) - ANNOUNCED_AT_ONCE
            if left > 0:  # first: the channel reads in time order, and these came before the ones announced
                source = f" from **{escape(shorten(arrival.source, 200))}**" if arrival.source else ""
                text = f"Not announced here: {plural(left, 'older article')}{source}; `/sources` lists every article."
                await self._send(where, content=text, suppress_embeds=True)
            for article in chosen:
                await self._announce(where, article)
        except _Broken:
            pass  # reported; nothing more is posted there until the channel is set again

    async def _announce(self, where: AnnounceChannel, article: StoredArticle) -> None:
        """Post (or edit, for a near-copy) the announcement of one article."""
        scope = Scope.of_server(where.guild_id)
        story = article.story or article.id
        claim = await asyncio.to_thread(self.announcements.claim, where.guild_id, story, article.id, where.channel_id)
        if claim.action == "post":
            message: discord.Message | None = None
            try:
                message = await self._send(where, embed=render_announcement(article))
            finally:
                if message is None:  # not sent (the channel broke, or Discord failed): it may be announced later
                    await asyncio.to_thread(self.announcements.release, where.guild_id, story)
            if message is not None:
                await asyncio.to_thread(self.announcements.posted, where.guild_id, story, message.id)
        elif claim.action == "edit":
            first, *copies = [await self.bot.service.article(a, scope) for a in claim.article_ids]
            if first is None:
                return
            embed = render_announcement(first, [c.outlet or c.title for c in copies if c is not None])
            channel = self.bot.get_partial_messageable(claim.channel_id, guild_id=where.guild_id)
            try:
                await channel.get_partial_message(claim.message_id).edit(embed=embed)
            except discord.HTTPException as exc:  # deleted by someone, say: the story was announced all the same
                log.info("could not edit the announcement %s in %s: %s", claim.message_id, claim.channel_id, exc)

    async def _check(self, where: AnnounceChannel) -> None:
        """_Broken if the bot's cache of the server shows that it cannot announce in the channel, so that no
        post is tried and dropped. Without the server or channel cached, Discord's answer to a post tells."""
        guild = self.bot.get_guild(where.guild_id)
        channel = guild.get_channel(where.channel_id) if guild else None
        if guild is not None and channel is not None:
            reason = refusal(channel.permissions_for(guild.me))
            if reason:
                await self._broke(where, reason)

    async def _send(self, where: AnnounceChannel, **message: Any) -> discord.Message | None:
        """Post in the announce channel; None if Discord failed this once. _Broken if the bot cannot post
        there (reported once to who chose the channel)."""
        channel = self.bot.get_partial_messageable(where.channel_id, guild_id=where.guild_id)
        try:
            return await channel.send(allowed_mentions=NO_MENTIONS, **message)
        except discord.NotFound:
            await self._broke(where, GONE)
        except discord.Forbidden:
            await self._broke(where, MAY_NOT_POST)
        except discord.HTTPException as exc:
            if exc.code == EMPTY_MESSAGE:
                await self._broke(where, MAY_NOT_EMBED)
            log.warning("could not announce in channel %s", where.channel_id, exc_info=True)
            return None

    async def _broke(self, where: AnnounceChannel, reason: str) -> NoReturn:
        """Stop announcing in the channel, tell who chose it (once, however many posts find it broken), and
        raise _Broken."""
        if await asyncio.to_thread(self.announcements.broke, where.guild_id, where.channel_id, reason):
            await self._report(where, reason)
        raise _Broken

    async def _report(self, where: AnnounceChannel, reason: str) -> None:
        """Tell the manager who chose the announce channel, privately, that announcing stopped and why."""
        text = (
            f"I could not announce new articles in {channel_in(where.channel_id, self.bot.get_guild(where.guild_id))}"
            f": {reason}. Announcements are paused until a manager runs `/announce set` again."
        )
        log.warning("announcements in channel %s of server %s stopped: %s", where.channel_id, where.guild_id, reason)
        await self.bot.tell_privately(where.set_by, text)
