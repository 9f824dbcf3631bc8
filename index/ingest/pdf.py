"""The text of a PDF, by pypdf: its text layer only (a scanned page has none, and there is no OCR here).

pypdf gives a page's text line by line, as laid out; an article needs paragraphs. No library rebuilds
them from plain extracted lines, so `paragraphs` does it here: a line that ends a sentence and falls
short of the column's width (its longest line) ends a paragraph, as does a much shorter line (a
heading); a hyphen at a line's end joins the word.
"""

from __future__ import annotations

import io
import logging
import re
from contextvars import ContextVar
from typing import Any

from ..errors import ArticleError

log = logging.getLogger(__name__)

#: Pages read at most: an article is a few pages; a book is not an article.
MAX_PAGES = 100
_SENTENCE_END = re.compile(r"[.!?:\"'”’)]$")

#: The PDF being read in this thread or task, and the notes pypdf already logged about it.
_reading: ContextVar[tuple[str, set[str]] | None] = ContextVar("articlebot_pdf", default=None)


class _FileNotes(logging.Handler):
    """pypdf logs what it repaired ("EOF marker not found") without saying in which file. Its records are
    logged again on this module's logger, at their level, as `PATH: message`, each once per file; so a
    command prints them as its other lines about a file, at the level the user chose."""

    def emit(self, record: logging.LogRecord) -> None:
        reading = _reading.get()
        name, seen = reading if reading is not None else ("a PDF", set())
        message = record.getMessage()
        if message not in seen:
            seen.add(message)
            log.log(record.levelno, "%s: %s", name, message)


_pypdf_log = logging.getLogger("pypdf")
_pypdf_log.addHandler(_FileNotes())
_pypdf_log.propagate = False


def pdf_text(data: bytes, name: str) -> tuple[str, str, dict[str, str]]:
    """(title, text, metadata) of a PDF's text layer; ArticleError when it has none or cannot be read."""
    token = _reading.set((name, set()))
    try:
        return _read(data, name)
    finally:
        _reading.reset(token)


def _read(data: bytes, name: str) -> tuple[str, str, dict[str, str]]:
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
    except (
        PyPdfError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        RecursionError,
        NotImplementedError,
        OSError,
    ) as exc:  # what pypdf raises on damaged files varies
        raise ArticleError(f"{name}: not a readable PDF ({type(exc).__name__})") from None
    text = "\n\n".join(paragraphs(page) for page in pages if page.strip())
    if len(text.split()) < 5:
        raise ArticleError(
            f"{name}: the PDF has no text to read (a scanned document?); "
            "upload one with selectable text, or the article as .txt"
        )
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
