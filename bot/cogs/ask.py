"""Asking: /ask, mentions of the bot, and every message in the ask channels."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from index import MAX_QUESTION_CHARS, QuestionError, Scope, SinceError, Turn, check_question, parse_since

from ..cooldown import cooldown_message
from ..feedback import FEEDBACK_PREFIX, logged_with_feedback
from ..permissions import manager_only
from ..render import (
    FAILED_REPLY,
    NO_MENTIONS,
    answer_text,
    first_quote_shown,
    render_answer,
    searched_shown,
    shorten,
)

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)

HINT = (
    "Ask me a question about the articles, for example: "
    "`@{name} How did China react?` (or use `/ask`). `/sources` lists what I know."
)


def own_mention(message: discord.Message, bot_id: int) -> re.Pattern[str]:
    """The bot's mention as written in a message: its user, or its own role (Discord offers both under its
    name when one types @)."""
    role = message.guild.self_role if message.guild else None
    return re.compile(rf"<@!?{bot_id}>" + (rf"|<@&{role.id}>" if role else ""))


def question_from(message: discord.Message, bot_id: int) -> str:
    """The message text without the bot's own mention(s)."""
    return own_mention(message, bot_id).sub(" ", message.content).strip()


class AskCog(commands.Cog):
    """Answers questions with verbatim quotes from the articles."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot

    async def _turn_from_before_a_restart(
        self, message: discord.Message, replied: discord.Message | None
    ) -> Turn | None:
        """The turn a follow-up follows when the bot does not remember it (it restarted since), read back from
        Discord: the answer replied to, else the bot's last answer in this thread; what it searched (its
        "Searching for" line, else the thread's name, else the question it answered) and its first quote."""
        me = self.bot.user
        try:
            answer = replied or await anext(
                (m async for m in message.channel.history(limit=20, before=message) if m.author == me and m.embeds),
                None,
            )
            if answer is None or not answer.embeds:
                return None
            searched = searched_shown(answer.content)
            if not searched and isinstance(answer.channel, discord.Thread):
                searched = answer.channel.name  # a thread is named after what its first answer searched
            if not searched and answer.reference and answer.reference.message_id:
                asked = await message.channel.fetch_message(answer.reference.message_id)
                searched = question_from(asked, me.id) if me else ""
        except discord.HTTPException:  # gone, or not ours to read: searched as it stands
            return None
        return Turn(searched, first_quote_shown(answer.embeds[0])) if searched else None

    def _is_answer(self, message: discord.Message) -> bool:
        """One of the bot's answers: remembered, or (after a restart) carrying an answer's feedback buttons."""
        return self.bot.conversations.answered_with(message.id) or any(
            str(getattr(item, "custom_id", "")).startswith(FEEDBACK_PREFIX)
            for row in message.components
            for item in getattr(row, "children", ())
        )

    @app_commands.command(name="ask", description="Ask the articles a question; the answer quotes them word for word")
    @app_commands.describe(
        question="What you want to know",
        private="Show the answer only to you (the question is still logged for the server's /stats)",
        since="Only articles published since then: 7d, 2w, 3m or a date like 2024-03-01",
    )
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        private: bool = False,
        since: app_commands.Range[str, 1, 40] | None = None,
    ) -> None:
        try:
            question = check_question(question)
            first_day = parse_since(since) if since else ""
        except (QuestionError, SinceError) as exc:
            await interaction.response.send_message(f"Sorry: {exc}.", ephemeral=True)
            return
        wait = self.bot.cooldown.retry_after(interaction.user.id)
        if wait:
            await interaction.response.send_message(cooldown_message(wait), ephemeral=True)
            return
        # Discord wants an acknowledgement within 3 seconds; the search may take longer.
        await interaction.response.defer(ephemeral=private, thinking=True)
        answer = await self.bot.service.ask(question, Scope.of_server(interaction.guild_id).limited_to(first_day))
        view = await logged_with_feedback(
            self.bot, interaction.guild_id, interaction.channel_id, interaction.user.id, answer
        )
        pages = render_answer(answer)
        followup: Any = interaction.followup  # its overloads do not take MISSING for content or view
        sent = [
            await followup.send(
                answer_text(answer) if n == 0 else discord.utils.MISSING,
                embeds=embeds,
                ephemeral=private,
                allowed_mentions=NO_MENTIONS,
                wait=True,
                view=view if n == len(pages) - 1 else discord.utils.MISSING,
            )
            for n, embeds in enumerate(pages)
        ]
        self.bot.conversations.remember((m.id for m in sent), answer)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        me = self.bot.user
        if me is None or message.author.bot:
            return
        replied = message.reference.resolved if message.reference else None
        replied_to_me = isinstance(replied, discord.Message) and replied.author.id == me.id
        # A reply pings the author it replies to: only a mention written out asks the bot when the reply is to
        # one of its messages that is no answer (an announcement: "great piece!" is no question).
        written = bool(own_mention(message, me.id).search(message.content))
        mentioned = (me in message.mentions and not replied_to_me) or written
        in_ask_channel = message.channel.id in self.bot.settings.ask_channels
        private = message.guild is None
        in_own_thread = isinstance(message.channel, discord.Thread) and message.channel.owner_id == me.id
        # A reply to one of the bot's answers (or followed questions' notices) follows it up, its ping on or off.
        reply_to_answer = isinstance(replied, discord.Message) and replied_to_me and self._is_answer(replied)
        if not (mentioned or in_ask_channel or private or in_own_thread or reply_to_answer):
            return
        question = question_from(message, me.id)
        if not question:
            if mentioned or private:
                await self._reply(message, HINT.format(name=me.display_name))
            return
        try:
            question = check_question(question)
        except QuestionError as exc:
            await self._reply(message, f"Sorry: {exc}.")
            return
        wait = self.bot.cooldown.retry_after(message.author.id)
        if wait:
            await self._reply(message, cooldown_message(wait))
            return
        try:
            async with message.channel.typing():
                after = self.bot.conversations.before(message)
                if after is None and (in_own_thread or reply_to_answer):
                    answered = replied if reply_to_answer and isinstance(replied, discord.Message) else None
                    after = await self._turn_from_before_a_restart(message, answered)
                answer = await self.bot.service.ask(
                    question, Scope.of_server(message.guild.id if message.guild else None), after=after
                )
            view = await logged_with_feedback(
                self.bot, message.guild.id if message.guild else None, message.channel.id, message.author.id, answer
            )
            first, *rest = render_answer(answer)
            last_view = view if not rest else discord.utils.MISSING
            thread = await self._thread_for(message, answer.searched or question)  # a follow-up as searched
            if thread is not None:  # the conversation goes on in the thread, where every message is a question
                sent = [
                    await thread.send(answer_text(answer), embeds=first, allowed_mentions=NO_MENTIONS, view=last_view)
                ]
            else:
                sent = [
                    await message.reply(
                        answer_text(answer),
                        embeds=first,
                        mention_author=False,
                        allowed_mentions=NO_MENTIONS,
                        view=last_view,
                    )
                ]
            where = thread or message.channel
            for n, embeds in enumerate(rest):
                sent.append(
                    await where.send(
                        embeds=embeds,
                        allowed_mentions=NO_MENTIONS,
                        view=view if n == len(rest) - 1 else discord.utils.MISSING,
                    )
                )
            thread_id = where.id if isinstance(where, discord.Thread) else None
            self.bot.conversations.remember((m.id for m in sent), answer, thread_id)
        except discord.Forbidden:
            log.warning("cannot answer in channel %s: missing permissions", message.channel.id)
        except Exception:
            log.exception("answering message %s failed", message.id)
            await self._reply(message, FAILED_REPLY)

    async def _thread_for(self, message: discord.Message, question: str) -> discord.Thread | None:
        """A new thread for the answer, when the server wants answers in threads and the channel allows one."""
        channel = message.channel
        if message.guild is None or not isinstance(channel, discord.TextChannel):
            return None
        if not self.bot.server_data.answers_in_threads(message.guild.id):
            return None
        mine = channel.permissions_for(message.guild.me)
        if not (mine.create_public_threads and mine.send_messages_in_threads):
            return None
        try:
            return await message.create_thread(name=shorten(question, 90) or "Question", auto_archive_duration=1440)
        except discord.HTTPException:
            log.warning("could not open a thread in channel %s", channel.id, exc_info=True)
            return None

    @app_commands.command(name="answer-threads", description="Answer mentions and ask-channel messages in a thread")
    @app_commands.describe(enabled="On: each answer opens a thread where follow-ups need no mention (the default)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @manager_only()
    async def answer_threads(self, interaction: discord.Interaction, enabled: bool) -> None:
        assert interaction.guild_id is not None
        await asyncio.to_thread(self.bot.server_data.set_answers_in_threads, interaction.guild_id, enabled)
        await interaction.response.send_message(
            "Answers to mentions and ask-channel messages now open a thread; every message there is a question."
            if enabled
            else "Answers now come as replies in the channel.",
            ephemeral=True,
        )

    async def _reply(self, message: discord.Message, text: str) -> None:
        try:
            await message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not reply to message %s", message.id, exc_info=True)
