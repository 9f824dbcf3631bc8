"""Conversations: a reply to one of the bot's answers is a follow-up of the question it answered.

The bot remembers, for each answer message it sent, the turn it answered (what was searched, and the
first quote), so that "what about France?" written as a reply to that answer is searched as the
question it follows (index/followups.py). Kept in memory for the most recent answers only: a
conversation is minutes long, and a reply to an older answer is searched as it stands.
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
        self._turns: OrderedDict[int, Turn] = OrderedDict()
        self._size = size

    def remember(self, message_ids: Iterable[int], answer: Answer) -> None:
        """The bot sent `answer` as these messages."""
        turn = Turn(answer.searched or answer.question, answer.quotes[0].text if answer.quotes else "")
        for message_id in message_ids:
            self._turns[message_id] = turn
            self._turns.move_to_end(message_id)
        while len(self._turns) > self._size:
            self._turns.popitem(last=False)

    def before(self, message: discord.Message) -> Turn | None:
        """The turn `message` follows: the answer it replies to, if the bot sent it recently."""
        reference = message.reference
        return self._turns.get(reference.message_id) if reference and reference.message_id else None
