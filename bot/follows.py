"""Followed questions of each server (`/follow`): who follows what and where, whether a follow stays
open after its first answer, and the notices sent, one per follow per story.

Kept with the server data (bot/server_data.py: `servers.sqlite3` beside the index or, with
ARTICLEBOT_DATABASE_URL, that database), so that follows survive restarts and every bot process sees
them. A notice is claimed before it is sent, by inserting its (follow, story) row: with several
processes on one database, the one whose insert went in sends it, and no other. Every read and write
names its server, but the record of which articles' texts were checked against the follows (so that a
start checks what was stored while no bot process was checking: the command line's adds, say).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from index import ArticleVersion, Database, same_question

from .stamps import now_stamp

#: Open follows one member may have in one server.
MAX_PER_MEMBER = 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    id {id},
    guild_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    question TEXT NOT NULL,
    keep_open INTEGER NOT NULL,
    followed_at TEXT NOT NULL,
    closed_at TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS follows_member ON follows(guild_id, user_id);
CREATE TABLE IF NOT EXISTS follow_versions (
    guild_id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS follow_checked (
    article_id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS follow_notices (
    follow_id BIGINT NOT NULL REFERENCES follows(id) ON DELETE CASCADE,
    story TEXT NOT NULL,
    article_id TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    PRIMARY KEY (follow_id, story)
);
"""
_COLUMNS = "id, guild_id, channel_id, user_id, question, keep_open, followed_at"
#: The row of `follow_checked` that says articles have been checked here before (it names no article).
_STARTED = ""
#: The `sent_at` of a story a follower was told of without a notice of its own (quoted in the reply to
#: /follow, or named in another story's notice): the follow is not noticed of it, and it counts as no notice.
_TOLD = ""
_CHECKED_IF_NEW = "INSERT INTO follow_checked (article_id, content_hash) VALUES (?, ?) ON CONFLICT DO NOTHING"
#: A server's follows changed (one was made, changed, closed or reopened): its version goes up, so that a
#: process holding them in memory reads them again (bot/cogs/follow.py), this one's change or another's.
_CHANGED = (
    "INSERT INTO follow_versions (guild_id, version) SELECT guild_id, 1 FROM follows WHERE id = ? "
    "ON CONFLICT (guild_id) DO UPDATE SET version = follow_versions.version + 1"
)


@dataclass(frozen=True)
class Follow:
    """An open followed question."""

    id: int
    guild_id: int
    channel_id: int  # where it was followed: where its notices go
    user_id: int
    question: str
    keep_open: bool  # notify again on a new story, rather than close after the first notice
    followed_at: str


class _ClosedMeanwhile(Exception):
    """Another process's notice closed the follow first: this claim is rolled back."""


class TooManyFollows(Exception):
    """A member already follows as many questions in a server as one may."""


class Follows:
    """The followed questions of every server, in SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        """The follows in the server data's database (which its owner, `ServerData`, closes)."""
        database.apply(_SCHEMA)
        self._db = database
        self._lock = threading.Lock()

    def follow(self, guild_id: int, channel_id: int, user_id: int, question: str, keep_open: bool) -> Follow:
        """Follow a question; the member's open follow of the same question (case and spacing aside) if there
        is one (now notified in this channel, open or not as asked). TooManyFollows past MAX_PER_MEMBER."""
        with self._lock, self._db.transaction():
            mine = self._db.rows(
                "SELECT id, question FROM follows WHERE guild_id = ? AND user_id = ? AND closed_at = ''",
                (guild_id, user_id),
            )
            same = next((int(i) for i, asked in mine if same_question(asked) == same_question(question)), None)
            if same is not None:
                self._db.change(
                    "UPDATE follows SET channel_id = ?, keep_open = ? WHERE id = ?", (channel_id, int(keep_open), same)
                )
                follow_id = same
            else:
                if len(mine) >= MAX_PER_MEMBER:
                    raise TooManyFollows(f"you follow {MAX_PER_MEMBER} questions here already; /unfollow one first")
                row = self._db.one(
                    "INSERT INTO follows (guild_id, channel_id, user_id, question, keep_open, followed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (guild_id, channel_id, user_id, question, int(keep_open), now_stamp()),
                )
                assert row is not None  # RETURNING gives the inserted row
                follow_id = int(row[0])
            self._db.change(_CHANGED, (follow_id,))
            found = self._db.one(f"SELECT {_COLUMNS} FROM follows WHERE id = ?", (follow_id,))
        assert found is not None
        return _follow(found)

    def following(self, guild_id: int, user_id: int) -> list[Follow]:
        """A member's open follows in a server, oldest first."""
        with self._lock:
            rows = self._db.rows(
                f"SELECT {_COLUMNS} FROM follows WHERE guild_id = ? AND user_id = ? AND closed_at = '' ORDER BY id",
                (guild_id, user_id),
            )
        return [_follow(r) for r in rows]

    def open_follows(self, guild_id: int | None = None) -> list[Follow]:
        """The open follows of a server (default: of every server), oldest first."""
        where, args = ("AND guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        with self._lock:
            rows = self._db.rows(f"SELECT {_COLUMNS} FROM follows WHERE closed_at = '' {where} ORDER BY id", args)
        return [_follow(r) for r in rows]

    def unfollow(self, guild_id: int, user_id: int | None, follow_id: int) -> bool:
        """Stop a member's follow in this server (`user_id` None: whoever's, as a manager may); False if there is
        no such open follow here."""
        whose, args = ("AND user_id = ?", (user_id,)) if user_id is not None else ("", ())
        with self._lock, self._db.transaction():
            closed = self._db.change(
                f"UPDATE follows SET closed_at = ? WHERE id = ? AND guild_id = ? {whose} AND closed_at = ''",
                (now_stamp(), follow_id, guild_id, *args),
            )
            if closed:
                self._db.change(_CHANGED, (follow_id,))
        return closed > 0

    def claim(self, follow_id: int, story: str, article_id: str, named: bool = False) -> bool:
        """Claim the notice of a follow for a story, before sending it: True for exactly one caller, and
        only while the follow is open; a follow that closes after its first answer is closed by it. A story
        the follower was told of otherwise (`named` in the notice of another story of the same arrival, or
        quoted by the reply to /follow) is claimed so: never noticed, and not counted as a notice."""
        try:
            with self._lock, self._db.transaction():
                row = self._db.one("SELECT keep_open FROM follows WHERE id = ? AND closed_at = ''", (follow_id,))
                if row is None:
                    return False
                # The notice's and the close's: `release` knows a close by its notice. A story `named` in another
                # story's notice is told, not noticed.
                stamp = _TOLD if named else now_stamp()
                claimed = self._db.one(
                    "INSERT INTO follow_notices (follow_id, story, article_id, sent_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (follow_id, story) DO NOTHING RETURNING follow_id",
                    (follow_id, story, article_id, stamp),
                )
                if claimed is None:
                    return False  # this story was noticed already
                # A follow that closes after one answer is closed by its notice. Of two processes claiming
                # it at once for two stories, PostgreSQL lets the second find it closed: that one rolls back.
                closing = "UPDATE follows SET closed_at = ? WHERE id = ? AND closed_at = ''"
                if not row[0] and not named:
                    if self._db.change(closing, (stamp, follow_id)) == 0:
                        raise _ClosedMeanwhile
                    self._db.change(_CHANGED, (follow_id,))
        except _ClosedMeanwhile:
            return False
        return True

    def release(self, follow_id: int, story: str) -> None:
        """Give back a claim whose notice could not be sent: the story may notify again, and a follow that
        its claim closed (closed when the notice was claimed) is open again."""
        with self._lock, self._db.transaction():
            notice = self._db.one(
                "DELETE FROM follow_notices WHERE follow_id = ? AND story = ? RETURNING sent_at", (follow_id, story)
            )
            if notice is not None and self._db.change(
                "UPDATE follows SET closed_at = '' WHERE id = ? AND keep_open = 0 AND closed_at = ?",
                (follow_id, notice[0]),
            ):
                self._db.change(_CHANGED, (follow_id,))

    def end(self, follow_id: int, unsent: Sequence[str] = ()) -> None:
        """Close a follow whatever its member: its channel is gone, or the bot may no longer post there; the
        notice claimed for the stories `unsent` was not sent, so it is not counted."""
        with self._lock, self._db.transaction():
            for story in unsent:
                self._db.change("DELETE FROM follow_notices WHERE follow_id = ? AND story = ?", (follow_id, story))
            if self._db.change(
                "UPDATE follows SET closed_at = ? WHERE id = ? AND closed_at = ''", (now_stamp(), follow_id)
            ):
                self._db.change(_CHANGED, (follow_id,))

    def checked(self, versions: Iterable[tuple[str, str]]) -> None:
        """Record that these (article id, text hash) were checked against the follows (not that a start
        has read what was stored: only `unchecked` says that)."""
        with self._lock, self._db.transaction():
            self._db.change_many(
                "INSERT INTO follow_checked (article_id, content_hash) VALUES (?, ?) "
                "ON CONFLICT (article_id) DO UPDATE SET content_hash = excluded.content_hash",
                list(versions),
            )

    def unchecked(self, stored: Sequence[ArticleVersion]) -> list[tuple[ArticleVersion, bool]]:
        """Of the articles stored now, those whose text was never checked against the follows (each with
        whether another text of it was): stored while no bot process was checking. The first time, every
        article stored is taken as checked: follows are about what comes next, not a backlog. Forgets the
        articles removed since."""
        with self._lock, self._db.transaction():
            seen = {str(r[0]): str(r[1]) for r in self._db.rows("SELECT article_id, content_hash FROM follow_checked")}
            if _STARTED not in seen:
                self._db.change_many(_CHECKED_IF_NEW, [(_STARTED, ""), *((a.id, a.content_hash) for a in stored)])
                return []
            gone = set(seen) - {a.id for a in stored} - {_STARTED}
            if gone:
                condition, args = self._db.one_of("article_id", sorted(gone))
                self._db.change(f"DELETE FROM follow_checked WHERE {condition}", args)
        return [(a, a.id in seen) for a in stored if seen.get(a.id) != a.content_hash]

    def version(self, guild_id: int) -> int:
        """A number that changes whenever a server's open follows do (in any process)."""
        with self._lock:
            row = self._db.one("SELECT version FROM follow_versions WHERE guild_id = ?", (guild_id,))
        return int(row[0]) if row else 0

    def guilds(self) -> list[int]:
        """The servers with open follows."""
        with self._lock:
            return [int(r[0]) for r in self._db.rows("SELECT DISTINCT guild_id FROM follows WHERE closed_at = ''")]

    def copy_from(self, source: Follows) -> tuple[int, int, set[int]]:
        """Copy every follow of `source` (another database), open or closed, with its notices, that this one
        lacks (the same server, member, question and time); (follows copied, follows already there, the
        servers of the copied ones). A follow keeps its id where that is free: the Unfollow buttons under
        notices already sent name it. The record of the articles checked comes along into a database that
        has none (a bot's first start there would take every article as checked)."""
        with source._lock:
            follows = source._db.rows(f"SELECT {_COLUMNS}, closed_at FROM follows ORDER BY id")
            notices: dict[int, list[tuple]] = {}
            for follow_id, *notice in source._db.rows(
                "SELECT follow_id, story, article_id, sent_at FROM follow_notices ORDER BY follow_id, story"
            ):
                notices.setdefault(follow_id, []).append(tuple(notice))
            checked = source._db.rows("SELECT article_id, content_hash FROM follow_checked")
        copied = there = 0
        guilds: set[int] = set()
        with self._lock, self._db.transaction():
            if self._db.one("SELECT 1 FROM follow_checked WHERE article_id = ?", (_STARTED,)) is None:
                self._db.change_many(_CHECKED_IF_NEW, checked)
            have = set(self._db.rows("SELECT guild_id, user_id, question, followed_at FROM follows"))
            for old_id, guild_id, channel_id, user_id, question, keep_open, followed_at, closed_at in follows:
                if (guild_id, user_id, question, followed_at) in have:
                    there += 1
                    continue
                values = (guild_id, channel_id, user_id, question, keep_open, followed_at, closed_at)
                columns = "guild_id, channel_id, user_id, question, keep_open, followed_at, closed_at"
                row = self._db.one(
                    f"INSERT INTO follows (id, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id",
                    (old_id, *values),
                )
                if row is not None:
                    self._db.ids_taken("follows")
                else:
                    row = self._db.one(
                        f"INSERT INTO follows ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", values
                    )
                assert row is not None  # RETURNING gives the inserted row
                self._db.change_many(
                    "INSERT INTO follow_notices (follow_id, story, article_id, sent_at) VALUES (?, ?, ?, ?)",
                    [(row[0], *notice) for notice in notices.get(old_id, ())],
                )
                self._db.change(_CHANGED, (row[0],))
                copied += 1
                guilds.add(int(guild_id))
        return copied, there, guilds

    def counts(self, guild_id: int) -> tuple[int, int]:
        """(open follows, notices sent) of a server, for /stats."""
        with self._lock:
            row = self._db.one(
                "SELECT (SELECT COUNT(*) FROM follows WHERE guild_id = ? AND closed_at = ''), "
                "(SELECT COUNT(*) FROM follow_notices n JOIN follows f ON f.id = n.follow_id "
                "WHERE f.guild_id = ? AND n.sent_at <> ?)",
                (guild_id, guild_id, _TOLD),
            )
        return (int(row[0]), int(row[1])) if row else (0, 0)


def _follow(row: tuple) -> Follow:
    return Follow(int(row[0]), int(row[1]), int(row[2]), int(row[3]), row[4], bool(row[5]), row[6])
