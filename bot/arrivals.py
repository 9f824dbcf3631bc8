"""New articles, as the cogs that add them (/add, watched links, feeds) tell the cogs that act on them
(announcements, followed questions): one discord.py event, `on_articles_arrived`, with an `Arrival`.
Articles other processes store in a shared PostgreSQL database (the command line, another bot process)
arrive too, `via` "elsewhere", once this process's index has taken them (`listen_elsewhere`); the
followed questions are checked by the process that runs the article's server's shard (shard 0's for a
shared article), and the database's claims let exactly one process post each notice however many check.

An event rather than calls between cogs, as Red-DiscordBot's cogs tell each other: the cog that adds
knows nothing of who listens, and a listener's slow work (reading the article against every followed
question, posting) runs in its own queue, never in the add's reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from index import AddResult, ArticleIndex, Scope, StoredElsewhere

if TYPE_CHECKING:
    import discord

log = logging.getLogger(__name__)
#: What listeners implement: `async def on_articles_arrived(self, arrival: Arrival)`.
EVENT = "articles_arrived"

Via = Literal["add", "link", "feed", "elsewhere"]


@dataclass(frozen=True)
class Arrival:
    """Articles one add stored new or changed in a server (`guild_id` None: shared with every server)."""

    guild_id: int | None
    results: tuple[AddResult, ...]
    via: Via
    #: Where they came from, for people: the feed's title, say.
    source: str = ""

    @property
    def new(self) -> tuple[AddResult, ...]:
        """The articles not known before (an update is a known article's new text)."""
        return tuple(r for r in self.results if r.status == "added")


def tell(bot: discord.Client, guild_id: int | None, results: Iterable[AddResult], via: Via, source: str = "") -> None:
    """Tell the listeners of the articles of `results` that were added or updated (nothing if none were)."""
    stored = tuple(r for r in results if r.status in ("added", "updated"))
    if stored:
        bot.dispatch(EVENT, Arrival(guild_id, stored, via, source))


def listen_elsewhere(bot: discord.Client, index: ArticleIndex, loop: asyncio.AbstractEventLoop) -> None:
    """Tell the listeners of the articles other processes store (told on the index's thread that follows
    the database; dispatched on `loop`)."""

    def stored(elsewhere: StoredElsewhere) -> None:
        guild_id = Scope.server_of(elsewhere.collection)
        try:
            loop.call_soon_threadsafe(tell, bot, guild_id, [elsewhere.result], "elsewhere")
        except RuntimeError:  # the loop closed: the bot is stopping
            log.debug("not told of %s stored elsewhere: the bot is stopping", elsewhere.result.article_id)

    index.when_stored_elsewhere(stored)


class ArrivalQueue:
    """A listener's arrivals, handled one at a time in the order they came, on a task of its own: the
    listener's slow work never holds up an add, and one failure does not stop the next arrival. Not
    bounded: an arrival is a few ids, and they come no faster than articles are stored."""

    def __init__(self, what: str, handle: Callable[[Arrival], Awaitable[object]]) -> None:
        self._what = what
        self._handle = handle
        self._queue: asyncio.Queue[Arrival] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: Arrivals handled since it started.
        self.handled = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._work(), name=f"articlebot {self._what}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def put(self, arrival: Arrival) -> None:
        self._queue.put_nowait(arrival)

    async def _work(self) -> None:
        while True:
            arrival = await self._queue.get()
            try:
                await self._handle(arrival)
            except Exception:
                log.exception("%s of %s failed", self._what, arrival)
            finally:
                self.handled += 1
                self._queue.task_done()
