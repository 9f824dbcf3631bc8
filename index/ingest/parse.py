"""The Article record and the loaders that make one from a file, a folder or an HTML page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import ArticleError
from ..printable import printable
from ..records import Article
from .budget import Deadline, bound_text
from .canonical import canonical_url, page_address
from .clean import clean_article_text

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES
#: The supported file types as messages and help name them.
SUPPORTED_TYPES = ".txt, .md, .html or .pdf"
MAX_ARTICLE_BYTES = 5 * 1024 * 1024
MIN_ARTICLE_WORDS = 5

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.DOTALL)
_FIELD = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")
# Linear whatever the input: a bracket's contents stop at the next bracket, so a run of unclosed
# "[" or "![" is not rescanned from each of them (which took minutes on 200,000 brackets).
_MD_IMAGE = re.compile(r"!\[[^\[\]\n]*\]\([^()\n]*\)")
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\([^()\n]*\)")
_MD_HEADING = re.compile(r"^#{1,6}[ \t]+", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_WORDS = re.compile(r"\w+")
_DATE_FIELDS = ("date", "published", "published_at")
#: PDF titles that name the file the PDF was made from rather than the article.
_FILE_NAME_TITLE = re.compile(r"\.(docx?|odt|pdf|rtf|txt|pages)$|^(microsoft word|untitled)\b", re.IGNORECASE)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split a `---`-fenced block of `key: value` lines from the top of `text`."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields: dict[str, str] = {}
    for line in match.group(1).splitlines():
        field = _FIELD.match(line)
        if field:
            fields[field.group(1).lower()] = _unquote(field.group(2))
    return fields, text[match.end() :]


def _markdown_to_text(text: str) -> str:
    text = _MD_IMAGE.sub("", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_HEADING.sub("", text)
    return _MD_EMPHASIS.sub(r"\2", text)


def refuse_binary(data: bytes, name: str) -> None:
    """Raise ArticleError for data with NUL bytes, which no text or HTML file has."""
    if b"\x00" in data[:8192]:
        raise ArticleError(f"{name}: looks like a binary file, not text")


def decode_text(data: bytes, name: str) -> str:
    """Decode UTF-8 text, refusing binary data and other encodings with a clear message."""
    refuse_binary(data, name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ArticleError(f"{name}: is not UTF-8 text (bad byte at offset {exc.start})") from None
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > 8:
        raise ArticleError(f"{name}: looks like a binary file, not text")
    return text


def _finish(title: str, body: str, source: str, meta: dict[str, str], name: str) -> Article:
    title = " ".join(bound_text(title[:1000]).text.split())
    body, notes = bound_text(body)
    cleaned = clean_article_text(body, title)
    if len(_WORDS.findall(cleaned.text, 0, 10_000)) < MIN_ARTICLE_WORDS:
        raise ArticleError(f"{name}: no article text found")
    date = next((meta[f] for f in _DATE_FIELDS if meta.get(f)), "")
    return Article(
        title=title or cleaned.text.split("\n", 1)[0][:120],
        text=cleaned.text,
        source=meta.get("url") or source,
        url=meta.get("url", ""),
        outlet=meta.get("outlet") or meta.get("site") or meta.get("sitename", ""),
        author=meta.get("author") or cleaned.author,
        published=date,
        notes=notes,
    )


def parse_text(text: str, source: str, name: str = "", markdown: bool = False) -> Article:
    """Make an article from plain text or Markdown: front matter, else the first line, is the title."""
    meta, body = split_front_matter(text)
    if markdown:
        body = _markdown_to_text(body)
    title = meta.get("title", "")
    if not title:
        first, _, rest = body.lstrip().partition("\n")
        title, body = first.strip(), rest
    return _finish(title, body, source, meta, name or source)


def parse_html(html: str | bytes, source: str, url: str = "", name: str = "") -> Article:
    """Extract the main text and metadata of an HTML page with trafilatura."""
    import trafilatura

    # A Document with these options (a dict only with as_dict=True).
    doc: Any = trafilatura.bare_extraction(
        html,
        url=url or None,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    if doc is None or not (doc.text or "").strip():
        raise ArticleError(f"{name or source}: no article text found in the page")
    meta = {
        "url": page_address(url, doc.url or "") if url else canonical_url(doc.url or ""),
        "author": doc.author or "",
        "date": doc.date or "",
        "outlet": doc.sitename or "",
    }
    # trafilatura puts one paragraph per line; the cleaner expects blank lines between them.
    body = (doc.text or "").replace("\n", "\n\n")
    return _finish(doc.title or "", body, meta["url"] or source, meta, name or source)


def parse_pdf(data: bytes, source: str, url: str = "", name: str = "") -> Article:
    """The article in a PDF's text layer (index/ingest/pdf.py): its title from the document's information
    unless that is a file name, else its first line."""
    from .pdf import pdf_text

    title, body, meta = pdf_text(data, name or source)
    if not title or _FILE_NAME_TITLE.search(title):
        first, _, rest = body.partition("\n\n")
        title, body = (first, rest) if len(first) <= 200 else ("", body)
    return _finish(title, body, url or source, {**meta, "url": url}, name or source)


def parse_document(
    data: bytes, kind: str, source: str, name: str, url: str = "", deadline: Deadline | None = None
) -> Article:
    """Make an article from a document's bytes.

    Args:
        data: the document as stored or served.
        kind: "html", "pdf", "markdown" or "text".
        source: what identifies the article (its URL, or `file:` and its path).
        name: how to name it in error messages.
        url: the article's address, if it has one.
        deadline: the time budget of the add this is part of; checked before and after.
    """
    if deadline:
        deadline.check()
    _check_size(name, len(data))
    url = canonical_url(url) if url else url
    if kind == "html":
        refuse_binary(data, name)  # HTML may be in any charset (trafilatura detects it), but not binary
        article = parse_html(data, source, url=url, name=name)
    elif kind == "pdf":
        article = parse_pdf(data, source, url=url, name=name)
    else:
        article = parse_text(decode_text(data, name), source, name, markdown=kind == "markdown")
        # A fetched page's own `url:` counts only on the site it came from (as a canonical address does).
        address = page_address(url, article.url) if url else article.url
        article = replace(article, url=address or url, source=address or url or source)
    if deadline:
        deadline.check()
    return article


def check_file(name: str, size: int) -> None:
    """ArticleError unless a file of this name and size may be loaded: a supported type, within the size limit."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ArticleError(f"{name}: unsupported file type {suffix or '(none)'}; use {SUPPORTED_TYPES}")
    _check_size(name, size)


def _check_size(name: str, size: int) -> None:
    if size > MAX_ARTICLE_BYTES:
        raise ArticleError(f"{name}: too large ({size:,} bytes; the limit is {MAX_ARTICLE_BYTES:,})")


def load_file(path: Path) -> Article:
    """Load one supported file (SUPPORTED_TYPES) as an article."""
    name = printable(path)
    try:
        check_file(name, path.stat().st_size)
        data = path.read_bytes()
    except OSError as exc:
        raise ArticleError(f"{name}: cannot read ({exc.strerror or exc})") from None
    return parse_document(data, suffix_kind(path.name), f"file:{printable(path.resolve())}", name)


def load_upload(data: bytes, name: str, source: str, deadline: Deadline | None = None) -> Article:
    """The article of an uploaded file's bytes (`name` is the file's name, `source` identifies the upload)."""
    check_file(name, len(data))
    return parse_document(data, suffix_kind(name), source, name, deadline=deadline)


def suffix_kind(name: str) -> str:
    """ "html", "pdf", "markdown" or "text" by a file name's ending."""
    suffix = Path(name).suffix.lower()
    if suffix in HTML_SUFFIXES:
        return "html"
    return "pdf" if suffix in PDF_SUFFIXES else "text" if suffix == ".txt" else "markdown"


def find_files(path: Path) -> Iterator[Path]:
    """The supported files at `path`: the file itself, or those below a folder, in a stable order."""
    if not path.exists():
        raise ArticleError(f"{printable(path)}: no such file or folder")
    if path.is_file():
        yield path
        return
    for child in sorted(path.rglob("*")):
        if child.is_file() and child.suffix.lower() in SUPPORTED_SUFFIXES and not child.name.startswith("."):
            yield child
