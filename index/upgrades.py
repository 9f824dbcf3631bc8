"""One-time upgrades of an index an older version made, run when it is opened, for what the database
alone cannot fill in (the columns themselves are added by index/storage/sqlite.py; the story
signatures of older articles by index/ingest/stories.py's StoryKeeper, when it first needs them)."""

from __future__ import annotations

from collections.abc import Callable

from .answer.quotes import sentence_facts
from .records import Span
from .storage.base import Store


def add_sentence_facts(store: Store, analyze: Callable[[str], list[str]]) -> None:
    """Read the terms and cues of the sentences an older version stored without them (`analyze`: the
    lexical index's analyzer), once: the store remembers that they are all there."""
    for _, text, rows in store.sentences_without_facts():
        facts = sentence_facts(text, [Span(start, end) for _, start, end in rows], analyze)
        store.set_sentence_facts([(*fact, rowid) for fact, (rowid, _, _) in zip(facts, rows)])
    store.sentence_facts_done()
