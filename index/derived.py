"""The indexes derived from the database, and the one protocol that keeps them in step with it.

The database (index/store.py) is the source of truth. Every index built from it (the vectors in
FAISS, the words in tantivy) follows the same cycle: it takes each change the database committed
(`apply`), makes what it took durable (`save`), and can be rebuilt from the database (`rebuild`).
The database records the generation each one was last saved at; `ArticleIndex` opens them, rebuilds
any that is behind (a crash between a database commit and the save after it), and saves them
together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:
    from .store import Store


def _no_vectors() -> np.ndarray:
    return np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Change:
    """What one database commit did to the chunks of one article: the ids it removed and the chunks it
    added (with the article's collection and title when it added any)."""

    removed: np.ndarray  # int64 chunk ids
    added: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    collection: str = ""
    title: str = ""
    texts: tuple[str, ...] = ()  # the added chunks' texts
    vectors: np.ndarray = field(default_factory=_no_vectors)  # the added chunks' vectors, one row each
    #: The database's generation after this commit (each commit adds one).
    generation: int = 0
    #: The article changed, and the story it told before (index/stories.py; "" if it was new).
    article_id: str = ""
    old_story: str = ""


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
