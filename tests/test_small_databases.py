"""The small databases beside the index (feeds; the bot's per-server data) in SQLite and in
PostgreSQL: the same statements on both, and on PostgreSQL several processes at once (each object
below has its own connections, as a process would) that see each other's rows and never fail on
inserting the same row or creating the tables together."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.server_data import FILE_NAME as SERVERS_FILE
from bot.server_data import ServerData
from index import FeedList, open_database
from tests.support.threads import at_once

pytestmark = pytest.mark.both_stores  # the tests taking `database_url` run on SQLite and on PostgreSQL

GUILD, OTHER_GUILD = 1_234_567_890_123_456_789, 987_654_321_098_765_432  # Discord ids need 64 bits


@pytest.fixture
def two_feed_lists(tmp_path: Path, postgres_url: str) -> Iterator[tuple[FeedList, FeedList]]:
    """Two processes' feed lists: their own index folders, one database."""
    lists = (FeedList(tmp_path / "one", postgres_url), FeedList(tmp_path / "two", postgres_url))
    yield lists
    for feeds in lists:
        feeds.close()


@pytest.fixture
def two_servers_data(tmp_path: Path, postgres_url: str) -> Iterator[tuple[ServerData, ServerData]]:
    data = (ServerData(tmp_path / "one", postgres_url), ServerData(tmp_path / "two", postgres_url))
    yield data
    for one in data:
        one.close()


# -- the shared piece ---------------------------------------------------------------------------


def test_one_statement_reads_alike_on_both(tmp_path: Path, database_url: str) -> None:
    db = open_database(
        tmp_path / "small.sqlite3",
        database_url,
        "CREATE TABLE IF NOT EXISTS notes (id {id}, text TEXT NOT NULL UNIQUE);",
    )
    try:
        with db.transaction():
            first = db.one("INSERT INTO notes (text) VALUES (?) RETURNING id", ("50% off",))
            second = db.one("INSERT INTO notes (text) VALUES (?) RETURNING id", ("half price",))
        assert first is not None and second is not None and second[0] > first[0]
        assert db.change("INSERT INTO notes (text) VALUES (?) ON CONFLICT (text) DO NOTHING", ("half price",)) == 0
        assert db.rows("SELECT text FROM notes WHERE text LIKE '%\\%%' ESCAPE '\\' ORDER BY id") == [("50% off",)]
        with pytest.raises(RuntimeError), db.transaction():
            db.change("DELETE FROM notes")
            raise RuntimeError("rolled back")
        assert db.one("SELECT COUNT(*) FROM notes") == (2,)
        assert db.columns("notes") == {"id", "text"}
    finally:
        db.close()


def test_the_tables_are_created_by_processes_starting_together(tmp_path: Path, postgres_url: str) -> None:
    opened = at_once(
        6, lambda n: FeedList(tmp_path / str(n), postgres_url) if n % 2 else ServerData(tmp_path / str(n), postgres_url)
    )
    for one in opened:
        one.close()
    assert not (tmp_path / "0" / SERVERS_FILE).exists(), "nothing in the index folder: it is in the database"


def test_a_database_that_cannot_be_opened_says_which_without_its_password(tmp_path: Path, postgres_url: str) -> None:
    from index.errors import StoreError

    wrong = postgres_url.replace("/t_", "/missing_").replace("://", "://someone:secret@", 1)
    with pytest.raises(StoreError, match="cannot open the database") as raised:
        FeedList(tmp_path, wrong)
    assert "secret" not in str(raised.value)


def test_a_sqlite_without_returning_is_refused_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from index.errors import StoreError

    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(StoreError, match="needs SQLite 3.35 or later; this Python has 3.31.1"):
        FeedList(tmp_path)


# -- feeds --------------------------------------------------------------------------------------


def test_two_processes_see_each_other_s_feeds(two_feed_lists: tuple[FeedList, FeedList]) -> None:
    one, two = two_feed_lists
    feed = one.add("", "https://news.test/feed.xml", "News")
    assert feed is not None and two.feeds() == [feed]
    assert two.add("", feed.url, "News") is None, "the other process knows it is followed"
    two.succeeded(feed, '"v1"', "", "News today", ["a", "b"], 60)
    assert one.seen(feed, ["a", "b", "c"]) == {"a", "b"}
    assert one.feed("", feed.url).etag == '"v1"'  # type: ignore[union-attr]
    assert one.remove("", feed.url) and two.feeds() == []


def test_two_processes_recording_the_same_items_at_once_do_not_fail(two_feed_lists: tuple[FeedList, FeedList]) -> None:
    one, two = two_feed_lists
    feed = one.add("", "https://news.test/feed.xml", "News")
    assert feed is not None
    items = [f"item-{n}" for n in range(40)]
    for _ in range(5):  # a few rounds: the two transactions overlap in some
        at_once(2, lambda n: (one, two)[n].succeeded(feed, "", "", "", items[::-1] if n else items, 60))
        assert sorted(two.items(feed)) == sorted(items)
    added = at_once(2, lambda n: (one, two)[n].add("", "https://news.test/other.xml", "Other"))
    assert sum(a is not None for a in added) == 1, "one process adds it, the other learns it is followed"


def test_a_feed_removed_by_one_process_while_another_records_its_poll(
    two_feed_lists: tuple[FeedList, FeedList],
) -> None:
    one, two = two_feed_lists
    for round_ in range(10):
        feed = one.add("", f"https://news.test/{round_}.xml", "News")
        assert feed is not None
        at_once(
            2,
            lambda n, feed=feed: (
                one.succeeded(feed, "", "", "", ["a", "b", "c"], 60) if n else two.remove("", feed.url)
            ),
        )
        assert one.feeds() == [] and one.items(feed) == []


# -- the bot's per-server data --------------------------------------------------------------------


def test_server_data_keeps_64_bit_ids_and_the_order_of_watching(tmp_path: Path, database_url: str) -> None:
    data = ServerData(tmp_path, database_url)
    try:
        for channel in (30 * 10**17, 10 * 10**17, 20 * 10**17):
            assert data.watch(GUILD, channel, 5 * 10**17)
        assert not data.watch(GUILD, 10 * 10**17, 1)
        assert data.watched(GUILD) == [30 * 10**17, 10 * 10**17, 20 * 10**17] and data.watched(OTHER_GUILD) == []
        data.set_answers_in_threads(GUILD, False)
        data.set_answers_in_threads(GUILD, False)
    finally:
        data.close()
    again = ServerData(tmp_path, database_url)
    try:
        assert again.is_watched(GUILD, 10 * 10**17) and not again.answers_in_threads(GUILD)
    finally:
        again.close()


def test_a_forgotten_answer_s_buttons_never_vote_on_a_new_question(tmp_path: Path, database_url: str) -> None:
    with ServerData(tmp_path, database_url) as data:
        old = [data.log_question(GUILD, 1, 2, f"Question {n}?", f"Question {n}?", True, []) for n in range(3)]
        assert data.forget(GUILD) == 3
        new = data.log_question(GUILD, 1, 2, "A new question?", "A new question?", True, [])
        assert new not in old, "an id an old answer's buttons name is never given again"
        assert not data.vote(old[-1], GUILD, 7, helpful=False)
        stats = data.stats(GUILD)
        assert (stats.asked, stats.not_helpful) == (1, 0)
        assert data.forget(GUILD) == 1 and data.forget(GUILD) == 0


def test_an_older_servers_file_keeps_its_watched_channels_in_order(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / SERVERS_FILE)
    old.executescript(
        "CREATE TABLE watched_channels (guild_id INTEGER NOT NULL, channel_id INTEGER NOT NULL, "
        "added_by INTEGER NOT NULL, PRIMARY KEY (guild_id, channel_id));"
        "INSERT INTO watched_channels VALUES (1, 30, 9), (1, 10, 9), (2, 5, 9);"
    )
    old.close()
    data = ServerData(tmp_path)
    try:
        assert data.watch(1, 20, 9)
        assert data.watched(1) == [30, 10, 20] and data.watched(2) == [5]
    finally:
        data.close()


def test_a_question_log_from_before_notices_is_brought_up_once_by_processes_opening_it_together(
    tmp_path: Path, database_url: str
) -> None:
    old = open_database(
        tmp_path / SERVERS_FILE,
        database_url,
        "CREATE TABLE IF NOT EXISTS questions (id {id}, guild_id BIGINT NOT NULL, channel_id BIGINT NOT NULL, "
        "user_id BIGINT NOT NULL, question TEXT NOT NULL, searched TEXT NOT NULL, answered INTEGER NOT NULL, "
        "cited TEXT NOT NULL, asked_at TEXT NOT NULL);",
    )
    old.change(
        "INSERT INTO questions (guild_id, channel_id, user_id, question, searched, answered, cited, asked_at) "
        "VALUES (?, 1, 2, ?, ?, 0, '[]', '2026-01-01T00:00:00Z')",
        (GUILD, "Who won?", "Who won?"),
    )
    old.close()
    opened = at_once(4, lambda n: ServerData(tmp_path, database_url))  # four processes start together
    one, two = opened[:2]
    try:
        one.log_question(GUILD, 1, 3, "Who lost?", "Who lost?", False, [], notice=True)
        two.log_question(GUILD, 1, 2, "Who lost?", "Who lost?", True, [("a1", "Final", "They lost.")])
        stats = two.stats(GUILD)
        assert (stats.asked, stats.answered, stats.unanswered) == (2, 1, ("Who won?",)), (
            "the old question still counts; a follow's notice is no question asked, nor one not found"
        )
    finally:
        for data in opened:
            data.close()


def test_two_processes_see_each_other_s_server_data(two_servers_data: tuple[ServerData, ServerData]) -> None:
    one, two = two_servers_data
    asked = at_once(
        8,
        lambda n: (one, two)[n % 2].log_question(
            GUILD, 1, n, f"question {n}", f"question {n}", n % 4 != 0, [("a1", "Harbour", "The harbour reopened.")]
        ),
    )
    assert len(set(asked)) == 8
    assert two.vote(asked[0], GUILD, 7, helpful=False) and one.vote(asked[0], GUILD, 8, helpful=True)
    assert two.vote(asked[0], GUILD, 8, helpful=False), "a vote is changed from either process"
    assert not one.vote(asked[1], OTHER_GUILD, 7, helpful=True), "another server's answer"
    for data in (one, two):
        stats = data.stats(GUILD)
        assert (stats.asked, stats.answered, stats.helpful, stats.not_helpful) == (8, 6, 0, 2)
        assert stats.most_cited == (("Harbour", 8),) and stats.voted_down == ("question 0",)
    one.watch(GUILD, 3, 9)
    assert two.watched(GUILD) == [3]
    assert two.forget(GUILD) == 8 and one.stats(GUILD).asked == 0
