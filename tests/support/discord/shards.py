"""Two servers on two shards with one member in both, as several multi-process tests set them up."""

from __future__ import annotations

from dataclasses import dataclass

from tests.support.discord.fake_discord import FakeDiscord
from tests.support.discord.fake_payloads import FakeChannel, FakeGuild, FakeMessage, FakeUser


@dataclass
class Town:
    """A server on one shard, with its #general."""

    guild: FakeGuild
    general: FakeChannel


@dataclass
class World:
    """Port town on shard 0 of 2 and Hill town on shard 1; the reader is in both."""

    fake: FakeDiscord
    port: Town
    hill: Town
    reader: FakeUser

    async def ask(self, town: Town, question: str = "How did China react?") -> FakeMessage:
        """The answer to /ask in `town`, once the bot has deferred and followed up."""
        interaction = await self.fake.send_command(
            "ask", user=self.reader, channel=town.general, options={"question": question}
        )
        await interaction.wait_for_response(timeout=10)
        return await interaction.wait_for_followup(timeout=60)


def two_towns(fake: FakeDiscord) -> World:
    reader = fake.add_user("reader")
    towns = []
    for name, shard in (("Port town", (0, 2)), ("Hill town", (1, 2))):
        guild = fake.add_guild(name, shard=shard)
        fake.add_member(guild, reader)
        towns.append(Town(guild, fake.add_channel(guild, "general")))
    return World(fake, towns[0], towns[1], reader)
