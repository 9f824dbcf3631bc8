"""Announcements of each server (`/announce`): the channel its new articles are announced in, and the
post of each story announced there, so that a near-copy of a story edits that post instead of posting
again.

Kept with the server data (bot/server_data.py), so that a story announced before a restart, or by
another bot process, is still one post. A story's post is claimed before it is sent, by inserting its
(server, story) row: of two processes, the one whose insert went in posts, and no other.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Literal

from index import Database

from .stamps import now_stamp

_SCHEMA = """
CREATE TABLE IF NOT EXISTS announce_channels (
    guild_id BIGINT PRIMARY KEY,
    channel_id BIGINT NOT NULL,
    set_by BIGINT NOT NULL,
    set_at TEXT NOT NULL,
    broken TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS announced_stories (
    guild_id BIGINT NOT NULL,
    story TEXT NOT NULL,
    channel_id BIGINT NOT NULL,
    message_id BIGINT NOT NULL DEFAULT 0,
    article_ids TEXT NOT NULL,  -- JSON list, in the order they arrived: the first is the post's
    announced_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, story)
);
"""


@dataclass(frozen=True)
class AnnounceChannel:
    """Where a server's new articles are announced, and who chose it (told if the bot cannot post there)."""

    guild_id: int
    channel_id: int
    set_by: int
    #: Why the bot could not post there, once it could not ("" while it can): nothing is posted until set again.
    broken: str


@dataclass(frozen=True)
class StoryClaim:
    """What to do for an article of a story: `post` a new announcement, `edit` the story's post (a near-copy
    arrived: `article_ids` are all of the story's articles, the first the post's), or nothing (`known`)."""

    action: Literal["post", "edit", "known"]
    message_id: int = 0
    channel_id: int = 0
    article_ids: tuple[str, ...] = ()


class Announcements:
    """Every server's announce channel and announced stories, in SQLite or PostgreSQL."""

    def __init__(self, database: Database) -> None:
        """In the server data's database (which its owner, `ServerData`, closes)."""
        database.apply(_SCHEMA)
        self._db = database
        self._lock = threading.Lock()

    def channel(self, guild_id: int) -> AnnounceChannel | None:
        with self._lock:
            row = self._db.one(
                "SELECT guild_id, channel_id, set_by, broken FROM announce_channels WHERE guild_id = ?", (guild_id,)
            )
        return AnnounceChannel(int(row[0]), int(row[1]), int(row[2]), row[3]) if row else None

    def set_channel(self, guild_id: int, channel_id: int, set_by: int) -> None:
        """Announce in this channel from now on (a channel the bot could not post in is tried again)."""
        with self._lock:
            self._db.change(
                "INSERT INTO announce_channels (guild_id, channel_id, set_by, set_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (guild_id) DO UPDATE SET channel_id = excluded.channel_id, set_by = excluded.set_by, "
                "set_at = excluded.set_at, broken = ''",
                (guild_id, channel_id, set_by, now_stamp()),
            )

    def stop(self, guild_id: int) -> bool:
        """Announce nothing any more; False if nothing was announced."""
        with self._lock:
            return self._db.change("DELETE FROM announce_channels WHERE guild_id = ?", (guild_id,)) > 0

    def broke(self, guild_id: int, channel_id: int, reason: str) -> bool:
        """The bot cannot post in the announce channel: stop announcing there until it is set again. True
        for the first caller only (who tells the manager), so that it is reported once."""
        with self._lock:
            return (
                self._db.change(
                    "UPDATE announce_channels SET broken = ? WHERE guild_id = ? AND channel_id = ? AND broken = ''",
                    (reason or "cannot post", guild_id, channel_id),
                )
                > 0
            )

    def claim(self, guild_id: int, story: str, article_id: str, channel_id: int) -> StoryClaim:
        """Claim the announcement of an article of `story` in a server (before posting or editing it)."""
        with self._lock, self._db.transaction():
            row = self._db.one(
                "INSERT INTO announced_stories (guild_id, story, channel_id, article_ids, announced_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, story) DO NOTHING RETURNING guild_id",
                (guild_id, story, channel_id, json.dumps([article_id]), now_stamp()),
            )
            if row is not None:
                return StoryClaim("post", channel_id=channel_id, article_ids=(article_id,))
            # Lock the story's row (a no-op update, in either database) before reading what it lists, so that
            # two processes adding near-copies at once each add theirs.
            self._db.change(
                "UPDATE announced_stories SET story = story WHERE guild_id = ? AND story = ?", (guild_id, story)
            )
            found = self._db.one(
                "SELECT channel_id, message_id, article_ids FROM announced_stories WHERE guild_id = ? AND story = ?",
                (guild_id, story),
            )
            assert found is not None  # the insert met it
            ids = tuple(json.loads(found[2]))
            if article_id in ids or not found[1]:
                return StoryClaim("known")  # this article, or a story whose post was never sent
            ids = (*ids, article_id)
            self._db.change(
                "UPDATE announced_stories SET article_ids = ? WHERE guild_id = ? AND story = ?",
                (json.dumps(list(ids)), guild_id, story),
            )
            return StoryClaim("edit", int(found[1]), int(found[0]), ids)

    def release(self, guild_id: int, story: str) -> None:
        """Give back the claim of a story whose post could not be sent, so that it may be announced later."""
        with self._lock:
            self._db.change(
                "DELETE FROM announced_stories WHERE guild_id = ? AND story = ? AND message_id = 0", (guild_id, story)
            )

    def posted(self, guild_id: int, story: str, message_id: int) -> None:
        """The story's post was sent: its near-copies edit this message."""
        with self._lock:
            self._db.change(
                "UPDATE announced_stories SET message_id = ? WHERE guild_id = ? AND story = ?",
                (message_id, guild_id, story),
            )

    def count(self, guild_id: int) -> int:
        """Stories announced in a server, for /stats."""
        with self._lock:
            row = self._db.one(
                "SELECT COUNT(*) FROM announced_stories WHERE guild_id = ? AND message_id <> 0", (guild_id,)
            )
        return int(row[0]) if row else 0

    def copy_from(self, source: Announcements) -> int:
        """Copy the announce channels and announced stories of `source` (another database) that this one
        lacks; how many rows were copied."""
        with source._lock:
            channels = source._db.rows("SELECT guild_id, channel_id, set_by, set_at, broken FROM announce_channels")
            stories = source._db.rows(
                "SELECT guild_id, story, channel_id, message_id, article_ids, announced_at FROM announced_stories"
            )
        with self._lock, self._db.transaction():
            copied = sum(
                self._db.change(
                    "INSERT INTO announce_channels (guild_id, channel_id, set_by, set_at, broken) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    row,
                )
                for row in channels
            )
            copied += sum(
                self._db.change(
                    "INSERT INTO announced_stories (guild_id, story, channel_id, message_id, article_ids, "
                    "announced_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    row,
                )
                for row in stories
            )
        return copied
