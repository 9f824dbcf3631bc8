"""`articlebot migrate`: an SQLite index copied into a real PostgreSQL and back answers as before."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from index import ArticleIndex, Settings
from index.cli import main
from index.ingest.feeds import FeedList
from index.ingest.parse import parse_text
from tests.support.paths import SEEDS

STORY = (
    "Harbour reopens\n\nThe harbour reopened on Monday after the storm. Fishing boats returned at dawn, "
    "and the mayor thanked the rescue crews."
)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def snapshot(index: ArticleIndex) -> dict[str, tuple]:
    """What a user sees of each article: its record and its passages."""
    return {
        a.id: (a.title, a.text, a.url, a.collection, a.added_by, a.added_at, a.story, a.chunks)
        for a in index.articles()
    }


def feeds_of(folder: Path, database_url: str = "") -> list[tuple]:
    """Each feed as a list holds it (all but its id), with the items its polls took."""
    feeds = FeedList(folder, database_url)
    try:
        return [(*(getattr(f, n) for n in f.__dataclass_fields__ if n != "id"), feeds.items(f)) for f in feeds.feeds()]
    finally:
        feeds.close()


def test_an_index_goes_to_postgresql_and_back_unchanged(
    seed_index: ArticleIndex, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_index.add(parse_text(STORY, "file:harbour.txt"), added_by="editor")
    before, answer = snapshot(seed_index), seed_index.ask("When did the harbour reopen?")
    seed_index.close()
    feeds = FeedList(seed_index.folder)
    for collection, url in (("", "https://news.test/feed.xml"), ("123", "https://news.test/feed.xml")):
        feed = feeds.add(collection, url, "News", added_by="7", notify="42")
        assert feed is not None
        feeds.succeeded(feed, '"v3"', "", "News today", ["item-1", "item-2"], 60)
    feeds.close()
    followed = feeds_of(seed_index.folder)
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(seed_index.folder))
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)

    status, out = run("migrate", "--to", postgres_url)
    assert status == 0, out
    assert (
        "copied 2 articles" in out and "copied 2 feeds (0 already there)" in out and out.rstrip().endswith("verified")
    )
    assert feeds_of(tmp_path, postgres_url) == followed
    in_postgres = ArticleIndex(
        tmp_path / "process", seed_index.encoder, Settings(index_dir=tmp_path / "process", database_url=postgres_url)
    )
    assert snapshot(in_postgres) == before
    assert in_postgres.ask("When did the harbour reopen?").quotes == answer.quotes
    in_postgres.close()

    status, out = run("migrate", "--to", postgres_url)  # again: nothing is copied twice
    assert status == 0 and "copied 0 articles" in out and "(2 already there)" in out
    assert "copied 0 feeds (2 already there)" in out and feeds_of(tmp_path, postgres_url) == followed

    monkeypatch.setenv("ARTICLEBOT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(tmp_path / "process"))
    status, out = run("migrate", "--to", str(tmp_path / "back"))
    assert status == 0 and out.rstrip().endswith("verified"), out
    back = ArticleIndex(tmp_path / "back", seed_index.encoder, Settings(index_dir=tmp_path / "back", seeds_dir=SEEDS))
    assert snapshot(back) == before
    assert back.ask("When did the harbour reopen?").quotes == answer.quotes
    back.close()
    assert feeds_of(tmp_path / "back") == followed


def test_migrate_refuses_a_target_it_cannot_use(
    seed_index: ArticleIndex, postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    seed_index.close()
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(seed_index.folder))
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)
    assert run("migrate", "--to", str(seed_index.folder))[0] == 1
    assert "already lives in that folder" in capsys.readouterr().err
    wrong = postgres_url.replace("/t_", "/missing_")
    assert run("migrate", "--to", wrong)[0] == 1
    err = capsys.readouterr().err
    assert "cannot open the index database" in err and "Traceback" not in err


def test_the_folder_of_a_migrated_index_answers_from_the_database_it_moved_to(
    postgres_url: str, tmp_path: Path, encoder
) -> None:
    """Chunk ids differ between the stores: the folder's BM25 index, made for SQLite's, is not reused."""
    from index.migrate import migrate

    bridge = (
        "Bridge closes\n\nThe council voted on Tuesday to close the old bridge for repairs. "
        "Engineers found corroded steel."
    )
    ferry = "Ferry sails again\n\nThe harbour ferry sailed again on Monday after a strike by its crew ended."
    folder = tmp_path / "index"
    old = ArticleIndex(folder, encoder, Settings(index_dir=folder))
    first = old.add(parse_text(bridge, "file:bridge.txt"))
    old.remove(first.article_id)
    old.add(parse_text(bridge, "file:bridge.txt"))  # SQLite's chunks 2 and 3; the database's will be 1 and 2
    old.add(parse_text(ferry, "file:ferry.txt"))
    checked = Settings(index_dir=tmp_path / "check", database_url=postgres_url)
    assert migrate(old, lambda: ArticleIndex(checked.index_dir, encoder, checked)).verified
    old.close()
    moved = ArticleIndex(folder, encoder, Settings(index_dir=folder, database_url=postgres_url))
    try:
        for question, word in (("corroded steel", "corroded"), ("harbour ferry strike", "ferry")):
            hits = moved.search(question, mode="bm25")
            assert hits and word in hits[0].text
    finally:
        moved.close()


def test_migrate_into_a_database_holding_other_articles_verifies_the_source_only(
    tmp_path: Path, postgres_url: str, encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index.ingest.load import ensure_seeded
    from index.migrate import unlike_articles

    there = Settings(index_dir=tmp_path / "there", database_url=postgres_url)
    with ArticleIndex(there.index_dir, encoder, there) as shared:  # the database already holds the seeds
        ensure_seeded(shared, SEEDS)
    folder = tmp_path / "harbour"
    with ArticleIndex(folder, encoder, Settings(index_dir=folder)) as harbour:
        added = harbour.add(parse_text(STORY, "file:harbour.txt"))
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(folder))
    monkeypatch.delenv("ARTICLEBOT_DATABASE_URL", raising=False)

    status, out = run("migrate", "--to", postgres_url)
    assert status == 0, out
    assert "1 of 1 articles (1 passages) are there alike; it holds 2 articles in all" in out
    assert out.rstrip().endswith("verified")

    with (
        ArticleIndex(folder, encoder, Settings(index_dir=folder)) as harbour,
        ArticleIndex(there.index_dir, encoder, there) as shared,
    ):
        assert unlike_articles(harbour, shared) == ()
        shared.remove(added.article_id)
        assert unlike_articles(harbour, shared) == (added.article_id,)
