"""Helpful / Not helpful buttons under each answer in a server; they keep working after a restart.

Each button's custom id names the logged question (`feedback:<id>:up|down`), so the bot rebuilds the
button from the id when it is pressed, whenever that is (discord.py's dynamic items). One vote per
user per answer, changeable; stored with the question in bot/server_data.py.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from index import Answer

    from .client import ArticleBot

#: What the custom id of every answer's feedback button starts with: how an answer is known after a restart.
FEEDBACK_PREFIX = "feedback:"


class FeedbackButton(
    discord.ui.DynamicItem[discord.ui.Button], template=FEEDBACK_PREFIX + r"(?P<question>\d+):(?P<vote>up|down)"
):
    def __init__(self, question_id: int, helpful: bool) -> None:
        super().__init__(
            discord.ui.Button(
                label="Helpful" if helpful else "Not helpful",
                style=discord.ButtonStyle.secondary,
                emoji="\N{THUMBS UP SIGN}" if helpful else "\N{THUMBS DOWN SIGN}",
                custom_id=f"{FEEDBACK_PREFIX}{question_id}:{'up' if helpful else 'down'}",
            )
        )
        self.question_id = question_id
        self.helpful = helpful

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(int(match["question"]), match["vote"] == "up")

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: ArticleBot = interaction.client
        if interaction.guild_id is None:
            await interaction.response.send_message("Feedback is kept for answers in servers only.", ephemeral=True)
            return
        noted = await asyncio.to_thread(
            bot.server_data.vote, self.question_id, interaction.guild_id, interaction.user.id, self.helpful
        )
        text = (
            f"Thanks: noted as {'helpful' if self.helpful else 'not helpful'} (press the other button to change it)."
            if noted
            else "This answer is no longer in the server's question log."
        )
        await interaction.response.send_message(text, ephemeral=True)


def feedback_view(question_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(question_id, True))
    view.add_item(FeedbackButton(question_id, False))
    return view


async def logged_with_feedback(
    bot: ArticleBot,
    guild_id: int | None,
    channel_id: int | None,
    user_id: int,
    answer: Answer,
    notice: bool = False,
) -> discord.ui.View | Any:
    """Log an answer given in a server (bot/server_data.py; `notice`: sent to a follower unasked) and return
    the feedback buttons for it; discord.utils.MISSING elsewhere (only servers keep a question log)."""
    if guild_id is None:
        return discord.utils.MISSING
    shown = [(q.article_id, q.title, q.text) for q in answer.quotes]
    question_id = await asyncio.to_thread(
        bot.server_data.log_question,
        guild_id,
        channel_id or 0,
        user_id,
        answer.question,
        answer.searched,
        answer.answered,
        shown,
        notice,
    )
    return feedback_view(question_id)
