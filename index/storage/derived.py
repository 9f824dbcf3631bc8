"""The indexes derived from the database, and the one protocol that keeps them in step with it.

The database (index/storage/sqlite.py) is the source of truth. Every index built from it (the vectors in
FAISS, the words in tantivy) follows the same cycle: it takes each change the database committed
(`apply`), makes what it took durable (`save`), and can be rebuilt from the database (`rebuild`).
The database records the generation each one was last saved at; `ArticleIndex` opens them, rebuilds
any that is behind (a crash between a database commit and the save after it), and saves them
together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from ..records import Change

if TYPE_CHECKING:
    from .base import Store


class DerivedIndex(Protocol):
    """An index built from the database's chunks."""

    #: Its name in the database's record of generations.
    name: ClassVar[str]
    #: True if it is saved after every batch of changes (cheap: it writes only what changed); False
    #: if only by `ArticleIndex.save` (it writes one whole file).
    saves_each_change: ClassVar[bool]

    def __len__(self) -> int:
        """The chunks it holds (as saved or applied): a check beside the generation."""
        ...

    def apply(self, change: Change) -> None:
        """Take a change the database committed; searches see it once applied (or, for an index
        saved after every change, once saved)."""
        ...

    def save(self) -> None:
        """Make everything applied durable."""
        ...

    def rebuild(self, store: Store) -> None:
        """Match the database again: from scratch, or by catching up where that is cheaper."""
        ...
