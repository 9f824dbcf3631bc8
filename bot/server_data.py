"""What each server chose and asked: its watched channels, its settings, its question log with the
feedback on each answer (what `/stats` reads and `/forget-questions` deletes), its followed questions
(bot/follows.py) and its announcements (bot/announcements.py). Kept in
`servers.sqlite3` beside the index or, with ARTICLEBOT_DATABASE_URL, in that database, so that a
server keeps them when the shards are dealt out anew and it moves to another bot process.

Every read and write names its server, so one server's choices never reach another. Calls are
short and run in worker threads (`asyncio.to_thread`) from the bot; the watched channels are also
kept in memory, since every message in every channel is checked against them.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index import open_database

from .announcements import Announcements
from .follows import Follows
from .stamps import now_stamp

FILE_NAME = "servers.sqlite3"
#: The server of a forgotten question log's placeholder row (`ServerData.forget`): none.
FORGOTTEN = 0

_Row = tuple[Any, ...]

# Discord ids are 64-bit: BIGINT (in SQLite the same as INTEGER). `seq` keeps the order channels were
# watched in (PostgreSQL has no rowid to order by).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS watched_channels (
    guild_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    added_by BIGINT NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (guild_id, channel_id)
);
CREATE TABLE IF NOT EXISTS server_settings (
    guild_id BIGINT PRIMARY KEY,
    answer_threads INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS questions (
    id {id},
    guild_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    question TEXT NOT NULL,
    searched TEXT NOT NULL,
    answered INTEGER NOT NULL,
    cited TEXT NOT NULL,  -- the quotes shown: [{"article_id", "title", "text"}]
    asked_at TEXT NOT NULL,
    notice INTEGER NOT NULL DEFAULT 0  -- 1: a followed question's notice, not asked then (not counted as asked)
);
CREATE INDEX IF NOT EXISTS questions_guild ON questions(guild_id, id);
CREATE TABLE IF NOT EXISTS votes (
    question_id BIGINT NOT NULL REFERENCES questions(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL,
    helpful INTEGER NOT NULL,
    PRIMARY KEY (question_id, user_id)
);
"""
#: Questions listed by /stats in each of its lists.
LISTED = 5


@dataclass(frozen=True)
class ServerStats:
    """What /stats shows of one server's question log."""

    asked: int
    answered: int
    helpful: int
    not_helpful: int
    most_cited: tuple[tuple[str, int], ...]  # (article title, times quoted)
    unanswered: tuple[str, ...]  # the most recent questions that found nothing
    voted_down: tuple[str, ...]  # the most recent questions whose answer was voted not helpful
    following: int = 0  # open followed questions
    noticed: int = 0  # notices sent to followers
    announced: int = 0  # stories announced


@dataclass(frozen=True)
class CopiedServers:
    """What `ServerData.copy_from` copied."""

    servers: int  # the servers of which anything was copied
    watched: int
    settings: int
    questions: int
    votes: int
    follows: int
    announcements: int  # announce channels and announced stories
    already_there: int  # watched channels, settings, questions and follows the target had (it keeps its own)

    def __str__(self) -> str:
        return (
            f"copied the data of {self.servers:,} servers ({self.watched:,} watched channels, "
            f"{self.questions:,} questions, {self.votes:,} votes, {self.follows:,} followed questions, "
            f"{self.announcements:,} announcement records; {self.already_there:,} already there)"
        )


class ServerData:
    """Per-server choices in SQLite or PostgreSQL.

    The watched channels and the servers that answer without threads are also held in memory, read
    once at the start and changed only through this object. That is right with several processes
    on one database as long as each server is handled by one process only, as with shards: no other
    process changes this one's servers. A server that moves to this process when the shards are
    dealt out anew is read at this process's (re)start, which is when that happens.
    """

    def __init__(self, folder: Path, database_url: str = "") -> None:
        """The data in `servers.sqlite3` in `folder`, or in the database at `database_url` if one is given."""
        self._db = open_database(folder / FILE_NAME, database_url, _SCHEMA)
        self._lock = threading.Lock()
        # A file from before `seq` (only SQLite's can be), or a database from before notices were told apart
        # from questions (those logged before stay counted as asked: nothing tells them apart).
        self._db.add_column(
            "watched_channels", "seq", "BIGINT NOT NULL DEFAULT 0", "UPDATE watched_channels SET seq = rowid"
        )
        self._db.add_column("questions", "notice", "INTEGER NOT NULL DEFAULT 0")
        self._watched = {(g, c) for g, c in self._db.rows("SELECT guild_id, channel_id FROM watched_channels")}
        self._no_threads = {
            g for (g,) in self._db.rows("SELECT guild_id FROM server_settings WHERE answer_threads = 0")
        }
        self.follows = Follows(self._db)
        self.announcements = Announcements(self._db)

    def answers_in_threads(self, guild_id: int) -> bool:
        """Whether answers to mentions and ask-channel messages open a thread (the default), from memory."""
        return guild_id not in self._no_threads

    def set_answers_in_threads(self, guild_id: int, enabled: bool) -> None:
        with self._lock:
            self._db.change(
                "INSERT INTO server_settings (guild_id, answer_threads) VALUES (?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET answer_threads = excluded.answer_threads",
                (guild_id, int(enabled)),
            )
            (self._no_threads.discard if enabled else self._no_threads.add)(guild_id)

    def is_watched(self, guild_id: int, channel_id: int) -> bool:
        """From memory: cheap enough for every message."""
        return (guild_id, channel_id) in self._watched

    def watched(self, guild_id: int) -> list[int]:
        """The server's watched channel ids, in the order they were added."""
        with self._lock:
            return [
                r[0]
                for r in self._db.rows(
                    "SELECT channel_id FROM watched_channels WHERE guild_id = ? ORDER BY seq, channel_id", (guild_id,)
                )
            ]

    def watch(self, guild_id: int, channel_id: int, added_by: int) -> bool:
        """Watch a channel; False if it already was."""
        with self._lock:
            added = (
                self._db.change(
                    "INSERT INTO watched_channels (guild_id, channel_id, added_by, seq) VALUES (?, ?, ?, "
                    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM watched_channels WHERE guild_id = ?)) ON CONFLICT DO NOTHING",
                    (guild_id, channel_id, added_by, guild_id),
                )
                > 0
            )
            self._watched.add((guild_id, channel_id))
        return added

    def unwatch(self, guild_id: int, channel_id: int) -> bool:
        """Stop watching a channel; False if it was not watched."""
        with self._lock:
            removed = (
                self._db.change(
                    "DELETE FROM watched_channels WHERE guild_id = ? AND channel_id = ?", (guild_id, channel_id)
                )
                > 0
            )
            self._watched.discard((guild_id, channel_id))
        return removed

    # -- the question log ------------------------------------------------------------------------

    def log_question(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        question: str,
        searched: str,
        answered: bool,
        quotes: Sequence[tuple[str, str, str]],
        notice: bool = False,
    ) -> int:
        """Record a question asked in a server and the quotes its answer showed, as (article id, title,
        text), or with `notice` the answer a followed question was sent unasked; its id (for feedback)."""
        with self._lock:
            row = self._db.one(
                "INSERT INTO questions (guild_id, channel_id, user_id, question, searched, answered, cited, asked_at, "
                "notice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    guild_id,
                    channel_id,
                    user_id,
                    question,
                    searched,
                    int(answered),
                    json.dumps([{"article_id": a, "title": t, "text": x} for a, t, x in quotes], ensure_ascii=False),
                    now_stamp(),
                    int(notice),
                ),
            )
        assert row is not None  # RETURNING gives the inserted row
        return int(row[0])

    def vote(self, question_id: int, guild_id: int, user_id: int, helpful: bool) -> bool:
        """Record (or change) a user's vote on an answer of this server; False if there is no such answer
        (deleted with the log, or another server's)."""
        with self._lock:
            # One statement: the answer is looked for and voted on at once, so a deletion cannot come between.
            return (
                self._db.change(
                    "INSERT INTO votes (question_id, user_id, helpful) SELECT id, ?, ? FROM questions "
                    "WHERE id = ? AND guild_id = ? "
                    "ON CONFLICT (question_id, user_id) DO UPDATE SET helpful = excluded.helpful",
                    (user_id, int(helpful), question_id, guild_id),
                )
                > 0
            )

    def stats(self, guild_id: int) -> ServerStats:
        with self._lock:
            asked, answered = self._db.one(
                "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM questions WHERE guild_id = ? AND notice = 0",
                (guild_id,),
            ) or (0, 0)
            helpful, not_helpful = self._db.one(
                "SELECT COALESCE(SUM(v.helpful), 0), COALESCE(SUM(1 - v.helpful), 0) FROM votes v "
                "JOIN questions q ON q.id = v.question_id WHERE q.guild_id = ?",
                (guild_id,),
            ) or (0, 0)
            cited = Counter(
                title
                for (shown,) in self._db.rows("SELECT cited FROM questions WHERE guild_id = ?", (guild_id,))
                for title in dict.fromkeys(q["title"] for q in json.loads(shown))
            )
            unanswered = [
                r[0]
                for r in self._db.rows(
                    "SELECT question FROM questions WHERE guild_id = ? AND answered = 0 AND notice = 0 "
                    "ORDER BY id DESC LIMIT ?",
                    (guild_id, LISTED),
                )
            ]
            voted_down = [
                r[0]
                for r in self._db.rows(
                    "SELECT q.question FROM questions q WHERE q.guild_id = ? AND EXISTS (SELECT 1 FROM votes v WHERE "
                    "v.question_id = q.id AND v.helpful = 0) ORDER BY q.id DESC LIMIT ?",
                    (guild_id, LISTED),
                )
            ]
        following, noticed = self.follows.counts(guild_id)
        return ServerStats(
            int(asked),
            int(answered),
            int(helpful),
            int(not_helpful),
            tuple(cited.most_common(LISTED)),
            tuple(unanswered),
            tuple(voted_down),
            following,
            noticed,
            self.announcements.count(guild_id),
        )

    def is_empty(self) -> bool:
        """Whether no server has watched a channel, changed a setting, asked or followed a question or chosen
        an announce channel here."""
        with self._lock:
            return not any(
                self._db.rows(f"SELECT 1 FROM {table} LIMIT 1")
                for table in ("watched_channels", "server_settings", "questions", "follows", "announce_channels")
            )

    def copy_from(self, source: ServerData) -> CopiedServers:
        """Copy every server's data from `source` (another database) into this one; what the target
        already has wins. Run again after an interruption, it copies only what is missing: a question
        counts as there when the target has one with the same channel, user, time and text."""
        with source._lock:
            watched = source._db.rows(
                "SELECT guild_id, channel_id, added_by FROM watched_channels ORDER BY guild_id, seq, channel_id"
            )
            settings = source._db.rows("SELECT guild_id, answer_threads FROM server_settings ORDER BY guild_id")
            guilds = {g for (g,) in source._db.rows("SELECT DISTINCT guild_id FROM questions")} - {FORGOTTEN}
        changed: set[int] = set()
        copied_watched = copied_settings = there = 0
        for guild_id, channel_id, added_by in watched:
            if self.watch(guild_id, channel_id, added_by):  # appended in the source's order
                copied_watched += 1
                changed.add(guild_id)
            else:
                there += 1
        for guild_id, answer_threads in settings:
            with self._lock:
                added = (
                    self._db.change(
                        "INSERT INTO server_settings (guild_id, answer_threads) VALUES (?, ?) "
                        "ON CONFLICT (guild_id) DO NOTHING",
                        (guild_id, answer_threads),
                    )
                    > 0
                )
                if added and not answer_threads:
                    self._no_threads.add(guild_id)
            copied_settings += added
            there += not added
            if added:
                changed.add(guild_id)
        copied_questions = copied_votes = 0
        for guild_id in sorted(guilds):
            new, new_votes, old = self._add_question_log(guild_id, *source._question_log(guild_id))
            copied_questions += new
            copied_votes += new_votes
            there += old
            if new:
                changed.add(guild_id)
        copied_follows, follows_there, following = self.follows.copy_from(source.follows)
        changed |= following
        copied_announcements = self.announcements.copy_from(source.announcements)
        return CopiedServers(
            len(changed),
            copied_watched,
            copied_settings,
            copied_questions,
            copied_votes,
            copied_follows,
            copied_announcements,
            there + follows_there,
        )

    def _question_log(self, guild_id: int) -> tuple[list[_Row], dict[int, list[_Row]]]:
        """A server's questions in the order asked, and the votes on each by question id."""
        with self._lock:
            questions = self._db.rows(
                "SELECT id, channel_id, user_id, question, searched, answered, cited, asked_at, notice "
                "FROM questions WHERE guild_id = ? ORDER BY id",
                (guild_id,),
            )
            votes: dict[int, list[_Row]] = {}
            for question_id, user_id, helpful in self._db.rows(
                "SELECT v.question_id, v.user_id, v.helpful FROM votes v JOIN questions q ON q.id = v.question_id "
                "WHERE q.guild_id = ? ORDER BY v.question_id, v.user_id",
                (guild_id,),
            ):
                votes.setdefault(question_id, []).append((user_id, helpful))
        return questions, votes

    def _add_question_log(
        self, guild_id: int, questions: Sequence[_Row], votes: dict[int, list[_Row]]
    ) -> tuple[int, int, int]:
        """Add another database's questions of a server, with their votes, that this one lacks, in one
        transaction (a question is never copied without its votes): (questions added, votes added,
        questions already there)."""
        with self._lock, self._db.transaction():
            # A multiset: the same question asked twice in one second is two questions.
            have = Counter(
                self._db.rows(
                    "SELECT channel_id, user_id, asked_at, question FROM questions WHERE guild_id = ?", (guild_id,)
                )
            )
            added = added_votes = there = 0
            for old_id, channel_id, user_id, question, searched, answered, cited, asked_at, notice in questions:
                key = (channel_id, user_id, asked_at, question)
                if have[key]:
                    have[key] -= 1
                    there += 1
                    continue
                values = (guild_id, channel_id, user_id, question, searched, answered, cited, asked_at, notice)
                # Its own id where that is free (always, into a new database): the feedback buttons under
                # answers already sent name it. Else a new one.
                row = self._db.one(
                    "INSERT INTO questions (id, guild_id, channel_id, user_id, question, searched, answered, cited, "
                    "asked_at, notice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING RETURNING id",
                    (old_id, *values),
                )
                if row is not None:
                    self._db.ids_taken("questions")
                else:
                    row = self._db.one(
                        "INSERT INTO questions (guild_id, channel_id, user_id, question, searched, answered, cited, "
                        "asked_at, notice) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        values,
                    )
                assert row is not None  # RETURNING gives the inserted row
                cast = [(row[0], voter, helpful) for voter, helpful in votes.get(old_id, ())]
                self._db.change_many("INSERT INTO votes (question_id, user_id, helpful) VALUES (?, ?, ?)", cast)
                added += 1
                added_votes += len(cast)
        return added, added_votes, there

    def forget(self, guild_id: int) -> int:
        """Delete a server's question log and its votes; how many questions were deleted. The newest one's
        row stays, emptied and of no server (`FORGOTTEN`): SQLite numbers a new row after the highest id
        left, so without it a new question could take the id an old answer's feedback buttons name."""
        with self._lock, self._db.transaction():
            newest = self._db.one("SELECT MAX(id) FROM questions WHERE guild_id = ?", (guild_id,))
            if newest is None or newest[0] is None:
                return 0
            deleted = self._db.change("DELETE FROM questions WHERE guild_id = ? AND id < ?", (guild_id, newest[0]))
            self._db.change("DELETE FROM votes WHERE question_id = ?", (newest[0],))
            self._db.change(
                "UPDATE questions SET guild_id = ?, channel_id = 0, user_id = 0, question = '', searched = '', "
                "cited = '[]' WHERE id = ?",
                (FORGOTTEN, newest[0]),
            )
            return deleted + 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ServerData:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
