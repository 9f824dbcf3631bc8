"""The text of a PDF, by pypdf: its text layer only (a scanned page has none, and there is no OCR here).

pypdf gives a page's text line by line, as laid out; an article needs paragraphs. No library rebuilds
them from plain extracted lines, so `paragraphs` does it here: a line that ends a sentence and falls
short of the column's width (its longest line) ends a paragraph, as does a much shorter line (a
heading); a hyphen at a line's end joins the word.
"""

from __future__ import annotations

import io
import re
from typing import Any

from .errors import ArticleError

#: Pages read at most: an article is a few pages; a book is not an article.
MAX_PAGES = 100
_SENTENCE_END = re.compile(r"[.!?:\"'”’)]$")


def pdf_text(data: bytes, name: str) -> tuple[str, str, dict[str, str]]:
    """(title, text, metadata) of a PDF's text layer; ArticleError when it has none or cannot be read."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ArticleError(f"{name}: the PDF is password-protected")
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PAGES]]
        info: Any = reader.metadata or {}
    except ArticleError:
        raise
    except (PyPdfError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            NotImplementedError, OSError) as exc:  # what pypdf raises on damaged files varies
        raise ArticleError(f"{name}: not a readable PDF ({type(exc).__name__})") from None
    text = "\n\n".join(paragraphs(page) for page in pages if page.strip())
    if len(text.split()) < 5:
        raise ArticleError(f"{name}: the PDF has no text to read (a scanned document?); "
                           "upload one with selectable text, or the article as .txt")
    meta = {"author": _info(info, "/Author"), "date": _pdf_date(_info(info, "/CreationDate"))}
    return _info(info, "/Title"), text, meta


def paragraphs(page: str) -> str:
    """A page's extracted lines joined into paragraphs separated by blank lines."""
    lines = [line.strip() for line in page.splitlines()]
    # The longest line stands for the column's width: full lines come close to it.
    usual = max((len(line) for line in lines), default=0)
    out: list[str] = []
    current = ""
    for line in lines:
        if not line:
            if current:
                out.append(current)
            current = ""
            continue
        if current.endswith("-") and line[:1].islower():
            current = current[:-1] + line
        else:
            current = f"{current} {line}" if current else line
        # A short line that ends a sentence ends its paragraph; a much shorter one is a heading.
        if len(line) < 0.8 * usual and (_SENTENCE_END.search(line) or len(line) < 0.5 * usual):
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return "\n\n".join(out)


def _info(info: Any, key: str) -> str:
    try:
        value = info.get(key)
    except Exception:  # a damaged information dictionary is no reason to refuse the text
        return ""
    return " ".join(str(value).split()) if value else ""


def _pdf_date(value: str) -> str:
    """`D:20240301120000+01'00'` → `2024-03-01`."""
    found = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", value)
    return f"{found[1]}-{found[2]}-{found[3]}" if found else ""
