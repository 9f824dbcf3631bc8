"""The indexes derived from the database, and the one protocol that keeps them in step with it.

The database (index/storage/sql_store.py) is the source of truth. Every index built from it (the vectors in
FAISS, the words in tantivy) follows the same cycle: it takes each change the database committed
(`apply`), makes what it took durable (`save`), and can be rebuilt from the database (`rebuild`).
The database records the generation each one was last saved at; `ArticleIndex` opens them, rebuilds
any that is behind (a crash between a database commit and the save after it), and saves them
together.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Protocol

from ..records import Change

if TYPE_CHECKING:
    from .base import Store

log = logging.getLogger(__name__)


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


class DerivedIndexes:
    """The derived indexes of one database, kept in step with it: each committed change is taken by all
    of them in order, they are saved with the generation they hold, any that is behind is rebuilt on
    opening, and the changes other processes commit (a shared PostgreSQL database) are followed on a
    thread of their own.

    `lock` is the index's: searches see either all of an add or none of it. `on_change` is told of each
    change taken, `on_reset` when the changes were too many to take one by one (all is rebuilt), and
    `elsewhere`, if set, of the changes other processes committed, once taken: on the thread that took
    them, which may be an add of this process that ran into them and still holds the lock."""

    def __init__(
        self,
        store: Store,
        derived: tuple[DerivedIndex, ...],
        lock: threading.RLock,
        on_change: Callable[[Change], None],
        on_reset: Callable[[], None],
    ) -> None:
        self.store = store
        self._derived = derived
        self._lock = lock
        self._on_change = on_change
        self._on_reset = on_reset
        self._seen = self._catch_up()  # the generation of the last change the derived indexes took
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None
        self.elsewhere: Callable[[list[Change]], None] | None = None

    @property
    def generation(self) -> int:
        """The generation of the last change the derived indexes took."""
        return self._seen

    def follow_others(self) -> None:
        """Take other processes' changes as they come, if other processes write this database."""
        if self.store.shared:
            self._follower = threading.Thread(
                target=self.store.listen, args=(self.follow, self._stop), name="articlebot-changes", daemon=True
            )
            self._follower.start()

    def stop(self) -> None:
        """Stop following other processes' changes."""
        self._stop.set()
        if self._follower is not None:  # its connection closes with it
            self._follower.join()

    def apply(self, change: Change) -> None:
        """Take one committed change (after any that other processes committed before it)."""
        if change.generation > self._seen + 1:
            self.follow(until=change.generation - 1)
        self._take(change)

    def _take(self, change: Change) -> None:
        for derived in self._derived:
            derived.apply(change)
        self._on_change(change)
        self._seen = max(self._seen, change.generation)

    def follow(self, until: int | None = None) -> None:
        """Take the changes other processes committed (up to generation `until`), and save (the
        PostgreSQL store's listener calls this when they announce one)."""
        with self._lock:
            if self._stop.is_set():
                return  # closed
            changes = self.store.changes_after(self._seen)
            if changes is None:  # this process fell behind what the change log keeps
                behind = self._seen
                self._seen = self._catch_up(force=True)
                self._on_reset()
                if self.elsewhere is not None:
                    log.warning(
                        "fell behind the change log: what other processes stored between generations %d and %d "
                        "was taken in a rebuild, and is not told",
                        behind,
                        self._seen,
                    )
                return
            taken = [c for c in changes if until is None or c.generation <= until]
            for change in taken:
                self._take(change)
            if taken and until is None:
                self.commit()
        if taken and self.elsewhere is not None:
            self.elsewhere(taken)

    def commit(self) -> None:
        """After a batch of changes: save the derived indexes that are saved after every change."""
        generation = self._seen
        for derived in self._derived:
            if derived.saves_each_change:
                self._save(derived, generation)

    def save(self) -> None:
        """Save every derived index that is not saved at the generation it holds."""
        with self._lock:
            generation = self._seen  # what the derived indexes hold (another process may have committed more)
            for derived in self._derived:
                if self.store.saved_generation(derived.name) != generation:
                    self._save(derived, generation)

    def _save(self, derived: DerivedIndex, generation: int) -> None:
        derived.save()
        self.store.set_saved_generation(derived.name, generation)

    def _catch_up(self, force: bool = False) -> int:
        """Rebuild each derived index that is behind the database (a crash between a database commit
        and its save, a damaged or missing file, an index made by an older version, a process that
        was stopped while others changed a shared database); the generation they are at now."""
        generation, chunks = self.store.generation, self.store.count_chunks()
        for derived in self._derived:
            if force or self.store.saved_generation(derived.name) != generation or len(derived) != chunks:
                derived.rebuild(self.store)
                self._save(derived, generation)
        return generation
