"""New articles, as the cogs that add them (/add, watched links, feeds) tell the cogs that act on them
(announcements, followed questions): one discord.py event, `on_articles_arrived`, with an `Arrival`.

An event rather than calls between cogs, as Red-DiscordBot's cogs tell each other: the cog that adds
knows nothing of who listens, and a listener's slow work (reading the article against every followed
question, posting) runs in its own queue, never in the add's reply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from index import AddResult

if TYPE_CHECKING:
    import discord

#: What listeners implement: `async def on_articles_arrived(self, arrival: Arrival)`.
EVENT = "articles_arrived"

Via = Literal["add", "link", "feed"]


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
