"""Followed questions over the fake Discord: a question followed before its answer arrives is noticed,
after a restart, in the channel where it was followed, mentioning its follower, with the right quote
and the answer's buttons; /unfollow stops a follow; another server sees none of it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from bot.arrivals import Arrival
from bot.cogs.follow import FollowCog
from bot.follows import MAX_PER_MEMBER
from index import FollowAnswer, Scope, parse_text
from tests.support.discord.fake_discord import Permission
from tests.support.discord.fake_payloads import FakeMessage, Overwrite
from tests.support.discord.servers import Servers, final_text, interaction_done, restarted
from tests.support.feed_site import FeedSite, serving_feeds

pytestmark = pytest.mark.both_stores  # the same tests with the server data and index in SQLite and in PostgreSQL

MUSEUM = (
    "Science museum opens\n\nA science museum opened downtown on Saturday with a planetarium and a hall of engines.\n\n"
    "The architect Maria Lindqvist designed the building, which took four years to finish.\n\n"
    "Tickets cost 12 euros, and children under six go free."
)
#: The same story from another outlet, lightly edited (index/ingest/stories.py: a near-copy).
MUSEUM_COPY = MUSEUM.replace("Science museum opens", "New museum for the city").replace("12 euros", "14 euros")
QUESTION = "Who designed the museum building?"
#: Another story that answers it.
HARBOUR_MUSEUM = (
    "Harbour museum rebuilt\n\nThe maritime museum by the harbour reopened on Sunday after a fire.\n\n"
    "The architect Jonas Berg designed the new museum building in glass and timber.\n\n"
    "The old ferry terminal next door will become a cafe."
)


def cog_of(servers: Servers) -> FollowCog:
    cog = servers.bot.get_cog("FollowCog")
    assert isinstance(cog, FollowCog)
    return cog


def labels(message: FakeMessage) -> list[str]:
    return [c.get("label", "") for row in message.components for c in row["components"]]


async def reply(servers: Servers, name: str, guild, user, **options) -> str:
    """The private reply to a command, once final (/follow's is deferred while it searches)."""
    sent = await (await servers.command(name, guild, user, **options)).wait_for_original()
    await interaction_done(sent)
    assert sent.ephemeral
    return sent.content


async def add_museum(servers: Servers, name: str = "museum.txt", text: str = MUSEUM) -> None:
    """Add an article in Port town, and wait until the followed questions have been checked against it."""
    cog = cog_of(servers)
    before = cog.arrivals.handled
    added = await final_text(await servers.command("add", servers.a, servers.editor, file=(name, text.encode())))
    assert added.startswith("Added **"), added
    await servers.fake.wait_for(lambda: cog.arrivals.handled > before or None, 60, "the check of the new article")


async def stats_said(servers: Servers, guild) -> str:
    """What /stats says of a server's questions, follows and announcements."""
    shown = await (await servers.command("stats", guild, servers.editor)).wait_for_original()
    return shown.embeds[0]["description"]


def notices(servers: Servers, channel) -> list[FakeMessage]:
    return [m for m in servers.fake.bot_messages(channel) if "answers the question you follow" in m.content]


@pytest.mark.asyncio
async def test_a_follow_is_noticed_after_a_restart_with_the_right_quote_and_only_in_its_server(
    servers: Servers,
) -> None:
    a, b = servers.a, servers.b
    followed = await reply(servers, "follow", a, servers.reader, question=QUESTION)
    assert followed == (
        f"Following “{QUESTION}”: I'll post the first new article that answers it in this channel, mentioning you. "
        "`/unfollow` stops it."
    ), "nothing in the articles answers it yet"
    await reply(servers, "follow", b, servers.editor, question=QUESTION, keep_open=True)  # Hill town's own follow
    assert (await reply(servers, "following", a, servers.reader)).startswith("You follow 1 of at most 20 questions")
    assert (await reply(servers, "following", b, servers.reader)).startswith("You follow no question here")

    async with restarted(servers):
        await add_museum(servers)
        [notice] = notices(servers, servers.a_general)
        assert notice.content.startswith(f"<@{servers.reader.id}>, a new article answers the question you follow")
        assert [u.id for u in notice.mentions] == [servers.reader.id], "the follower, and nobody else, is pinged"
        embed = notice.embeds[0]
        assert embed["title"] == "Science museum opens"
        assert "Maria Lindqvist designed the building" in embed["description"]
        assert labels(notice) == ["Helpful", "Not helpful"], "a follow that closes after its answer has no Unfollow"
        assert notices(servers, servers.b_general) == [], "Hill town does not see Port town's article"
        assert (await reply(servers, "following", a, servers.reader)).startswith("You follow no question here")
        assert (await stats_said(servers, a)) == (
            "0 questions asked, 0 answered, 0 not found; feedback: no votes yet.\n"
            "0 followed questions open, 1 notice sent to followers; 0 stories announced."
        ), "a notice is not a question asked (nor one not found)"
        hill = servers.bot.server_data.stats(int(b.id))
        assert (hill.following, hill.noticed) == (1, 0), "Hill town's follow is still open, and was not noticed"


@pytest.mark.asyncio
async def test_an_article_stored_while_no_bot_was_checking_is_noticed_when_the_bot_starts(servers: Servers) -> None:
    await reply(servers, "follow", servers.a, servers.reader, question=QUESTION)
    # What `articlebot ingest` does to the index folder meanwhile: it stores a shared article and tells no bot.
    await asyncio.to_thread(servers.bot.service.index.add, parse_text(MUSEUM, "file:museum.txt"))

    async with restarted(servers):
        notice = await servers.fake.wait_for_message(
            servers.a_general, check=lambda m: "answers the question you follow" in m.content, timeout=60
        )
        assert notice.content.startswith(f"<@{servers.reader.id}>")
        assert "Maria Lindqvist designed the building" in notice.embeds[0]["description"]
        cog = cog_of(servers)
        for _ in range(600):  # the check ends just after its notice is posted
            if cog.arrivals.handled:
                break
            await asyncio.sleep(0.05)
        assert await cog.missed() == [], "checked now: the next start finds nothing missed"


@pytest.mark.asyncio
async def test_unfollow_stops_a_follow_and_an_open_follow_can_be_stopped_from_its_notice(servers: Servers) -> None:
    a = servers.a
    await reply(servers, "follow", a, servers.reader, question=QUESTION)
    await reply(servers, "follow", a, servers.editor, question=QUESTION, keep_open=True)
    complete = await servers.fake.send_autocomplete(
        "unfollow", user=servers.reader, channel=servers.a_general, focused="question", value="museum"
    )
    await complete.wait_for_response()
    [choice] = complete.choices
    assert choice["name"] == QUESTION
    stopped = await reply(servers, "unfollow", a, servers.reader, question=choice["value"])
    assert stopped == f"No longer following “{QUESTION}”."
    assert await reply(servers, "unfollow", a, servers.reader, question=choice["value"]) == (
        "You follow no such question here (`/following` lists yours)."
    )

    await add_museum(servers)
    [notice] = notices(servers, servers.a_general)
    assert notice.content.startswith(f"<@{servers.editor.id}>"), "only the follow still open is noticed"
    assert labels(notice) == ["Helpful", "Not helpful", "Unfollow"]
    await add_museum(servers, "museum-copy.txt", MUSEUM_COPY)
    assert len(notices(servers, servers.a_general)) == 1, "one notice per story: a near-copy adds none"
    pressed = await servers.fake.send_component(notice, _custom_id(notice, "Unfollow"), user=servers.reader)
    assert (await pressed.wait_for_original()).content.startswith("Only its follower (or a manager) can stop")
    pressed = await servers.fake.send_component(notice, _custom_id(notice, "Unfollow"), user=servers.editor)
    assert (await pressed.wait_for_original()).content == "No longer following that question."
    assert (await reply(servers, "following", a, servers.editor)).startswith("You follow no question here")


def _custom_id(message: FakeMessage, label: str) -> str:
    return next(c["custom_id"] for row in message.components for c in row["components"] if c.get("label") == label)


@pytest.mark.asyncio
async def test_a_follow_whose_channel_the_bot_may_no_longer_post_in_ends(servers: Servers) -> None:
    await reply(servers, "follow", servers.a, servers.reader, question=QUESTION, keep_open=True)
    bot_member = servers.a.members[servers.fake.bot_user.id]
    servers.a_general.overwrites[bot_member.id] = (1, Overwrite(deny=Permission.SEND_MESSAGES))
    await add_museum(servers)
    refused = servers.fake.take_violations()
    assert len(refused) == 1 and refused[0].startswith(f"POST /channels/{servers.a_general.id}/messages -> 403")
    assert servers.bot.server_data.follows.following(int(servers.a.id), int(servers.reader.id)) == [], "it ended"
    assert servers.bot.server_data.stats(int(servers.a.id)).noticed == 0, "a notice never posted is not counted"
    [told] = servers.fake.bot_messages(servers.fake.dm_channel(servers.reader))
    assert told.content == (
        f"I can no longer post in <#{servers.a_general.id}> of **Port town**, so I stopped following “{QUESTION}” "
        "for you. `/follow` it again in a channel where I can post."
    )


@pytest.mark.asyncio
async def test_an_empty_follow_is_refused_and_a_hostile_one_never_pings(servers: Servers) -> None:
    assert await reply(servers, "follow", servers.a, servers.reader, question="   ") == "Sorry: the question is empty."
    hostile = "@everyone who designed the **museum** building? <@&1> <@1>"
    await reply(servers, "follow", servers.a, servers.reader, question=hostile)
    listed = await (await servers.command("following", servers.a, servers.reader)).wait_for_original()
    assert not listed.mention_everyone and listed.mentions == [] and listed.mention_roles == []
    assert "\\*\\*museum\\*\\*" in listed.content, "shown as typed, not as markdown"


@pytest.mark.asyncio
async def test_following_a_question_the_articles_answer_already_says_what_they_say_now(servers: Servers) -> None:
    followed = await reply(servers, "follow", servers.a, servers.reader, question="How did China react?")
    assert followed.startswith("Following “How did China react?”: I'll post the first new article")
    assert "\nWhat the articles say now: “Meanwhile Chinese President Xi Jinping" in followed
    assert followed.endswith(
        "(**North Korea's Kim Jong Un Congratulates Vladimir Putin on Election Win**); `/ask` shows more."
    )


@pytest.mark.asyncio
async def test_the_story_the_reply_to_follow_quoted_is_no_news_to_its_follower(servers: Servers) -> None:
    await add_museum(servers)
    followed = await reply(servers, "follow", servers.a, servers.reader, question=QUESTION, keep_open=True)
    assert "What the articles say now: “The architect Maria Lindqvist designed the building" in followed
    await add_museum(servers, "museum-copy.txt", MUSEUM_COPY)
    assert notices(servers, servers.a_general) == [], "a copy of the story the reply quoted tells nothing new"
    await add_museum(servers, "harbour.txt", HARBOUR_MUSEUM)
    [notice] = notices(servers, servers.a_general)
    assert "Jonas Berg" in notice.embeds[0]["description"], "a new story that answers it is news"
    assert servers.bot.server_data.stats(int(servers.a.id)).noticed == 1, "the reply is not counted as a notice"


@pytest.mark.asyncio
async def test_following_lists_every_follow_however_long_the_questions(servers: Servers) -> None:
    follows, guild, member = servers.bot.server_data.follows, int(servers.a.id), int(servers.reader.id)
    channel = int(servers.a_general.id)
    for n in range(MAX_PER_MEMBER):
        long = f"Question {n:02}: " + "*_*_*_*_ " * 20  # markdown, escaped when shown: longer
        await asyncio.to_thread(follows.follow, guild, channel, member, long.strip(), n % 2 == 0)
    listed = await reply(servers, "following", servers.a, servers.reader)
    assert len(listed) <= 2000
    lines = listed.split("\n")
    assert lines[0] == f"You follow {MAX_PER_MEMBER} of at most {MAX_PER_MEMBER} questions here:"
    assert [line[3:14] for line in lines[1:]] == [f"Question {n:02}" for n in range(MAX_PER_MEMBER)]
    assert all(line.endswith(("every new story", "until its first answer")) for line in lines[1:])


@pytest.mark.asyncio
async def test_a_new_feeds_backlog_pings_a_follower_once_naming_the_other_answers(servers: Servers) -> None:
    question = "How many cracked girders did the engineers find on the bridge?"
    await reply(servers, "follow", servers.a, servers.reader, question=question, keep_open=True)
    cog = cog_of(servers)
    with serving_feeds(FeedSite(items=6)) as base:  # six bridge reports, each of which answers it
        added = await final_text(await servers.command("feeds add", servers.a, servers.editor, url=f"{base}/feed.xml"))
        assert "6 new articles" in added or "6 articles" in added, added
        await servers.fake.wait_for(lambda: cog.arrivals.handled or None, 60, "the check of the feed's articles")
    [notice] = notices(servers, servers.a_general)
    assert "cracked girders" in notice.embeds[0]["description"]
    named = notice.content.split("New articles answering it too: ", 1)[1].split(". I'll tell you", 1)[0]
    assert named.startswith("**Bridge report") and notice.embeds[0]["title"] not in named
    assert servers.bot.server_data.stats(int(servers.a.id)).noticed == 1, "one notice, however many stories it names"


@pytest.mark.asyncio
async def test_a_manager_can_stop_a_members_follow_from_its_notice(servers: Servers) -> None:
    await reply(servers, "follow", servers.a, servers.reader, question=QUESTION, keep_open=True)
    await add_museum(servers)
    [notice] = notices(servers, servers.a_general)
    pressed = await servers.fake.send_component(notice, _custom_id(notice, "Unfollow"), user=servers.editor)
    assert (await pressed.wait_for_original()).content == "No longer following that question."
    assert (await reply(servers, "following", servers.a, servers.reader)).startswith("You follow no question here")


@pytest.mark.asyncio
async def test_an_arrival_notices_its_new_story_beside_a_copy_of_one_already_told(
    servers: Servers, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_museum(servers)
    await reply(servers, "follow", servers.a, servers.reader, question=QUESTION, keep_open=True)  # quotes the museum
    index, port = servers.bot.service.index, Scope.of_server(int(servers.a.id))
    added = [
        await asyncio.to_thread(index.add, parse_text(text, f"file:{name}"), port)
        for name, text in (("museum-copy.txt", MUSEUM_COPY), ("harbour.txt", HARBOUR_MUSEUM))
    ]
    # The copy of the story the reply quoted answers best (whatever the model says of these two texts).
    copy = added[0].article_id
    real = index.answers_for

    def copy_first(*args: Any, **kwargs: Any) -> list[FollowAnswer]:
        found = real(*args, **kwargs)
        return [dataclasses.replace(f, support=1.0) if args[1] == copy else f for f in found]

    monkeypatch.setattr(index, "answers_for", copy_first)
    await cog_of(servers).check(Arrival(int(servers.a.id), tuple(added), "feed"))  # one poll brings both
    [notice] = notices(servers, servers.a_general)
    assert "Jonas Berg" in notice.embeds[0]["description"], (
        "the new story, though the told one's copy may answer better"
    )
    assert "New articles answering it too" not in notice.content
