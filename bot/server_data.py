"""What each server chose, kept in SQLite beside the index (`servers.sqlite3`): its watched channels.

Every read and write names its server, so one server's choices never reach another. Calls are
short and run in worker threads (`asyncio.to_thread`) from the bot; the watched channels are also
kept in memory, since every message in every channel is checked against them.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

FILE_NAME = "servers.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS watched_channels (
    guild_id INTEGER NOT NULL,
    channel_id INTEGER NOT NULL,
    added_by INTEGER NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);
"""


class ServerData:
    """Per-server choices in one SQLite file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / FILE_NAME, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._watched = {(g, c) for g, c in self._db.execute("SELECT guild_id, channel_id FROM watched_channels")}

    def is_watched(self, guild_id: int, channel_id: int) -> bool:
        """From memory: cheap enough for every message."""
        return (guild_id, channel_id) in self._watched

    def watched(self, guild_id: int) -> list[int]:
        """The server's watched channel ids, in the order they were added."""
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT channel_id FROM watched_channels WHERE guild_id = ? ORDER BY rowid", (guild_id,))]

    def watch(self, guild_id: int, channel_id: int, added_by: int) -> bool:
        """Watch a channel; False if it already was."""
        with self._lock:
            added = self._db.execute("INSERT OR IGNORE INTO watched_channels VALUES (?, ?, ?)",
                                     (guild_id, channel_id, added_by)).rowcount > 0
            self._watched.add((guild_id, channel_id))
        return added

    def unwatch(self, guild_id: int, channel_id: int) -> bool:
        """Stop watching a channel; False if it was not watched."""
        with self._lock:
            removed = self._db.execute("DELETE FROM watched_channels WHERE guild_id = ? AND channel_id = ?",
                                       (guild_id, channel_id)).rowcount > 0
            self._watched.discard((guild_id, channel_id))
        return removed

    def close(self) -> None:
        with self._lock:
            self._db.close()
