"""Previous/Next buttons that only the person who ran the command can press, until a timeout."""

from __future__ import annotations

from collections.abc import Callable

import discord

from .render import NO_MENTIONS


class PageView(discord.ui.View):
    """Turns the pages of an embed made by `render(page)`; buttons are disabled after `timeout`."""

    def __init__(
        self, owner_id: int, render: Callable[[int], discord.Embed], pages: int, page: int = 0, timeout: float = 180.0
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.render = render
        self.pages = pages
        self.page = min(max(page, 0), pages - 1)
        self.message: discord.InteractionMessage | None = None
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= self.pages - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "Only the person who ran the command can turn these pages.", ephemeral=True, allowed_mentions=NO_MENTIONS
        )
        return False

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), self.pages - 1)
        self._update_buttons()
        await interaction.response.edit_message(embed=self.render(self.page), view=self)

    @discord.ui.button(label="Previous", emoji="◀️", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button[PageView]) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", emoji="▶️", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button[PageView]) -> None:
        await self._turn(interaction, +1)

    async def on_timeout(self) -> None:
        self.previous.disabled = self.next.disabled = True
        if self.message is not None:
            try:
                await self.message.edit(view=self)
            except discord.HTTPException:
                pass  # the message was deleted or the token expired: nothing left to disable
