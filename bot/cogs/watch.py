"""Watched channels: every http(s) link a member posts in one is fetched and added to the server's articles.

Managers choose the channels (`/watch add`, `/watch remove`, `/watch list`; kept per server in
bot/server_data.py). Links are queued and fetched a few at a time, so a member pasting thirty links
delays no answer; the listeners (announcements among them) still learn of a message's articles in the
order its links were posted. Each server may add `links_per_hour` links an hour. The author sees the
outcome as a reaction on their message (added, already there, could not add, over the hourly limit); a
failure's reason comes as a short reply that deletes itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import defaultdict, deque
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index import AddResult, ArticleError, Deadline, Scope

from ..arrivals import tell
from ..permissions import manager_only
from ..render import NO_MENTIONS, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)
audit = logging.getLogger("articlebot.audit")

ADDED, KNOWN, FAILED, LIMITED = (
    "\N{WHITE HEAVY CHECK MARK}",
    "\N{CLOCKWISE RIGHTWARDS AND LEFTWARDS OPEN CIRCLE ARROWS}",
    "\N{CROSS MARK}",
    "\N{HOURGLASS}",
)
#: Links fetched at once, over all servers (each host also gets at most a few connections).
FETCHES_AT_ONCE = 3
#: Links waiting at most (over all servers); past it a message's links are turned away with ⌛.
QUEUED_AT_MOST = 500
#: Links taken from one message at most.
LINKS_PER_MESSAGE = 30
#: Discord shows <https://…> without a preview; the brackets and trailing punctuation are not the link's.
_LINK = re.compile(r"https?://[^\s<>|\"]+")
_TRAILING = ".,;:!?)]}'*_~"


def links_in(text: str) -> list[str]:
    """The distinct http(s) links of a message, in order."""
    found = (match.rstrip(_TRAILING) for match in _LINK.findall(text))
    return list(dict.fromkeys(link for link in found if len(link) > len("https://")))[:LINKS_PER_MESSAGE]


class _InOrder:
    """Tells the listeners of one message's articles in the order its links were posted, whichever fetch
    ends first (so that they are announced in that order): an article waits for those of the links before it."""

    def __init__(self, bot: ArticleBot, guild_id: int, links: int) -> None:
        self._bot, self._guild_id = bot, guild_id
        self._results: list[AddResult | None] = [None] * links
        self._settled = [False] * links
        self._next = 0

    def settle(self, link: int, result: AddResult | None) -> None:
        """The `link`th link is dealt with: `result` what adding it did, None if it gave no article."""
        self._results[link], self._settled[link] = result, True
        while self._next < len(self._settled) and self._settled[self._next]:
            ready = self._results[self._next]
            if ready is not None:
                tell(self._bot, self._guild_id, [ready], "link")
            self._next += 1


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class WatchCog(commands.GroupCog, group_name="watch", group_description="Channels whose posted links are added"):
    """Adds the links posted in watched channels to the server's articles."""

    #: Seconds a failure's reason stays in the channel.
    reason_seconds: float = 60.0

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot
        #: A link, its message, and where it stands among the message's links.
        self.queue: asyncio.Queue[tuple[discord.Message, str, _InOrder, int]] = asyncio.Queue(maxsize=QUEUED_AT_MOST)
        self._workers: list[asyncio.Task[None]] = []
        self._recent: dict[int, deque[float]] = defaultdict(deque)  # per server: when its links were taken

    async def cog_load(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"watch-{n}") for n in range(FETCHES_AT_ONCE)]

    async def cog_unload(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    # -- commands ------------------------------------------------------------------------------

    @app_commands.command(name="add", description="Add every link posted in a channel to this server's articles")
    @app_commands.describe(channel="The channel to watch")
    @manager_only()
    async def add(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        assert interaction.guild_id is not None
        data = self.bot.server_data
        added = await asyncio.to_thread(data.watch, interaction.guild_id, channel.id, interaction.user.id)
        text = (
            f"Watching {channel.mention}: links posted there are added to this server's articles "
            f"(at most {self.bot.settings.links_per_hour} an hour)."
            if added
            else f"{channel.mention} is already watched."
        )
        if not self.bot.intents.message_content:
            text += (
                "\nNote: the bot cannot read messages until the Message Content intent is enabled for it "
                "in the Discord Developer Portal (Bot → Privileged Gateway Intents), then restarted."
            )
        audit.info("watch %s by %s in server %s", channel.id, interaction.user.id, interaction.guild_id)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.command(name="remove", description="Stop adding the links posted in a channel")
    @app_commands.describe(channel="The channel to stop watching")
    @manager_only()
    async def remove(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        assert interaction.guild_id is not None
        removed = await asyncio.to_thread(self.bot.server_data.unwatch, interaction.guild_id, channel.id)
        audit.info("unwatch %s by %s in server %s", channel.id, interaction.user.id, interaction.guild_id)
        await interaction.response.send_message(
            f"No longer watching {channel.mention}." if removed else f"{channel.mention} was not watched.",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @app_commands.command(name="list", description="The channels whose links are added")
    @manager_only()
    async def list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        channels = await asyncio.to_thread(self.bot.server_data.watched, interaction.guild_id)
        text = (
            "Watched: " + ", ".join(f"<#{c}>" for c in channels) + "."
            if channels
            else "No channel is watched. Add one with `/watch add`."
        )
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)

    # -- links -----------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot:
            return
        if not self.bot.server_data.is_watched(message.guild.id, message.channel.id):
            return
        links = links_in(message.content)
        # The hourly limit is counted here, so that links past it are turned away once per message.
        taken = [link for link in links if self._within_limit(message.guild.id)]
        if len(taken) < len(links):
            await self._react(message, LIMITED)
            await self._explain(
                message,
                f"{len(links) - len(taken)} of these links were not added: this server has "
                f"added {self.bot.settings.links_per_hour} links in the last hour, the most "
                "it may. Try again later, or use `/add`.",
            )
        in_order = _InOrder(self.bot, message.guild.id, len(taken))
        for n, link in enumerate(taken):
            try:
                self.queue.put_nowait((message, link, in_order, n))
            except asyncio.QueueFull:
                await self._react(message, LIMITED)
                await self._explain(message, "Too many links are waiting to be read; post this one again later.")
                return

    async def _work(self) -> None:
        while True:
            message, link, in_order, n = await self.queue.get()
            result = None
            try:
                result = await self._take(message, link)
            except Exception:
                log.exception("adding link %s from message %s failed", link, message.id)
                await self._react(message, FAILED)
            finally:
                in_order.settle(n, result)
                self.queue.task_done()

    def _within_limit(self, guild_id: int) -> bool:
        """Count a link against the server's hourly limit; False once the limit is reached."""
        recent, now = self._recent[guild_id], time.monotonic()
        while recent and recent[0] < now - 3600:
            recent.popleft()
        if len(recent) >= self.bot.settings.links_per_hour:
            return False
        recent.append(now)
        return True

    async def _take(self, message: discord.Message, link: str) -> AddResult | None:
        """Fetch and add the article of `link` (None if it could not be); the author sees the outcome."""
        assert message.guild is not None
        service = self.bot.service
        deadline = Deadline(self.bot.settings.add_timeout, "adding the link")
        try:
            article = await service.fetch_article(link, deadline)
            result = await service.add(article, Scope.of_server(message.guild.id), str(message.author.id), deadline)
        except ArticleError as exc:
            await self._react(message, FAILED)
            await self._explain(message, f"Couldn't add that link: {shorten(str(exc), 1500)}")
            return None
        audit.info(
            "add %s %r (%s) by %s in server %s from a watched channel: %s",
            result.article_id,
            result.title,
            article.source,
            message.author.id,
            message.guild.id,
            result.status,
        )
        await self._react(message, ADDED if result.status in ("added", "updated") else KNOWN)
        return result

    async def _react(self, message: discord.Message, emoji: str) -> None:
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException:
            log.warning("could not react to message %s", message.id, exc_info=True)

    async def _explain(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(
                text, mention_author=False, allowed_mentions=NO_MENTIONS, delete_after=self.reason_seconds, silent=True
            )
        except discord.HTTPException:
            log.warning("could not explain to message %s", message.id, exc_info=True)
