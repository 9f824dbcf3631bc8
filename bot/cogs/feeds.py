"""Feeds per server: /feeds add|list|remove, and a background task that polls them into the server's articles.

A feed is checked and read at once when it is added (the reply says how many articles it brought);
afterwards every feed is polled on a schedule (`ARTICLEBOT_FEED_MINUTES`, jittered) with conditional
requests (index/ingest/feeds.py). A feed that keeps failing is polled less often and reported once, in the
channel where it was added.
"""

from __future__ import annotations

import asyncio
import builtins  # `list` in this class is the /feeds list command
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands, tasks

from index import Feed, FeedError, FeedPoller, PollResult, Scope

from ..arrivals import tell
from ..permissions import manager_only
from ..render import NO_MENTIONS, escape, plural, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)
audit = logging.getLogger("articlebot.audit")
#: Seconds between looks for feeds whose time has come.
TICK = 60.0


def _when(stamp: str) -> str:
    return discord.utils.format_dt(datetime.fromisoformat(stamp), "R") if stamp else "never"


def describe(feed: Feed) -> str:
    line = (
        f"**{escape(shorten(feed.title or feed.url, 100))}** <{feed.url}>: checked {_when(feed.last_checked)}, "
        f"new items {_when(feed.last_new)}"
    )
    if feed.last_error:
        line += f"; failing ({plural(feed.failures, 'time')} in a row): {escape(shorten(feed.last_error, 200))}"
    return line


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class FeedsCog(commands.GroupCog, group_name="feeds", group_description="RSS and Atom feeds read into this server"):
    """Follows feeds for each server and polls them."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    def poller(self) -> FeedPoller:
        service = self.bot.service
        return FeedPoller(
            service.index, service.feeds, service.fetcher, self.bot.settings.feed_minutes * 60, service.indexing
        )

    async def cog_load(self) -> None:
        self.poll_due.start()

    async def cog_unload(self) -> None:
        self.poll_due.cancel()

    # -- commands ------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Read a feed's articles into this server, now and as they come")
    @app_commands.describe(url="The address of an RSS or Atom feed")
    @manager_only()
    async def add(self, interaction: discord.Interaction, url: str) -> None:
        assert interaction.guild_id is not None
        url = url.strip()
        await interaction.response.defer(thinking=True)
        poller = self.poller()
        try:
            parsed = await poller.check(url)
        except FeedError as exc:
            await interaction.edit_original_response(content=f"Couldn't follow that feed: {shorten(str(exc), 1500)}")
            return
        # Read below, now; the schedule takes over after one interval (so that the two do not read it at once).
        feed = await asyncio.to_thread(
            poller.feeds.add,
            str(interaction.guild_id),
            url,
            parsed.title,
            str(interaction.user.id),
            str(interaction.channel_id or ""),
            first_poll=time.time() + poller.interval,
        )
        if feed is None:
            await interaction.edit_original_response(content="This server already follows that feed.")
            return
        audit.info("feed add %s by %s in server %s", url, interaction.user.id, interaction.guild_id)
        title = escape(shorten(parsed.title or url, 200))
        await interaction.edit_original_response(
            content=f"Following **{title}**; reading its {plural(len(parsed.items), 'item')} …"
        )
        result = await poller.poll(feed)
        self._arrived(result)
        added = sum(r.status in ("added", "updated") for r in result.added)
        await interaction.edit_original_response(
            content=f"Following **{title}**: {plural(added, 'article')} added. New items are read every "
            f"{self.bot.settings.feed_minutes} minutes.",
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="list", description="The feeds this server follows, when they were last read")
    @manager_only()
    async def list(self, interaction: discord.Interaction) -> None:
        feeds = await asyncio.to_thread(self.bot.service.feeds.feeds, str(interaction.guild_id))
        text = "\n".join(f"• {describe(f)}" for f in feeds) if feeds else "No feeds yet. Add one with `/feeds add`."
        await interaction.response.send_message(
            shorten(text, 2000), ephemeral=True, allowed_mentions=NO_MENTIONS, suppress_embeds=True
        )

    @app_commands.command(name="remove", description="Stop reading a feed (its articles stay)")
    @app_commands.describe(url="The feed (pick one from the list)")
    @manager_only()
    async def remove(self, interaction: discord.Interaction, url: str) -> None:
        removed = await asyncio.to_thread(self.bot.service.feeds.remove, str(interaction.guild_id), url)
        if removed:
            audit.info("feed remove %s by %s in server %s", url, interaction.user.id, interaction.guild_id)
        await interaction.response.send_message(
            "No longer following that feed; its articles stay." if removed else "This server follows no such feed.",
            ephemeral=True,
        )

    @remove.autocomplete("url")
    async def own_feeds(
        self, interaction: discord.Interaction, current: str
    ) -> builtins.list[app_commands.Choice[str]]:
        wanted = current.strip().casefold()
        feeds = await asyncio.to_thread(self.bot.service.feeds.feeds, str(interaction.guild_id))
        return [
            app_commands.Choice(name=shorten(f.title or f.url, 100), value=str(f.id))  # a URL may exceed 100
            for f in feeds
            if wanted in (f.title + f.url).casefold()
        ][:25]

    # -- polling ---------------------------------------------------------------------------------

    @tasks.loop(seconds=TICK)
    async def poll_due(self) -> None:
        try:
            await self.report(await self.poll_own_due())
        except Exception:  # a bad poll must not end the loop
            log.exception("polling feeds failed")

    async def poll_own_due(self) -> builtins.list[PollResult]:
        """Poll the due feeds of the servers of this process's shards: the processes running the other
        shards poll theirs, so each feed is read once (and its failures reported once). The shared
        collection's feeds (from the command line) are shard 0's."""
        poller = self.poller()
        due = await asyncio.to_thread(poller.feeds.due, time.time())
        own = [f for f in due if self.bot.serves(Scope.server_of(f.collection))]
        return await poller.poll_all(own)

    @poll_due.before_loop
    async def _ready(self) -> None:
        await self.bot.wait_until_ready()

    def _arrived(self, result: PollResult) -> None:
        """Tell the listeners (announcements, followed questions) what a poll added."""
        tell(
            self.bot,
            Scope.server_of(result.feed.collection),
            result.added,
            "feed",
            result.feed.title or result.feed.url,
        )

    async def report(self, results: builtins.list[PollResult]) -> None:
        """Log what the polls added and tell the listeners; tell a server once when one of its feeds keeps
        failing."""
        for result in results:
            feed = result.feed
            self._arrived(result)
            if result.added:
                log.info("feed %s: %d new items", feed.url, result.new_items)
            if result.warn and feed.notify.isdigit():
                channel = self.bot.get_channel(int(feed.notify))
                if isinstance(channel, discord.abc.Messageable):
                    text = (
                        f"The feed **{escape(shorten(feed.title or feed.url, 200))}** has failed "
                        f"{plural(feed.failures, 'time')} in a row ({escape(shorten(result.error, 300))}). "
                        "It will be tried less often; `/feeds remove` stops it."
                    )
                    try:
                        await channel.send(text, allowed_mentions=NO_MENTIONS, suppress_embeds=True)
                    except discord.HTTPException:
                        log.warning("could not report failing feed %s", feed.url, exc_info=True)
