"""Several processes, one PostgreSQL index: a change made by one is answered by the others within
2 seconds (the change log, LISTEN/NOTIFY), by meaning and by words (each process's own BM25 index),
and writers in separate processes lose nothing and never mix up chunk ids."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from index import ArticleIndex, Scope, Settings, StoredElsewhere
from index.ingest.parse import parse_text
from tests.support.paths import REPO

VISIBLE_WITHIN = 2.0
BRIDGE = (
    "Bridge closes\n\nThe council voted on Tuesday to close the old bridge for repairs. Engineers found corroded steel."
)


@pytest.fixture
def two_processes(postgres_url: str, tmp_path: Path, encoder) -> Iterator[tuple[ArticleIndex, ArticleIndex]]:
    """Two indexes on one database, each with its own folder, as two bot processes have them."""
    opened = [
        ArticleIndex(tmp_path / name, encoder, Settings(index_dir=tmp_path / name, database_url=postgres_url))
        for name in ("one", "two")
    ]
    yield opened[0], opened[1]
    for index in opened:
        index.close()


def within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until `check()` holds; fails the test after `seconds`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not seen within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_an_add_and_a_remove_in_one_process_reach_the_other_within_two_seconds(two_processes) -> None:
    one, two = two_processes
    added = one.add(parse_text(BRIDGE, "file:bridge.txt"))

    def answered() -> bool:
        answer = two.ask("Why was the old bridge closed?")
        return answer.answered and answer.quotes[0].article_id == added.article_id

    within(VISIBLE_WITHIN, answered)
    # Found by its words too: the other process's BM25 index took the change.
    within(
        VISIBLE_WITHIN, lambda: any(p.article_id == added.article_id for p in two.search("corroded steel", mode="bm25"))
    )
    assert [a.id for a in two.articles()] == [added.article_id]

    assert two.remove(added.article_id)
    within(VISIBLE_WITHIN, lambda: not one.search("corroded steel", mode="bm25"))
    assert not one.ask("Why was the old bridge closed?").answered
    assert len(one.lexical) == len(two.lexical) == 0


def test_each_article_another_process_stores_is_told_once_with_its_collection_and_none_of_its_own(
    two_processes,
) -> None:
    one, two = two_processes
    told: list[StoredElsewhere] = []
    one.when_stored_elsewhere(told.append)
    one.add(parse_text(BRIDGE, "file:own.txt"))  # this process's own: not told
    shared = two.add(parse_text(BRIDGE.replace("old bridge", "iron bridge"), "file:bridge.txt"))
    kept = two.add(
        parse_text("Port news\n\nThe harbour master retired after forty years.", "file:port.txt"), Scope.of_server(77)
    )
    within(VISIBLE_WITHIN, lambda: len(told) == 2)
    assert [(t.result.article_id, t.result.status, t.collection) for t in told] == [
        (shared.article_id, "added", ""),
        (kept.article_id, "added", "77"),
    ], "in the order they were stored; the listener's own process's add is not among them"
    assert told[0].result.title == "Bridge closes" and told[0].result.chunks >= 1
    assert Scope.server_of(told[1].collection) == 77 and Scope.server_of(told[0].collection) is None

    changed = two.add(parse_text(BRIDGE.replace("Tuesday", "Wednesday"), "file:bridge.txt"))
    assert changed.status == "updated"
    two.remove(kept.article_id)
    within(VISIBLE_WITHIN, lambda: one.generation == two.generation)
    assert [(t.result.article_id, t.result.status) for t in told[2:]] == [(shared.article_id, "updated")], (
        "the new text is told; the removal, taken too, is not an article stored"
    )


def test_a_process_that_was_stopped_catches_up_when_it_opens_again(two_processes, tmp_path: Path, encoder) -> None:
    one, two = two_processes
    folder = two.folder
    two.close()
    added = one.add(parse_text(BRIDGE, "file:bridge.txt"))
    again = ArticleIndex(folder, encoder, two.settings)
    try:
        hits = again.search("corroded steel", mode="bm25")
        assert hits and hits[0].article_id == added.article_id
    finally:
        again.close()


WRITER = """
import sys
from pathlib import Path
from index import ArticleIndex, Settings, load_encoder
from index import parse_text
folder, name = Path(sys.argv[1]), sys.argv[2]
settings = Settings.from_env()
index = ArticleIndex(folder, load_encoder(settings), settings)
for n in range(12):
    body = " ".join(f"Report {name}{n} covers token{name}{n} in the town of place{name}{n}." for _ in range(6))
    index.add(parse_text(f"{name} {n}\\n\\n{body}", f"file:{name}{n}.txt"))
    print("added", n, flush=True)
index.close()
"""


def test_writers_in_two_processes_at_once_lose_nothing(two_processes, postgres_url: str, tmp_path: Path) -> None:
    one, _ = two_processes
    env = {**os.environ, "PYTHONPATH": str(REPO), "ARTICLEBOT_DATABASE_URL": postgres_url}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path / f"writer-{name}"), name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alpha", "beta")
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
        assert out.count("added") == 12
    within(VISIBLE_WITHIN, lambda: len(one.lexical) == one.stats().chunks)
    assert len(one.articles()) == 24
    chunks = one.store.all_chunks()
    assert len({c.id for c in chunks}) == len(chunks) == one.stats().chunks
    for name in ("alpha", "beta"):
        for n in (0, 11):
            hit = one.search(f"token{name}{n} place{name}{n}", k=1, mode="bm25")[0]
            assert one.article(hit.article_id).title == f"{name} {n}"


def test_a_grown_collection_is_searched_by_an_ivfflat_index_built_in_the_background(
    postgres_url: str, tmp_path: Path, encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index import Scope
    from index.search import pgvector_index as pg_vectors

    monkeypatch.setattr(pg_vectors, "EXACT_LIMIT", 40)  # the real limit takes thousands of chunks to reach
    index = ArticleIndex(tmp_path / "one", encoder, Settings(index_dir=tmp_path / "one", database_url=postgres_url))
    try:
        towns = [
            "harbour",
            "museum",
            "bridge",
            "election",
            "library",
            "orchard",
            "railway",
            "glacier",
            "festival",
            "vineyard",
        ]
        for n, town in enumerate(towns):
            paragraphs = [
                f"The {town} of district {n} reported item{n}x{p} on day {p}. Officials described the {town}."
                for p in range(6)
            ]
            index.add(
                parse_text(f"{town.title()} report\n\n" + "\n\n".join(paragraphs), f"file:{town}.txt"),
                scope=Scope.of_server(1) if n % 2 else Scope.everything(),
            )
        assert index.stats().vector_search == "exact"
        index.save()
        index.vectors.wait_for_build(timeout=60)
        assert index.stats().vector_search == "ivfflat"
        hit = index.search("What did the glacier of district 7 report?", k=1, mode="dense")[0]
        assert index.article(hit.article_id).title == "Glacier report"
        # A server's search keeps to what it sees, and still finds its own article.
        scoped = index.search("What did the museum report?", k=10, mode="dense", scope=Scope.of_server(1))
        assert index.article(scoped[0].article_id).title == "Museum report"
        shared = index.search("What did the museum report?", k=10, mode="dense", scope=Scope.of_server(2))
        assert all(index.article(p.article_id).collection == "" for p in shared)
    finally:
        index.close()


def test_a_question_asked_before_another_process_removal_is_followed_does_not_fail(two_processes) -> None:
    one, two = two_processes
    added = one.add(parse_text(BRIDGE, "file:bridge.txt"))
    within(VISIBLE_WITHIN, lambda: bool(two.search("corroded steel", mode="bm25")))
    with two._lock:  # two's follower waits, as it does while a question holds the lock
        assert one.remove(added.article_id)
        # two's BM25 index still names the removed chunks, which the database no longer has
        assert not two.ask("Which steel was corroded?").answered


def _other_connections(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        return db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()[0]


def test_closing_an_index_ends_its_listener_and_its_connections(postgres_url: str, tmp_path: Path, encoder) -> None:
    import threading

    before = set(threading.enumerate())  # other tests' indexes may still be open
    index = ArticleIndex(tmp_path / "one", encoder, Settings(index_dir=tmp_path / "one", database_url=postgres_url))
    within(VISIBLE_WITHIN, lambda: _other_connections(postgres_url) >= 2)  # the pool's and the listener's
    started = time.monotonic()
    index.close()
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "articlebot-changes" and t not in before]
    # A server process leaves pg_stat_activity a moment after its client hung up.
    within(VISIBLE_WITHIN, lambda: _other_connections(postgres_url) == 0)


def test_questions_do_not_fail_after_the_server_dropped_the_connections(
    postgres_url: str, tmp_path: Path, encoder
) -> None:
    import psycopg

    index = ArticleIndex(tmp_path / "one", encoder, Settings(index_dir=tmp_path / "one", database_url=postgres_url))
    try:
        index.add(parse_text(BRIDGE, "file:bridge.txt"))
        with psycopg.connect(postgres_url, autocommit=True) as db:  # as a restarted server does
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        assert index.ask("Why was the old bridge closed?").answered
    finally:
        index.close()


FERRY = "Ferry sails again\n\nThe harbour ferry sailed again on Monday after a strike by its crew ended."


def test_a_process_catching_up_while_another_adds_keeps_no_removed_chunk(
    two_processes, encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from index.storage.postgres import PostgresStore

    one, two = two_processes
    bridge = one.add(parse_text(BRIDGE, "file:bridge.txt"))
    within(VISIBLE_WITHIN, lambda: len(two.lexical) == one.stats().chunks)
    folder, settings = two.folder, two.settings
    two.close()
    assert one.remove(bridge.article_id)  # two's BM25 index holds the bridge's chunks when it opens again
    read, added = PostgresStore.chunk_texts, []

    def chunk_texts(self, after: int = 0):
        yield from read(self, after)
        if not added:  # the other process adds while this one catches up: the counts agree again
            added.append(one.add(parse_text(FERRY, "file:ferry.txt")))

    monkeypatch.setattr(PostgresStore, "chunk_texts", chunk_texts)
    again = ArticleIndex(folder, encoder, settings)
    try:
        assert added
        within(VISIBLE_WITHIN, lambda: again.generation == one.generation)
        again.save()  # waits for the follower's save
        assert np.array_equal(np.sort(again.lexical.chunk_ids()), again.store.chunk_ids())
        assert not again.search("corroded steel", mode="bm25")
    finally:
        again.close()


def test_a_folder_opened_on_another_database_at_the_same_generation_is_rebuilt(
    postgres_url: str, postgres_server: str, tmp_path: Path, encoder
) -> None:
    """Generation and count alike say nothing across databases (a recreated or restored one): each numbers its chunks."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    other = postgres_server.replace("/postgres?", f"/{name}?")
    try:
        for url, order, folder in ((postgres_url, (BRIDGE, FERRY), "one"), (other, (FERRY, BRIDGE), "two")):
            index = ArticleIndex(tmp_path / folder, encoder, Settings(index_dir=tmp_path / folder, database_url=url))
            for n, text in enumerate(order):
                index.add(parse_text(text, f"file:{n}.txt"))
            index.close()
        moved = ArticleIndex(tmp_path / "one", encoder, Settings(index_dir=tmp_path / "one", database_url=other))
        try:
            hits = moved.search("corroded steel", mode="bm25")
            assert hits and "corroded" in hits[0].text
        finally:
            moved.close()
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_process_further_behind_than_the_change_log_reaches_is_told_to_rebuild(two_processes) -> None:
    import psycopg

    one, _ = two_processes
    for name in ("a", "b", "c"):
        one.add(parse_text(f"Story {name}\n\nThe {name} report describes the harbour in detail.", f"file:{name}.txt"))
    store = one.store
    assert [c.generation for c in store.changes_after(0)] == [1, 2, 3]
    with psycopg.connect(store.db.url, autocommit=True) as db:
        db.execute("DELETE FROM changes WHERE generation <= 1")  # as the log's pruning does with old changes
    assert store.changes_after(0) is None, "generation 1 is gone: the caller must rebuild"
    assert [c.generation for c in store.changes_after(1)] == [2, 3]
    assert store.changes_after(3) == []
