"""A confirmation for destructive commands: a danger button and Cancel, for the person who asked only."""

from __future__ import annotations

import discord

CONFIRM_TIMEOUT = 60.0


class ConfirmView(discord.ui.View):
    """`label` (e.g. Remove) / Cancel buttons for the person who asked, until a timeout."""

    def __init__(self, owner_id: int, label: str = "Remove") -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT)
        self.owner_id = owner_id
        self.confirmed: bool | None = None
        self.confirm.label = label

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message("Only the person who asked can confirm this.", ephemeral=True)
        return False

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        self.confirmed = True
        await interaction.response.defer()
        self.stop()

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]) -> None:
        self.confirmed = False
        await interaction.response.defer()
        self.stop()
