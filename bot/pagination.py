"""Previous/Next buttons that only the person who ran the command can press; they turn the pages after a
restart too, and are disabled after a timeout.

A page is rendered anew from what the bot knows when a button is pressed (a `Book`, registered by name
by the cog that shows it), so the buttons carry all they need in their custom ids (the book, who may turn
it, the page they lead to), as the feedback buttons do, and no View has to outlive the process.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from .render import NO_MENTIONS

#: A book: renders page `page` (0-based, clamped) of what `interaction` asks for; (embed, page shown, pages).
Book = Callable[[discord.Interaction, int], Awaitable[tuple[discord.Embed, int, int]]]
_BOOKS: dict[str, Book] = {}


def register_book(name: str, book: Book) -> None:
    """Make a book's pages turnable by its name (a cog does it when it loads)."""
    _BOOKS[name] = book


class PageButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"page:(?P<book>[a-z]+):(?P<owner>\d+):(?P<page>\d+):(?P<way>previous|next)",
):
    """Previous or Next under a page of a book: leads to page `page` for its `owner` only."""

    def __init__(self, book: str, owner: int, page: int, way: str, disabled: bool = False) -> None:
        super().__init__(
            discord.ui.Button(
                label=way.capitalize(),
                emoji="◀️" if way == "previous" else "▶️",
                style=discord.ButtonStyle.secondary,
                custom_id=f"page:{book}:{owner}:{page}:{way}",
                disabled=disabled,
            )
        )
        self.book, self.owner, self.page = book, owner, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> PageButton:
        return cls(match["book"], int(match["owner"]), int(match["page"]), match["way"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        book = _BOOKS.get(self.book)
        if interaction.user.id != self.owner or book is None:
            await interaction.response.send_message(
                "Only the person who ran the command can turn these pages.",
                ephemeral=True,
                allowed_mentions=NO_MENTIONS,
            )
            return
        embed, page, pages = await book(interaction, self.page)
        await interaction.response.edit_message(embed=embed, view=page_buttons(self.book, self.owner, page, pages))


def page_buttons(book: str, owner: int, page: int, pages: int, disabled: bool = False) -> discord.ui.View:
    """The buttons under page `page` of `pages`. The View only carries them to Discord (stopped, so that
    discord.py keeps no handler of its own: `PageButton`, registered with the bot, answers every press)."""
    view = discord.ui.View(timeout=None)
    view.add_item(PageButton(book, owner, max(page - 1, 0), "previous", disabled or page == 0))
    view.add_item(PageButton(book, owner, min(page + 1, pages - 1), "next", disabled or page >= pages - 1))
    view.stop()
    return view


async def disable_after(interaction: discord.Interaction, book: str, timeout: float) -> None:
    """Disable the buttons of the reply to `interaction` after `timeout` seconds (a page turned later would
    show another's question long gone); after a restart they stay, and still turn the pages."""
    await asyncio.sleep(timeout)
    try:
        await interaction.edit_original_response(view=page_buttons(book, interaction.user.id, 0, 1, disabled=True))
    except discord.HTTPException:
        pass  # the message was deleted or the token expired: nothing left to disable
