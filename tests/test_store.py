"""The store: add, remove, save and load round trips with real FAISS and SQLite, and crash safety."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from index import ArticleIndex
from index.errors import StoreError
from index.ingest.parse import load_file, parse_text
from index.records import NewArticle, article_key
from index.storage.files import atomic_write
from tests.support.paths import write

pytestmark = pytest.mark.both_stores  # the same tests on SQLite and on PostgreSQL

BRIDGE = (
    "Bridge closes\n\nThe council voted on Tuesday to close the old bridge for repairs. Engineers found corroded steel."
)
MUSEUM = "Museum opens\n\nA new science museum opened downtown with a planetarium and a hall of dinosaur skeletons."


Reopen = Callable[[ArticleIndex], ArticleIndex]


@pytest.fixture
def reopen() -> Iterator[Reopen]:
    """Open a fresh ArticleIndex on an index's folder, as a restarted process would (closing the index
    given, if it is not closed yet); every one opened is closed after the test."""
    opened: list[ArticleIndex] = []

    def again(index: ArticleIndex) -> ArticleIndex:
        index.close()
        opened.append(ArticleIndex(index.folder, index.encoder, index.settings))
        return opened[-1]

    yield again
    for index in opened:
        index.close()


def top_article(index: ArticleIndex, question: str) -> str:
    return index.search(question, k=1)[0].article_id


def test_save_and_load_round_trip(empty_index: ArticleIndex, reopen: Reopen) -> None:
    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))
    empty_index.save()
    before = empty_index.search("dinosaur skeletons", k=2)

    loaded = reopen(empty_index)
    assert {a.id for a in loaded.articles()} == {bridge.article_id, museum.article_id}
    after = loaded.search("dinosaur skeletons", k=2)
    assert [(p.chunk_id, p.text) for p in after] == [(p.chunk_id, p.text) for p in before]
    assert after[0].article_id == museum.article_id
    assert after[0].score == pytest.approx(before[0].score, abs=1e-5)


def test_remove_takes_an_article_out_of_search_and_survives_reload(empty_index: ArticleIndex, reopen: Reopen) -> None:
    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))
    assert top_article(empty_index, "corroded steel bridge") == bridge.article_id
    assert empty_index.remove(bridge.article_id)
    assert not empty_index.remove(bridge.article_id)
    assert top_article(empty_index, "corroded steel bridge") == museum.article_id
    empty_index.save()

    loaded = reopen(empty_index)
    assert [a.id for a in loaded.articles()] == [museum.article_id]
    assert all(p.article_id == museum.article_id for p in loaded.search("corroded steel bridge", k=5))
    assert len(loaded.vectors) == loaded.stats().chunks


def test_a_crash_before_save_loses_nothing_that_was_added(empty_index: ArticleIndex, reopen: Reopen) -> None:
    # The database commits each add; a stale vector file (from before the crash) is rebuilt.
    empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    empty_index.save()
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))  # no save: the process "dies" here
    loaded = reopen(empty_index)
    assert top_article(loaded, "dinosaur skeletons planetarium") == museum.article_id


def test_a_crash_while_saving_leaves_the_previous_index_loadable(
    empty_index: ArticleIndex, monkeypatch, reopen: Reopen
) -> None:
    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    empty_index.save()
    empty_index.add(parse_text(MUSEUM, "file:museum.txt"))

    def crash(*args, **kwargs):
        raise OSError("disk died during fsync")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        empty_index.save()
    monkeypatch.undo()
    folder = empty_index.folder
    assert not list(folder.glob(".*.tmp")), "the temporary file is cleaned up"
    loaded = reopen(empty_index)
    assert len(loaded) == 2
    assert top_article(loaded, "corroded steel") == bridge.article_id


@pytest.mark.sqlite_only  # PostgreSQL keeps the vectors itself: there is no vector file
def test_a_damaged_vector_file_is_rebuilt_from_the_database(empty_index: ArticleIndex, reopen: Reopen) -> None:
    check_damage_is_repaired(empty_index, reopen, "vectors.faiss", b"garbage")


def test_a_damaged_lexical_index_is_rebuilt_from_the_database(empty_index: ArticleIndex, reopen: Reopen) -> None:
    check_damage_is_repaired(empty_index, reopen, "lexical/meta.json", b"{ not json")


def check_damage_is_repaired(empty_index: ArticleIndex, reopen: Reopen, pattern: str, garbage: bytes) -> None:
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))
    empty_index.save()
    [saved] = empty_index.folder.glob(pattern)
    saved.write_bytes(garbage)
    loaded = reopen(empty_index)
    hit = loaded.search("dinosaur museum", k=1)[0]
    assert hit.article_id == museum.article_id and hit.lexical > 0 and hit.dense > 0


def test_atomic_write_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    atomic_write(target, b"old")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_an_index_refuses_another_model(tmp_path: Path, open_store) -> None:
    open_store(tmp_path, "model-a", 8).close()
    with pytest.raises(StoreError, match="model-a"):
        open_store(tmp_path, "model-b", 8)


def test_add_needs_one_vector_per_chunk(tmp_path: Path, open_store) -> None:
    store = open_store(tmp_path, "m", 4)
    article = parse_text(BRIDGE, "file:bridge.txt")
    with pytest.raises(ValueError):
        store.add(NewArticle(article, [], np.ones((1, 4), dtype=np.float32)))
    assert len(store) == 0


def test_reingesting_is_a_no_op_a_new_version_replaces_and_copies_are_recognised(
    empty_index: ArticleIndex, tmp_path: Path
) -> None:
    path = write(tmp_path, "news/bridge.txt", BRIDGE)
    first = empty_index.add(load_file(path))
    assert first.status == "added"
    generation = empty_index.store.generation
    assert empty_index.add(load_file(path)).status == "unchanged"
    assert empty_index.store.generation == generation

    copy = empty_index.add(load_file(write(tmp_path, "elsewhere/copy.txt", BRIDGE)))
    assert (copy.status, copy.duplicate_of) == ("duplicate", first.article_id)

    path.write_text(BRIDGE.replace("Tuesday", "Friday"), encoding="utf-8")
    second = empty_index.add(load_file(path))
    assert (second.status, second.article_id) == ("updated", first.article_id)
    [stored] = empty_index.articles()
    assert "Friday" in stored.text and "Tuesday" not in stored.text
    assert all("Tuesday" not in p.text for p in empty_index.search("When did the council vote?", k=5))


def test_copies_within_one_batch_are_recognised(empty_index: ArticleIndex) -> None:
    first, copy, other = empty_index.add_many(
        [parse_text(BRIDGE, "file:a.txt"), parse_text(BRIDGE, "file:b.txt"), parse_text(MUSEUM, "file:c.txt")]
    )
    assert (first.status, copy.status, other.status) == ("added", "duplicate", "added")
    assert copy.duplicate_of == first.article_id
    assert len(empty_index.articles()) == 2


def test_a_reopened_index_uses_its_lexical_index_as_it_is(
    empty_index: ArticleIndex, monkeypatch, reopen: Reopen
) -> None:
    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    empty_index.add(parse_text(MUSEUM, "file:museum.txt"))  # no save needed: each change is committed

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the lexical index was rebuilt from the database")

    monkeypatch.setattr(type(empty_index.store), "chunk_texts", no_rebuild)
    loaded = reopen(empty_index)
    assert top_article(loaded, "corroded steel") == bridge.article_id
    assert loaded.search("corroded steel", k=1)[0].lexical > 0


CRASHING_CHILD = """
import os, sys
from pathlib import Path
from index import ArticleIndex, Settings, load_encoder, parse_text
folder, action, what = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
settings = Settings.from_env()
index = ArticleIndex(folder, load_encoder(settings), settings)
index.lexical.save = lambda: os._exit(3)  # the process dies right after the database committed
index.add(parse_text(what, "file:zoo.txt")) if action == "add" else index.remove(what)
"""


def test_a_crash_between_the_database_and_the_lexical_save_is_repaired(
    empty_index: ArticleIndex, database_url: str, reopen: Reopen
) -> None:
    import subprocess
    import sys

    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))
    empty_index.close()
    for action, what in (("add", "Zoo\n\nThe zoo welcomed two pandas from Chengdu."), ("remove", bridge.article_id)):
        child = subprocess.run(
            [sys.executable, "-c", CRASHING_CHILD, str(empty_index.folder), action, what],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "ARTICLEBOT_DATABASE_URL": database_url},
        )
        assert child.returncode == 3, child.stderr
    loaded = reopen(empty_index)
    assert {a.title for a in loaded.articles()} == {"Zoo", "Museum opens"}
    assert len(loaded.lexical) == loaded.stats().chunks
    assert (
        top_article(loaded, "pandas Chengdu") == article_key("file:zoo.txt")
        and loaded.search("pandas", k=1)[0].lexical > 0
    )
    assert all(p.article_id != bridge.article_id for p in loaded.search("corroded steel bridge", k=5, mode="bm25"))
    assert top_article(loaded, "dinosaur planetarium") == museum.article_id


def test_a_listing_leaves_the_texts_out(empty_index: ArticleIndex) -> None:
    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    [listed] = empty_index.articles(text=False)
    [whole] = empty_index.articles()
    assert listed.text == "" and whole.text.startswith("The council voted")
    assert listed == whole.__class__(**{**whole.__dict__, "text": ""}) and listed.id == bridge.article_id


def test_lexical_scores_follow_adds_and_removes_without_a_save(empty_index: ArticleIndex) -> None:
    bridge = empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    assert empty_index.search("corroded steel", k=1)[0].lexical > 0
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))
    assert empty_index.search("planetarium dinosaur", k=1)[0].article_id == museum.article_id
    empty_index.remove(bridge.article_id)
    assert all(p.lexical == 0 for p in empty_index.search("corroded steel", k=5))


def test_chunk_ids_are_never_reused(empty_index: ArticleIndex, reopen: Reopen) -> None:
    empty_index.add(parse_text(BRIDGE, "file:bridge.txt"))
    museum = empty_index.add(parse_text(MUSEUM, "file:museum.txt"))
    museum_ids = empty_index.store.article_chunk_ids(museum.article_id)
    empty_index.remove(museum.article_id)  # the newest chunks go
    again = empty_index.add(parse_text(MUSEUM.replace("new", "big"), "file:museum2.txt"))
    assert min(empty_index.store.article_chunk_ids(again.article_id)) > max(museum_ids)
    reopened = reopen(empty_index)
    third = reopened.add(parse_text("Zoo\n\nThe zoo welcomed two pandas.", "file:zoo.txt"))
    assert min(reopened.store.article_chunk_ids(third.article_id)) > max(museum_ids)


@pytest.mark.sqlite_only  # a SQLite file made by an earlier version
def test_an_index_from_before_chunk_texts_and_sentence_cues_answers_as_before(seed_index: ArticleIndex) -> None:
    import sqlite3

    question = "How did China react?"
    before = seed_index.ask(question)
    seed_index.close()
    db = sqlite3.connect(seed_index.folder / "articles.sqlite3")
    for table, column in (("chunks", "text"), ("sentences", "terms"), ("sentences", "cues")):
        db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")  # as the previous version made it
    db.commit()
    db.close()
    reopened = ArticleIndex(seed_index.folder, seed_index.encoder, seed_index.settings)
    assert reopened.ask(question) == before
    rows = reopened.store.sentences(reopened.store.chunk_ids().tolist())
    assert (rows.cues >= 0).all() and all(rows.terms)
    article = reopened.store.articles()[0]
    assert all(c.text == article.text[c.start : c.end] for c in reopened.store.all_chunks())


def test_messages_name_a_database_without_its_password() -> None:
    from index.storage.database import redact

    for url in (
        "postgresql://u:secret@h/db",
        "postgresql://u:se/cret@h/db",
        "postgresql://u:se@cret@h/db",
        "postgresql://u@h/db?password=secret",
        "postgresql:///db?user=u&PASSWORD=secret&host=/tmp",
    ):
        assert "secret" not in redact(url) and "cret" not in redact(url), redact(url)
    assert redact("postgresql://u@h:5432/db?sslmode=require") == "postgresql://u@h:5432/db?sslmode=require"
