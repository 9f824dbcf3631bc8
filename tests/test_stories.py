"""One story told once: tracking parameters and canonical addresses make one article of one page, and
near-copies of a story (another headline, a trimmed or edited copy) are quoted once, from the copy
published first, with the others named."""

from __future__ import annotations

import pytest

from index import ArticleIndex, Scope
from index.ingest.canonical import canonical_url, page_address
from index.ingest.parse import parse_html, parse_text
from index.ingest.stories import MAX_STORY_CANDIDATES, Signature
from index.records import article_key

pytestmark = pytest.mark.both_stores  # the same tests on SQLite and on PostgreSQL

STRIKE = (
    "Dock workers in the harbour ended their nine-day strike on Friday after winning a pay rise of 5 percent, "
    "the union said.\n\nShips that had waited outside the harbour began to unload on Saturday morning, and "
    "the port authority said the backlog would be cleared within a week.\n\nThe strike had stopped all "
    "container traffic and cost local firms an estimated 40 million pounds, according to the chamber of "
    "commerce.\n\nUnion leaders said they would put the agreement to a vote of members next month."
)
OTHER = (
    "The city library reopened on Monday after a two-year renovation with a new reading room for children, "
    "a cafe on the roof and longer opening hours on weekends.\n\nThe mayor said the building had cost 12 "
    "million pounds, a third less than first planned, and thanked the volunteers who moved the books."
)


def story(title: str, text: str, source: str, outlet: str, published: str) -> str:
    return f"---\ntitle: {title}\noutlet: {outlet}\ndate: {published}\nurl: {source}\n---\n{text}"


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        (
            "https://News.Example.com:443/2024/strike?utm_source=rss&utm_medium=feed&id=7#comments",
            "https://news.example.com/2024/strike?id=7",
        ),
        ("http://news.example.com/a?fbclid=XYZ&gclid=1", "http://news.example.com/a"),
        ("http://news.example.com:8080/a?page=2", "http://news.example.com:8080/a?page=2"),
        ("file:/tmp/a.txt", "file:/tmp/a.txt"),
        # Trackers that courlan's normalize_url keeps (guccounter, icid, ocid, smid) go; a parameter that
        # names the article (story=) stays, where courlan's strict mode drops it (index/ingest/canonical.py).
        (
            "https://news.example.com/read?story=4821&guccounter=1&icid=home&ocid=msn&smid=tw-share",
            "https://news.example.com/read?story=4821",
        ),
    ],
)
def test_tracking_parameters_and_fragments_are_not_part_of_an_address(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_a_page_s_canonical_address_counts_only_on_its_own_site() -> None:
    assert (
        page_address("https://www.news.test/a?utm_source=x", "https://news.test/story/a") == "https://news.test/story/a"
    )
    assert page_address("https://evil.test/a", "https://news.test/story/a") == "https://evil.test/a"
    html = (
        "<html><head><title>Strike</title><link rel='canonical' href='https://news.test/strike'></head>"
        f"<body><article><p>{STRIKE.replace(chr(10) * 2, '</p><p>')}</p></article></body></html>"
    )
    assert parse_html(html, "x", url="https://news.test/strike?utm_campaign=rss").source == "https://news.test/strike"


def test_near_copies_are_recognised_and_other_stories_are_not() -> None:
    original = Signature.of(STRIKE)
    trimmed = Signature.of(STRIKE.rsplit("\n\n", 2)[0])  # the last two paragraphs cut, as wire copies are
    edited = Signature.of(STRIKE.replace("nine-day", "nine day").replace("Saturday morning", "Saturday"))
    assert original.containment(trimmed) > 0.8 and original.containment(edited) > 0.8
    assert original.containment(Signature.of(OTHER)) < 0.1


def test_a_story_from_three_outlets_is_quoted_once_from_the_first_with_the_others_named(
    empty_index: ArticleIndex,
) -> None:
    copies = [
        ("Harbour strike ends after nine days", STRIKE, "https://wire.test/strike", "Wire", "2024-06-01"),
        ("Dockers win 5% rise", STRIKE.rsplit("\n\n", 1)[0], "https://port.test/dockers", "Port News", "2024-06-02"),
        (
            "Strike over at the docks",
            STRIKE.replace("nine-day", "nine day"),
            "https://daily.test/docks",
            "Daily",
            "2024-06-03",
        ),
    ]
    results = empty_index.add_many([parse_text(story(*c), c[2]) for c in reversed(copies)])
    assert [r.status for r in results] == ["added"] * 3
    other = empty_index.add(
        parse_text(
            story("Library reopens", OTHER, "https://daily.test/library", "Daily", "2024-06-03"),
            "https://daily.test/library",
        )
    )
    stories = {a.title: a.story for a in empty_index.articles()}
    assert len({stories[c[0]] for c in copies}) == 1 and stories["Library reopens"] == other.article_id

    answer = empty_index.ask("How long did the dock strike last?")
    assert answer.answered
    first, *rest = answer.quotes
    assert "nine-day strike" in first.text and first.outlet == "Wire" and first.title == copies[0][0]
    assert first.also == ("Port News", "Daily")
    assert all(q.text != first.text for q in rest), "one story's sentence is quoted once"
    assert answer.to_json()["quotes"][0]["also"] == ["Port News", "Daily"]


def test_copies_are_one_story_only_within_what_a_server_sees(empty_index: ArticleIndex) -> None:
    empty_index.add(
        parse_text(story("Strike ends", STRIKE, "https://wire.test/s", "Wire", "2024-06-01"), "https://wire.test/s"),
        Scope("111"),
    )
    copy = empty_index.add(
        parse_text(
            story("Dockers win", STRIKE.rsplit("\n\n", 1)[0], "https://port.test/d", "Port News", "2024-06-02"),
            "https://port.test/d",
        ),
        Scope("222"),
    )
    assert empty_index.article(copy.article_id).story == copy.article_id
    answer = empty_index.ask("How long did the dock strike last?", scope=Scope("222"))
    assert answer.quotes[0].outlet == "Port News" and answer.quotes[0].also == ()


def test_a_server_s_copy_joins_its_own_story_however_many_servers_carry_it(empty_index: ArticleIndex) -> None:
    # A wire story each of many servers stored: one story per server, each a candidate for every copy.
    # The server's own copy sorts after the others (candidates are ordered by id), so a cap applied
    # before the check of what the server sees would leave it out.
    wire, port = "https://wire.test/strike", "https://port.test/dockers"
    servers = sorted((str(1000 + n) for n in range(100)), key=lambda server: article_key(wire, server))
    others, own = servers[: MAX_STORY_CANDIDATES + 5], servers[-1]
    original, copy = empty_index.embed(
        [
            parse_text(story("Strike ends", STRIKE, wire, "Wire", "2024-06-01"), wire),
            parse_text(story("Dockers win", STRIKE.rsplit("\n\n", 1)[0], port, "Port News", "2024-06-02"), port),
        ]
    )
    for server in [*others, own]:
        empty_index.add_embedded([original], Scope(server))
    first = article_key(wire, own)
    assert all(article_key(wire, server) < first for server in others)

    [added] = empty_index.add_embedded([copy], Scope(own))
    assert empty_index.article(added.article_id).story == first
    [elsewhere] = empty_index.add_embedded([copy], Scope(others[0]))
    assert empty_index.article(elsewhere.article_id).story == article_key(wire, others[0])


def test_the_other_outlets_are_named_in_the_discord_answer() -> None:
    from bot.render import render_answer
    from index import Answer, Quote

    quote = Quote(
        "Dock workers ended their strike.",
        "a1",
        "Strike ends",
        "https://wire.test/s",
        "Wire",
        "2024-06-01",
        1,
        0,
        32,
        0.9,
        also=("Port News", "Daily"),
    )
    [[embed]] = render_answer(Answer("How long?", True, (quote,), ()))
    assert embed.footer.text == "Wire · 2024-06-01 · also in Port News, Daily"


def test_a_fetched_text_page_cannot_claim_another_site_s_address() -> None:
    from index.ingest.parse import parse_document

    claimed = b"---\ntitle: Big news\nurl: https://www.reuters.com/world/x\noutlet: Reuters\n---\n" + STRIKE.encode()
    article = parse_document(
        claimed, "text", "https://evil.test/a.txt", "https://evil.test/a.txt", url="https://evil.test/a.txt"
    )
    assert article.source == article.url == "https://evil.test/a.txt"
    same_site = b"---\ntitle: Big news\nurl: https://evil.test/story\n---\n" + STRIKE.encode()
    assert (
        parse_document(same_site, "text", "x", "x", url="https://evil.test/a.txt?utm_source=x").source
        == "https://evil.test/story"
    )
