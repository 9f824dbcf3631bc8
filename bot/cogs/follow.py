"""Followed questions: /follow, /following, /unfollow, and the notices posted when a new article answers one.

A follow is kept with the server data (bot/follows.py). Each new article (an `Arrival`: /add, a watched
link, a feed, or what another process stored in a shared database) is read against the open follows
of the servers that see it, in a queue of its own (`ArticleIndex.answers_for`: the follows' vectors
against the article's sentences first, the quote model on the few near ones); a follow it answers is
claimed (one notice per follow and story, however many processes) and noticed in the channel where it
was followed, mentioning its follower, as an answer is shown: the quote, its source and link, the
feedback buttons, and an Unfollow button.

The follows' vectors are held per server in memory and brought up to the database before each check,
so that a restart, or a follow made in another process, needs no other signal.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from index import (
    MAX_QUESTION_CHARS,
    AddResult,
    FollowAnswer,
    FollowedQuestions,
    QuestionError,
    Scope,
    check_question,
    same_question,
)

from ..arrivals import Arrival, ArrivalQueue
from ..feedback import logged_with_feedback
from ..follows import MAX_PER_MEMBER, Follow, Follows, TooManyFollows
from ..permissions import may_manage
from ..render import NO_MENTIONS, channel_in, escape, render_answer, shorten

if TYPE_CHECKING:
    from ..client import ArticleBot

log = logging.getLogger(__name__)
audit = logging.getLogger("articlebot.audit")


def quoted(question: str, most: int = 200) -> str:
    return f"“{escape(shorten(question, most))}”"


class UnfollowButton(discord.ui.DynamicItem[discord.ui.Button], template=r"unfollow:(?P<follow>\d+)"):
    """Under a notice: its follower stops the follow; it keeps working after a restart."""

    def __init__(self, follow_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Unfollow", style=discord.ButtonStyle.secondary, custom_id=f"unfollow:{follow_id}")
        )
        self.follow_id = follow_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> UnfollowButton:
        return cls(int(match["follow"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot: ArticleBot = interaction.client
        # Its follower, or a manager: a follow whose member left or misuses it is stopped from its notice.
        manager = isinstance(interaction.user, discord.Member) and may_manage(
            interaction.user, bot.settings.manager_role
        )
        stopped = interaction.guild_id is not None and await asyncio.to_thread(
            bot.server_data.follows.unfollow,
            interaction.guild_id,
            None if manager else interaction.user.id,
            self.follow_id,
        )
        if stopped:
            audit.info("follow %s stopped by %s from its notice", self.follow_id, interaction.user.id)
        await interaction.response.send_message(
            "No longer following that question."
            if stopped
            else "Only its follower (or a manager) can stop this follow, and only while it is open.",
            ephemeral=True,
        )


class FollowCog(commands.Cog):
    """Questions members follow, and the notices when an article answers them."""

    def __init__(self, bot: ArticleBot) -> None:
        self.bot = bot
        self.arrivals = ArrivalQueue("checking followed questions", self.check)
        self._questions: dict[int, FollowedQuestions] = {}  # per server, synced before each check
        self._open: dict[int, tuple[int, dict[int, Follow]]] = {}  # per server: (version, open follows by id)

    @property
    def follows(self) -> Follows:
        return self.bot.server_data.follows

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(UnfollowButton)
        self.arrivals.start()
        self._catching_up = asyncio.create_task(self._catch_up(), name="articlebot followed questions' catch-up")

    async def cog_unload(self) -> None:
        self._catching_up.cancel()
        self.arrivals.stop()

    async def _catch_up(self) -> None:
        # Once ready, every listener is in place (this cog's, the index's for other processes' articles): an
        # article stored from then on is told, and one stored before is in the listing (or both: checked
        # twice, noticed once).
        await self.bot.wait_until_ready()
        for arrival in await self.missed():
            await self.on_articles_arrived(arrival)

    async def missed(self) -> list[Arrival]:
        """The articles stored while no bot process was checking them against the followed questions (what
        the command line added while the bot was stopped, say), by server."""
        try:
            stored = await asyncio.to_thread(self.bot.service.index.article_versions)
            unchecked = await asyncio.to_thread(self.follows.unchecked, stored)
        except Exception:  # the next start tries again; meanwhile new articles are checked as they come
            log.exception("could not read which articles the followed questions missed")
            return []
        by_server: dict[int | None, list[AddResult]] = {}
        for article, known in unchecked:
            result = AddResult(article.id, article.title, "updated" if known else "added", chunks=0)  # not counted
            by_server.setdefault(Scope.server_of(article.collection), []).append(result)
        if unchecked:
            log.info("found %d articles stored while no process checked the followed questions", len(unchecked))
        return [Arrival(guild_id, tuple(results), "elsewhere") for guild_id, results in by_server.items()]

    # -- commands ------------------------------------------------------------------------------

    @app_commands.guild_only()
    @app_commands.command(name="follow", description="Be told here when a new article answers a question")
    @app_commands.describe(
        question="What you want to know, as you would /ask it",
        keep_open="Tell me of every new story that answers it, not only the first",
    )
    async def follow(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, MAX_QUESTION_CHARS],
        keep_open: bool = False,
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel_id is not None
        try:
            question = check_question(question)
        except QuestionError as exc:
            await interaction.response.send_message(f"Sorry: {exc}.", ephemeral=True)
            return
        can = interaction.app_permissions
        posts = can.send_messages_in_threads if isinstance(interaction.channel, discord.Thread) else can.send_messages
        if not (posts and can.embed_links):
            await interaction.response.send_message(
                "I can't post answers in this channel (Send Messages and Embed Links): follow it in one where I can.",
                ephemeral=True,
            )
            return
        # The database, then what the articles say now: more than Discord's three seconds at worst.
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            follow = await asyncio.to_thread(
                self.follows.follow,
                interaction.guild_id,
                interaction.channel_id,
                interaction.user.id,
                question,
                keep_open,
            )
        except TooManyFollows as exc:
            await interaction.edit_original_response(content=f"Sorry: {exc}.")
            return
        audit.info("follow %s by %s in server %s", follow.id, interaction.user.id, interaction.guild_id)
        until = "every new story that answers it" if keep_open else "the first new article that answers it"
        text = f"Following {quoted(question)}: I'll post {until} in this channel, mentioning you. `/unfollow` stops it."
        # What the articles say now, as /ask would answer: a search, so it counts against the question cooldown.
        if not self.bot.cooldown.retry_after(interaction.user.id):
            text += await self._said_now(follow, question, interaction.guild_id)
        await interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)

    async def _said_now(self, follow: Follow, question: str, guild_id: int) -> str:
        """What the server's articles already say (a line for the reply to /follow, "" if nothing); the story
        quoted is then no news to the follower: a copy of it arriving later notices nothing."""
        scope = Scope.of_server(guild_id)
        try:
            answer = await self.bot.service.ask(question, scope)
            if not (answer.answered and answer.quotes):
                return ""
            first = answer.quotes[0]
            article = await self.bot.service.article(first.article_id, scope)
            if article is not None:
                story = article.story or article.id
                await asyncio.to_thread(self.follows.claim, follow.id, story, article.id, named=True)
        except Exception:  # the follow is made all the same: say so, without what the articles say now
            log.exception("could not tell follow %s what the articles say now", follow.id)
            return ""
        return (
            f"\nWhat the articles say now: “{escape(shorten(first.text, 400))}” "
            f"(**{escape(shorten(first.title, 150))}**); `/ask` shows more."
        )

    @app_commands.guild_only()
    @app_commands.command(name="following", description="The questions you follow in this server")
    async def following(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        mine = await asyncio.to_thread(self.follows.following, interaction.guild_id, interaction.user.id)
        if not mine:
            text = "You follow no question here. `/follow` one, and I'll tell you when an article answers it."
        else:
            head = f"You follow {len(mine)} of at most {MAX_PER_MEMBER} questions here:\n"
            # Every follow is listed in one message: the questions are shortened alike until it fits in
            # Discord's 2,000 characters (markdown escapes lengthen some).
            room = 200
            while True:
                text = head + "\n".join(
                    f"• {quoted(f.question, room)} in <#{f.channel_id}>, "
                    f"{'every new story' if f.keep_open else 'until its first answer'}"
                    for f in mine
                )
                if len(text) <= 2000 or room <= 20:
                    break
                room -= 10
        await interaction.response.send_message(shorten(text, 2000), ephemeral=True, allowed_mentions=NO_MENTIONS)

    @app_commands.guild_only()
    @app_commands.command(name="unfollow", description="Stop following a question")
    @app_commands.describe(question="The question (pick one of yours)")
    async def unfollow(self, interaction: discord.Interaction, question: str) -> None:
        assert interaction.guild_id is not None
        mine = await asyncio.to_thread(self.follows.following, interaction.guild_id, interaction.user.id)
        # The autocomplete gives the follow's id; a question typed out is matched by its text.
        chosen = [f for f in mine if str(f.id) == question] or [
            f for f in mine if same_question(f.question) == same_question(question)
        ]
        stopped = bool(chosen) and await asyncio.to_thread(
            self.follows.unfollow, interaction.guild_id, interaction.user.id, chosen[0].id
        )
        await interaction.response.send_message(
            f"No longer following {quoted(chosen[0].question)}."
            if stopped
            else "You follow no such question here (`/following` lists yours).",
            ephemeral=True,
            allowed_mentions=NO_MENTIONS,
        )

    @unfollow.autocomplete("question")
    async def own_follows(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        assert interaction.guild_id is not None
        mine = await asyncio.to_thread(self.follows.following, interaction.guild_id, interaction.user.id)
        wanted = current.strip().casefold()
        return [
            app_commands.Choice(name=shorten(f.question, 100), value=str(f.id))
            for f in mine
            if wanted in f.question.casefold()
        ][:25]

    # -- notices -------------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_articles_arrived(self, arrival: Arrival) -> None:
        if arrival.via == "elsewhere" and not self.bot.serves(arrival.guild_id):
            return  # the process of its server's shard (shard 0's for a shared article) checks it
        self.arrivals.put(arrival)

    async def check(self, arrival: Arrival) -> int:
        """Notify the follows the arrival's articles answer, in the servers that see them; how many notices."""
        guilds = (
            [arrival.guild_id]
            if arrival.guild_id is not None
            else await asyncio.to_thread(self.follows.guilds)  # a shared article: every server that follows
        )
        articles = []
        for result in arrival.results:
            article = await self.bot.service.article(result.article_id, Scope.everything())
            if article is not None:  # else removed meanwhile
                articles.append(article)
        sent = 0
        for guild_id in guilds:
            try:
                sent += await self._check_server(guild_id, [(a.id, a.story or a.id) for a in articles])
            except Exception:  # one server's failure (its database rows, say) does not keep the others waiting
                log.exception("checking the follows of server %s against %s failed", guild_id, arrival.results)
        try:
            await asyncio.to_thread(self.follows.checked, [(a.id, a.content_hash) for a in articles])
        except Exception:  # the next start checks them again (their notices are claimed once): go on
            log.exception("could not record that %s were checked against the follows", [a.id for a in articles])
        return sent

    async def _check_server(self, guild_id: int, articles: list[tuple[str, str]]) -> int:
        """Notify the follows of one server that these (article, story) answer; how many notices. A follow
        that several of them answer (a new feed's backlog, say) gets one notice: the quote of the one that
        answers it best, naming the other new stories that answer it too."""
        questions, open_follows = await self._synced(guild_id)
        if not open_follows:
            return 0
        answers: dict[int, list[tuple[FollowAnswer, str, str]]] = {}  # by follow: (answer, story, article)
        for article_id, story in articles:
            try:
                found = await asyncio.to_thread(
                    self.bot.service.index.answers_for, questions, article_id, Scope.of_server(guild_id)
                )
            except Exception:  # the arrival's other articles are checked all the same
                log.exception("checking the follows of server %s against article %s failed", guild_id, article_id)
                continue
            for answer in found:
                answers.setdefault(answer.follow, []).append((answer, story, article_id))
        sent = 0
        for follow_id, answered in answers.items():
            follow = open_follows.get(follow_id)
            if follow is None:
                continue
            try:
                sent += await self._notify_new(follow, sorted(answered, key=lambda a: -a[0].support))
            except Exception:  # one follow's failure (its database row, say) does not keep the others waiting
                log.exception("noticing follow %s failed", follow_id)
        return sent

    async def _notify_new(self, follow: Follow, found: list[tuple[FollowAnswer, str, str]]) -> int:
        """Claim the stories of `found` (best first) the follow was not told of yet, and notice it of them in
        one post (1 if posted); a follow that closes after its first answer takes the first one only."""
        claimed: list[tuple[FollowAnswer, str]] = []
        for answer, story, article_id in found:
            if await asyncio.to_thread(self.follows.claim, follow.id, story, article_id, named=bool(claimed)):
                claimed.append((answer, story))
                if not follow.keep_open:
                    break  # its claim closed it
        if not claimed:
            return 0
        also = [answer.answer.quotes[0].title for answer, _ in claimed[1:]]
        return await self._notify(follow, claimed[0][0], [story for _, story in claimed], also)

    async def _synced(self, guild_id: int) -> tuple[FollowedQuestions, dict[int, Follow]]:
        """The server's followed questions as the database holds them now, with their vectors (read again
        only when the server's follows changed: reading 10,000 of them costs about 20 ms)."""
        version = await asyncio.to_thread(self.follows.version, guild_id)
        held = self._open.get(guild_id)
        if held is not None and held[0] == version:
            return self._questions[guild_id], held[1]
        open_follows = {f.id: f for f in await asyncio.to_thread(self.follows.open_follows, guild_id)}
        index = self.bot.service.index
        questions = self._questions.setdefault(guild_id, FollowedQuestions(index.encoder.dim))
        for gone in [i for i in questions.ids() if i not in open_follows]:
            questions.remove(gone)
        new = [f for i, f in open_follows.items() if questions.get(i) is None]
        if new:  # all of them after a start: thousands of questions to encode, off the event loop

            def encode() -> None:
                for follow, vector in zip(new, index.question_vectors([f.question for f in new]), strict=True):
                    questions.add(follow.id, follow.question, vector)

            await asyncio.to_thread(encode)
        # Held as of this version only once every vector is in: a failed encoding is tried again next time.
        self._open[guild_id] = (version, open_follows)
        return questions, open_follows

    async def _notify(self, follow: Follow, found: FollowAnswer, stories: list[str], also: list[str]) -> int:
        """Post the notice of a follow (claimed for `stories`: the answer's, then those of the titles `also`
        answering it) in the channel where it was followed; 1 if it was posted. A channel that is gone, or
        where the bot may no longer post, ends the follow; another failure gives the claims back, so that
        a later story may notify it."""
        answer = found.answer
        after = (
            "I'll tell you of new stories too."
            if follow.keep_open
            else "That was this follow's answer; `/follow` it again to hear of new stories."
        )
        if also:
            after = (
                "New articles answering it too: "
                + shorten(", ".join(f"**{escape(shorten(title, 150))}**" for title in also), 600)
                + ". "
                + after
            )
        channel = self.bot.get_partial_messageable(follow.channel_id, guild_id=follow.guild_id)
        try:
            view = await logged_with_feedback(
                self.bot, follow.guild_id, follow.channel_id, follow.user_id, answer, notice=True
            )
            if follow.keep_open:
                view.add_item(UnfollowButton(follow.id))
            message = await channel.send(
                f"<@{follow.user_id}>, a new article answers the question you follow, {quoted(follow.question)}. "
                + after,
                embeds=render_answer(answer)[0],
                view=view,
                allowed_mentions=discord.AllowedMentions(users=[discord.Object(follow.user_id)]),
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            log.warning("follow %s ends: cannot post in channel %s (%s)", follow.id, follow.channel_id, exc)
            await asyncio.to_thread(self.follows.end, follow.id, stories)
            await self.bot.tell_privately(
                follow.user_id,
                f"I can no longer post in {channel_in(follow.channel_id, self.bot.get_guild(follow.guild_id))}, so I "
                f"stopped following {quoted(follow.question)} for you. `/follow` it again in a channel where I can post.",
            )
            return 0
        except Exception:  # Discord failed, or the connection: the claim goes back, unsent
            log.exception("could not post the notice of follow %s in channel %s", follow.id, follow.channel_id)
            for story in stories:
                await asyncio.to_thread(self.follows.release, follow.id, story)
            return 0
        audit.info(
            "notice for follow %s in server %s: article %s", follow.id, follow.guild_id, answer.quotes[0].article_id
        )
        self.bot.conversations.remember([message.id], answer)
        return 1
