"""Per-server collections: a server's articles are listed, searched and quoted only there; seeds everywhere."""

from __future__ import annotations

import pytest

from index import ArticleIndex, Scope
from index.ingest.parse import parse_text

pytestmark = pytest.mark.both_stores  # the same tests on SQLite and on PostgreSQL

HARBOUR = "Harbour strike ends\n\nDock workers ended their nine-day strike after winning a pay rise of 5 percent."
LIBRARY = "Library reopens\n\nThe city library reopened after repairs, with a new reading room for children."


def test_a_servers_articles_stay_in_that_server(seed_index: ArticleIndex) -> None:
    harbour = seed_index.add(parse_text(HARBOUR, "https://news.test/harbour"), scope=Scope("111"), added_by="alice")
    library = seed_index.add(parse_text(LIBRARY, "https://news.test/library"), scope=Scope("222"), added_by="bob")
    [seed] = [a.id for a in seed_index.articles(Scope(""))]

    assert {a.id for a in seed_index.articles(Scope("111"))} == {seed, harbour.article_id}
    assert {a.id for a in seed_index.articles(Scope("222"))} == {seed, library.article_id}
    assert len(seed_index.articles()) == 3

    answer = seed_index.ask("How long did the dock strike last?", scope=Scope("111"))
    assert answer.answered and answer.quotes[0].article_id == harbour.article_id
    elsewhere = seed_index.ask("How long did the dock strike last?", scope=Scope("222"))
    assert all(q.article_id != harbour.article_id for q in elsewhere.quotes)
    assert all(s.article_id != harbour.article_id for s in elsewhere.sources)
    assert all(p.article_id != harbour.article_id for p in seed_index.search("dock strike", k=10, scope=Scope("222")))
    # Seeds are everyone's.
    assert seed_index.ask("How did China react?", scope=Scope("222")).quotes[0].article_id == seed

    assert seed_index.article(harbour.article_id, Scope("111")) is not None
    assert seed_index.article(harbour.article_id, Scope("222")) is None
    stored = seed_index.article(harbour.article_id)
    assert stored is not None and (stored.collection, stored.added_by) == ("111", "alice")


def test_the_same_url_in_two_servers_is_two_articles_and_seeds_are_not_added_again(seed_index: ArticleIndex) -> None:
    first = seed_index.add(parse_text(HARBOUR, "https://news.test/harbour"), scope=Scope("111"))
    second = seed_index.add(parse_text(HARBOUR, "https://news.test/harbour"), scope=Scope("222"))
    assert first.status == second.status == "added" and first.article_id != second.article_id
    assert seed_index.add(parse_text(HARBOUR, "https://news.test/harbour"), scope=Scope("111")).status == "unchanged"
    seed_text = seed_index.articles(Scope(""))[0].text
    copy = seed_index.add(parse_text("Copy\n\n" + seed_text, "https://elsewhere.test/copy"), scope=Scope("111"))
    assert copy.status == "duplicate" and copy.duplicate_of == seed_index.articles(Scope(""))[0].id
    seed_index.remove(first.article_id)
    assert [a.id for a in seed_index.articles(Scope("222")) if a.collection] == [second.article_id]
