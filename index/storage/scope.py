"""Which articles a question, a listing or an add concerns: the one rule for collections.

Every article belongs to a collection: "" is shared (the seeds, whatever the command line adds), a
server's id keeps an article to that server. A server sees its own collection and the shared one;
the command line sees every article.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scope:
    """A server's view of the articles, or every article (`collection` None); with `since` (YYYY-MM-DD,
    index/answer/recency.py), only articles published on or after that day, and those with no date."""

    collection: str | None = None
    since: str = ""

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    @classmethod
    def of_server(cls, guild_id: int | None) -> Scope:
        """What a server sees; outside servers (direct messages), the shared articles only."""
        return cls(str(guild_id) if guild_id else "")

    @staticmethod
    def server_of(collection: str) -> int | None:
        """The server whose collection this is; None for the shared one (or any that names no server)."""
        return int(collection) if collection.isdigit() else None

    @property
    def collections(self) -> tuple[str, ...] | None:
        """The collections it sees; None for all."""
        if self.collection is None:
            return None
        return ("", self.collection) if self.collection else ("",)

    def limited_to(self, since: str) -> Scope:
        return Scope(self.collection, since)

    @property
    def owner(self) -> str:
        """The collection an article added here joins (the shared one from the command line)."""
        return self.collection or ""

    def sees(self, collection: str) -> bool:
        seen = self.collections
        return seen is None or collection in seen
