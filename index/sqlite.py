"""Opening the small SQLite files beside the index (feeds, and the bot's per-server data) one way."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A connection for several threads (callers hold their own lock) in autocommit mode, with WAL and
    foreign keys on and `schema` (CREATE … IF NOT EXISTS statements) applied."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(schema)
    return db
