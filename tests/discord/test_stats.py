"""Feedback buttons under answers (still working after the bot restarts), /stats per server, and
deleting a server's question log, over the fake Discord."""

from __future__ import annotations

import pytest

from tests.support.discord.fake_payloads import FakeMessage
from tests.support.discord.servers import Servers, restarted

pytestmark = pytest.mark.both_stores  # the same tests with the server data, feeds and index in SQLite and in PostgreSQL


def button(message: FakeMessage, label: str) -> str:
    return next(c["custom_id"] for row in message.components for c in row["components"] if c.get("label") == label)


async def ask(servers: Servers, guild, question: str) -> FakeMessage:
    return await (await servers.command("ask", guild, servers.reader, question=question)).wait_for_followup(timeout=30)


async def press(servers: Servers, message: FakeMessage, label: str, user=None) -> str:
    pressed = await servers.fake.send_component(message, button(message, label), user=user or servers.reader)
    return (await pressed.wait_for_original()).content


async def stats_of(servers: Servers, guild) -> dict:
    reply = await (await servers.command("stats", guild, servers.editor)).wait_for_original()
    assert reply.ephemeral
    return reply.embeds[0]


@pytest.mark.asyncio
async def test_feedback_counts_per_server_survives_a_restart_and_can_be_deleted(servers: Servers) -> None:
    fake = servers.fake
    answer = await ask(servers, servers.a, "How did China react?")
    assert (
        await press(servers, answer, "Not helpful")
        == "Thanks: noted as not helpful (press the other button to change it)."
    )
    missing = await ask(servers, servers.a, "What is the capital of Peru?")
    assert missing.embeds[0]["title"] == "Nothing found" and button(missing, "Helpful")
    elsewhere = await ask(servers, servers.b, "Who won the election in Russia?")
    await press(servers, elsewhere, "Helpful")

    # The bot restarts: the buttons of answers sent before still work.
    async with restarted(servers):
        assert (
            await press(servers, answer, "Helpful") == "Thanks: noted as helpful (press the other button to change it)."
        )
        await press(servers, answer, "Helpful", user=servers.editor)

        shown = await stats_of(servers, servers.a)
        assert shown["description"] == (
            "2 questions asked, 1 answered, 1 not found; feedback: 100% helpful of 2 votes.\n"
            "0 followed questions open, 0 notices sent to followers; 0 stories announced."
        )
        fields = {f["name"]: f["value"] for f in shown["fields"]}
        assert fields["Most quoted articles"].startswith("North Korea's Kim Jong Un Congratulates Vladimir Putin")
        assert fields["Recently not found (what to add next)"] == "• What is the capital of Peru?"
        assert "election in Russia" not in str(shown), "another server's questions never show"

        forget = await servers.command("forget-questions", servers.a, servers.editor)
        prompt = await forget.wait_for_original()
        delete = await fake.send_component(prompt, button(prompt, "Delete"), user=servers.editor)
        await delete.wait_for_response()
        await fake.wait_for(lambda: "Deleted" in prompt.content or None, 10, "the deletion")
        assert prompt.content == "Deleted 2 questions and their feedback."
        assert (await stats_of(servers, servers.a))["description"].startswith("0 questions asked")
        assert servers.bot.server_data.stats(int(servers.b.id)).asked == 1, "another server's log is untouched"
        assert await press(servers, answer, "Helpful") == "This answer is no longer in the server's question log."
