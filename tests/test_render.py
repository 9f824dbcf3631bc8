"""Rendering for Discord: trimmed cleanly, escaped, within every limit."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.render import (
    EMBED_DESCRIPTION_LIMIT,
    EMBED_TITLE_LIMIT,
    MESSAGE_EMBED_CHARS_LIMIT,
    MESSAGE_EMBEDS_LIMIT,
    escape,
    render_announcement,
    render_answer,
    render_article,
    render_sources_page,
    shorten,
)
from index import Answer, Quote, SourceMatch, StoredArticle


def quote(text: str, article: int, title: str = "Title", url: str = "https://news.test/a") -> Quote:
    return Quote(
        text=text,
        article_id=f"a{article}",
        title=title,
        url=url,
        outlet="Outlet",
        published="2024-01-01",
        paragraph=1,
        start=0,
        end=len(text),
        score=1.0,
    )


def test_shorten_prefers_a_sentence_end_then_a_word_boundary() -> None:
    text = "First sentence here. Second sentence is rather long and goes on and on."
    assert shorten(text, 40) == "First sentence here. …"
    assert shorten("one two three four five six seven", 20) == "one two three four …"
    assert shorten("short", 20) == "short"
    assert shorten("00 0", 3) == "…"  # the first word fits, but not with the ellipsis: never cut inside it


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=3000), limit=st.integers(min_value=2, max_value=2500))
def test_shorten_never_exceeds_the_limit_nor_cuts_a_word(text: str, limit: int) -> None:
    short = shorten(text, limit)
    assert len(short) <= limit
    if short != text and short != "…":
        kept = short.removesuffix(" …")
        assert text.startswith(kept)
        assert text[len(kept)].isspace() or not any(c.isspace() for c in text[:limit]), "cut inside a word"


def test_markdown_in_quotes_is_escaped_but_the_words_stay() -> None:
    raw = "**Breaking** _news_: see [this](https://evil.test) > 3 `x` ~~y~~ @everyone"
    escaped = escape(raw)
    assert escaped.replace("\\", "") == raw
    assert "\\[this]" in escaped and "\\*\\*Breaking" in escaped


@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from("ab *_>`~|[]()#\n .!"), min_size=1, max_size=5000), min_size=1, max_size=10
    ),
    title=st.text(min_size=1, max_size=600),
)
@settings(max_examples=60, deadline=None)
def test_any_answer_renders_within_discords_limits(texts: list[str], title: str) -> None:
    quotes = tuple(quote(t, i // 2, title) for i, t in enumerate(texts))
    messages = render_answer(Answer("q", True, quotes, ()))
    assert sum(len(m) for m in messages) == len({q.article_id for q in quotes})
    for embeds in messages:
        assert 1 <= len(embeds) <= MESSAGE_EMBEDS_LIMIT
        assert sum(len(e) for e in embeds) <= MESSAGE_EMBED_CHARS_LIMIT
        for embed in embeds:
            assert len(embed.title or "") <= EMBED_TITLE_LIMIT
            assert len(embed.description or "") <= EMBED_DESCRIPTION_LIMIT


def test_not_found_lists_sources_with_links() -> None:
    answer = Answer(
        "q", False, (), (SourceMatch("a1", "A [bracketed] title", "https://news.test/a", "Outlet", "2024-01-01", 0.1),)
    )
    [[embed]] = render_answer(answer)
    assert embed.title == "Nothing found"
    assert "**[A \\[bracketed\\] title](https://news.test/a)** — Outlet · 2024-01-01" in (embed.description or "")


def stored(n: int, url: str, collection: str = "1", added_by: str = "42") -> StoredArticle:
    """An article as the index lists it, of server 1 unless said."""
    return StoredArticle(
        id=f"a{n}",
        title=f"Новости дня {n}",
        text="Text.",
        source=url,
        url=url,
        outlet="Outlet",
        author="",
        published="2024-01-01",
        content_hash="hash",
        collection=collection,
        added_by=added_by,
        added_at="2024-01-02T00:00:00+00:00",
        chunks=3,
    )


def test_an_address_discord_would_refuse_is_linked_percent_encoded_everywhere() -> None:
    """Discord refuses a whole message whose embed url holds a space (the article would never be announced,
    nor an answer quoting it shown): every link to an article is encoded alike."""
    url = "https://news.test/port/harbour strike?q=quai d'ü"
    encoded = "https://news.test/port/harbour%20strike?q=quai%20d'%C3%BC"
    article = replace(
        stored(1, url), title="Harbour strike ends", text="Dock workers went back to work.", outlet="Port News"
    )
    assert render_announcement(article).url == encoded
    [[answer]] = render_answer(Answer("q", True, (quote("Dock workers went back to work.", 1, url=url),), ()))
    assert answer.url == encoded
    [[not_found]] = render_answer(Answer("q", False, (), (SourceMatch("a1", "Strike", url, "", "", 0.1),)))
    assert f"**[Strike]({encoded})**" in (not_found.description or "")
    assert {"name": "Link", "value": encoded, "inline": False} in render_article(article).to_dict()["fields"]
    already = "https://news.test/port/harbour%20strike"
    assert render_announcement(replace(article, url=already)).url == already, "not encoded twice"


def test_a_page_of_sources_with_long_addresses_fits_in_an_embed_keeping_what_links_it_can() -> None:
    cyrillic = "https://news.test/" + "новости-" * 50  # about 500 characters once percent-encoded
    articles = [stored(n, f"{cyrillic}{n}" if n % 2 else f"https://news.test/{n}") for n in range(10)]
    description = render_sources_page(articles, 0).description or ""
    assert len(description) <= EMBED_DESCRIPTION_LIMIT
    assert description.count("**[") >= 5, "the short addresses stay linked"
    assert all(f"Новости дня {n}" in description for n in range(10)), "every article is listed"


def test_sources_say_who_added_an_article_to_the_server_and_which_every_server_has() -> None:
    own, shared = stored(1, "https://news.test/1"), stored(2, "https://news.test/2", collection="", added_by="7")
    description = render_sources_page([own, shared], 0).description or ""
    assert "added by <@42> on 2024-01-02" in description
    assert description.count("shared with every server") == 1 and "<@7>" not in description
