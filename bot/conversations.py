"""Conversations: a reply to one of the bot's answers, or a message in a thread the bot opened, is a
follow-up of the question answered last there.

The bot remembers, for each answer message it sent and for each of its threads, the turn it answered
(what was searched, and the first quote), so that "what about France?" is searched as the question
it follows (index/answer/followups.py). Kept in memory for the most recent answers only: a conversation is
minutes long, and a follow-up of an older answer is searched as it stands.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

import discord

from index import Answer, Turn

#: Answers remembered at most (the oldest are forgotten first).
REMEMBERED = 10_000


class Conversations:
    def __init__(self, size: int = REMEMBERED) -> None:
        # Keyed by answer message id, and by thread id for the last answer in a thread.
        self._turns: OrderedDict[int, Turn] = OrderedDict()
        self._size = size

    def remember(self, message_ids: Iterable[int], answer: Answer, thread_id: int | None = None) -> None:
        """The bot sent `answer` as these messages (in this thread, if any)."""
        turn = Turn(answer.searched or answer.question, answer.quotes[0].text if answer.quotes else "")
        for key in [*message_ids, *([thread_id] if thread_id else [])]:
            self._turns[key] = turn
            self._turns.move_to_end(key)
        while len(self._turns) > self._size:
            self._turns.popitem(last=False)

    def answered_with(self, message_id: int) -> bool:
        """Whether the bot sent one of its recent answers as this message."""
        return message_id in self._turns

    def before(self, message: discord.Message) -> Turn | None:
        """The turn `message` follows: the answer it replies to, else the last answer in its thread."""
        reference = message.reference
        if reference and reference.message_id is not None and reference.message_id in self._turns:
            return self._turns[reference.message_id]
        return self._turns.get(message.channel.id) if isinstance(message.channel, discord.Thread) else None
