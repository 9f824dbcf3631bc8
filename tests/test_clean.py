"""Cleaning: what of a scraped page becomes quotable article text."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.ingest.clean import clean_article_text, normalise
from index.ingest.parse import ArticleError, load_file, parse_html, parse_text, split_front_matter
from tests.support.paths import SEED_FILE, write
from tests.support.pdfs import make_pdf

SEED_TAIL = [
    "Uncommon Knowledge",
    "Newsweek is committed",
    "About the writer",
    "Most recently, Tracy Lee",
    "Read more",
    "Click here",
    "Newsweek cover",
    "delivered to your door",
    "Comment on articles",
    "app updates",
]


def test_seed_article_keeps_its_story_and_drops_the_site_tail() -> None:
    article = load_file(SEED_FILE)
    assert article.title == "North Korea's Kim Jong Un Congratulates Vladimir Putin on Election Win"
    assert (article.outlet, article.author, article.published) == ("Newsweek", "Tracy Lee", "2018-03-20")
    assert "at the best level in history" in article.text
    assert article.text.endswith("This article has been updated to add Trump's response to his call with Putin.")
    for boilerplate in SEED_TAIL:
        assert boilerplate not in article.text, boilerplate
    # The page's "Updated |" flag and the repeated headline are not prose.
    assert article.text.startswith("North Korean leader Kim Jong Un sent")
    assert article.text.count("\n\n") == 9


def test_seed_tail_is_never_indexed(seed_index) -> None:
    [stored] = seed_index.articles()
    passages = [stored.text[c.start : c.end] for c in seed_index.store.all_chunks()]
    assert passages
    for passage in passages:
        for boilerplate in SEED_TAIL:
            assert boilerplate not in passage


def test_repeated_lines_promos_and_feature_lists_are_dropped() -> None:
    raw = """By Jane Doe

The council voted on Tuesday to close the old bridge for repairs.

Share this article

Engineers said the steel was badly corroded and needed urgent work.

• Unlimited access to all stories
• Ad-free browsing
• Members-only newsletter

Subscribe now for just $1 a week. Click here.

Engineers said the steel was badly corroded and needed urgent work.

The bridge will reopen in May, the council said.

Related: Another bridge closes

The mayor welcomed the decision."""
    cleaned = clean_article_text(raw)
    assert cleaned.author == "Jane Doe"
    assert cleaned.text.split("\n\n") == [
        "The council voted on Tuesday to close the old bridge for repairs.",
        "The bridge will reopen in May, the council said.",
        "The mayor welcomed the decision.",
    ]


def test_article_bullet_points_that_are_sentences_stay() -> None:
    raw = "Key findings of the report:\n\n- Prices rose by 4 percent in March.\n- Wages rose by 2 percent.\n\nThe report ends here."
    text = clean_article_text(raw).text
    assert "- Prices rose by 4 percent in March." in text
    assert "- Wages rose by 2 percent." in text


def test_an_end_marker_cuts_the_author_bio_and_everything_after() -> None:
    raw = "First real paragraph of the story.\n\nSecond real paragraph of the story.\n\nAbout the Author\n\nJane writes about bridges and has won many awards for it."
    assert clean_article_text(raw).text == "First real paragraph of the story.\n\nSecond real paragraph of the story."


def test_normalise_unifies_whitespace_and_removes_invisible_characters() -> None:
    assert normalise("a\u00a0b\u200b c\r\nd\t\te  \n") == "a b c\nd e\n"
    assert normalise("Cafe\u0301") == "Café"


def test_front_matter_and_first_line_title() -> None:
    meta, body = split_front_matter("---\ntitle: 'Hello: world'\nurl: https://x.test/a\n---\nBody text")
    assert meta == {"title": "Hello: world", "url": "https://x.test/a"} and body == "Body text"
    article = parse_text("A Plain Title\n\nThe article says five or more words here.", "file:a.txt")
    assert article.title == "A Plain Title"
    assert article.text == "The article says five or more words here."


def test_markdown_syntax_is_removed() -> None:
    article = parse_text(
        "# The Title\n\nSome **bold** claim with [a link](https://x.test) in it, said she.", "file:a.md", markdown=True
    )
    assert article.title == "The Title"
    assert article.text == "Some bold claim with a link in it, said she."


def test_html_main_text_and_metadata(tmp_path: Path) -> None:
    html = """<html><head><title>Bridge closes - The Daily</title>
    <meta property="og:site_name" content="The Daily"><meta name="author" content="Jane Doe">
    <meta property="article:published_time" content="2024-05-01"></head><body>
    <nav><a href="/">Home</a> | <a href="/world">World</a></nav>
    <article><h1>Bridge closes</h1>
    <p>The council voted on Tuesday to close the old bridge for repairs after an inspection.</p>
    <p>Engineers said the steel was badly corroded and needed urgent work before winter.</p></article>
    <footer>Subscribe to our newsletter. All rights reserved.</footer></body></html>"""
    article = load_file(write(tmp_path, "page.html", html))
    assert article.title == "Bridge closes"
    assert (article.outlet, article.author, article.published) == ("The Daily", "Jane Doe", "2024-05-01")
    assert article.text == (
        "The council voted on Tuesday to close the old bridge for repairs after an inspection."
        "\n\nEngineers said the steel was badly corroded and needed urgent work before winter."
    )
    url_article = parse_html(html, "https://daily.test/bridge", url="https://daily.test/bridge")
    assert url_article.url == url_article.source == "https://daily.test/bridge"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.txt", b"", "no article text"),
        ("short.txt", b"Title\n\nToo short.", "no article text"),
        ("binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (
            "latin1.txt",
            "Caf\u00e9 au lait, a title\n\nSome text that is long enough here.".encode("latin-1"),
            "not UTF-8",
        ),
        ("data.docx", b"PK\x03\x04", "unsupported file type"),
        ("broken.pdf", b"%PDF-1.4", "not a readable PDF"),
        ("scan.pdf", make_pdf([[]]), "no text to read"),
        ("nohtml.html", b"<html><body><nav>Home</nav></body></html>", "no article text"),
    ],
)
def test_bad_files_are_refused_with_a_clear_reason(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ArticleError, match=message):
        load_file(path)


def test_oversized_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.ingest.parse.MAX_ARTICLE_BYTES", 100)
    with pytest.raises(ArticleError, match="too large"):
        load_file(write(tmp_path, "big.txt", "Title\n\n" + "word " * 50))


def test_a_pdf_s_text_layer_becomes_the_article_with_its_paragraphs_and_metadata(tmp_path: Path) -> None:
    lines = [
        "Harbour strike ends",
        "Dock workers in the harbour ended their strike on Monday after eleven",
        "days, the union said. Talks with the port authority will resume next",
        "week.",
        "The strike had stopped all container traffic in the port for a fort-",
        "night, and ships waited offshore.",
    ]
    path = tmp_path / "strike.pdf"
    path.write_bytes(
        make_pdf(
            [lines[:4], lines[4:]],
            title="Microsoft Word - strike.docx",
            author="Ana Ruiz",
            date="D:20240301120000+01'00'",
        )
    )
    article = load_file(path)
    assert (article.title, article.author, article.published) == ("Harbour strike ends", "Ana Ruiz", "2024-03-01")
    assert article.text == (
        "Dock workers in the harbour ended their strike on Monday after eleven days, the union said. "
        "Talks with the port authority will resume next week.\n\n"
        "The strike had stopped all container traffic in the port for a fortnight, "
        "and ships waited offshore."
    )
