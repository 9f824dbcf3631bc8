"""Per-user question cooldown, shared by /ask, questions asked in messages, and /follow's look at what the
articles say now."""

from __future__ import annotations

from discord.ext import commands

from .settings import Cooldown


class QuestionCooldown:
    """Allows each user `questions` per `seconds`; `retry_after` says how long to wait when over."""

    def __init__(self, cooldown: Cooldown) -> None:
        self._mapping: commands.CooldownMapping[int] | None = None
        if cooldown.questions:
            self._mapping = commands.CooldownMapping(
                commands.Cooldown(cooldown.questions, cooldown.seconds), lambda user_id: user_id
            )

    def retry_after(self, user_id: int) -> float:
        """0 if the user may ask now (and count the question), else the seconds left to wait."""
        if self._mapping is None:
            return 0.0
        bucket = self._mapping.get_bucket(user_id)
        return (bucket.update_rate_limit() or 0.0) if bucket else 0.0


def cooldown_message(seconds: float) -> str:
    return f"You're asking quickly: please wait {max(1, round(seconds))} s before your next question."
