"""Ingest files, folders and URLs into an index (any `ArticleSink`), reporting each file's fate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..printable import printable
from ..records import Article
from .budget import Deadline
from .fetch import Fetched, FetchError, FetchPolicy, fetch
from .parse import SUPPORTED_TYPES, ArticleError, find_files, load_file, parse_document

if TYPE_CHECKING:
    from ..records import AddResult
    from .base import ArticleSink


@dataclass(frozen=True)
class IngestReport:
    """The result of each article added and one line per input that could not be added."""

    results: tuple[AddResult, ...]
    errors: tuple[str, ...]


#: Articles embedded together: larger batches keep the encoder busy; each is still stored on its own.
ARTICLES_PER_BATCH = 16

_KINDS = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "application/pdf": "pdf",
}


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def load_url(url: str, policy: FetchPolicy | None = None, deadline: Deadline | None = None) -> Article:
    """Fetch `url` safely (see index/ingest/fetch.py) and extract its article; errors are ArticleError.
    Blocking: an event loop awaits `Fetcher.fetch` and hands the result to `fetched_article`."""
    try:
        fetched = fetch(url.strip(), policy or FetchPolicy.from_env())
    except FetchError as exc:
        raise ArticleError(f"{printable(url)}: {exc}") from None
    return fetched_article(fetched, url, deadline)


def fetched_article(fetched: Fetched, asked: str, deadline: Deadline | None = None) -> Article:
    """The article in what a URL (`asked`, as the user wrote it) served."""
    return parse_document(
        fetched.content,
        _KINDS.get(fetched.content_type, "text"),
        fetched.url,
        asked,
        url=fetched.url,
        deadline=deadline,
    )


def ingest_paths(index: ArticleSink, paths: Iterable[Path | str], progress: bool = False) -> IngestReport:
    """Add every supported file at or below `paths`, and every URL; a bad one is reported and skipped.

    Args:
        index: where to add the articles.
        paths: files, folders (read recursively) or http(s) URLs.
        progress: show a progress bar on standard error when it is a terminal.
    """
    errors: list[str] = []
    files: list[Path | str] = []
    for path in paths:
        if isinstance(path, str) and is_url(path):
            files.append(path)
            continue
        try:
            found = list(find_files(Path(path)))
        except ArticleError as exc:
            errors.append(str(exc))
            continue
        if not found:
            errors.append(f"{printable(path)}: no {SUPPORTED_TYPES} files found")
        files.extend(found)

    from tqdm import tqdm

    results: list[AddResult] = []
    batch: list[Article] = []
    with tqdm(files, desc="ingesting", unit="file", disable=None if progress else True, leave=False) as bar:
        for file in bar:
            try:
                batch.append(load_url(file) if isinstance(file, str) else load_file(file))
            except ArticleError as exc:
                errors.append(str(exc))
            if len(batch) >= ARTICLES_PER_BATCH:
                results += index.add_many(batch)
                batch = []
        results += index.add_many(batch)
    if any(r.status in ("added", "updated") for r in results):
        index.save()
    return IngestReport(tuple(results), tuple(errors))


def ensure_seeded(index: ArticleSink, seeds: Path) -> IngestReport | None:
    """Fill an empty index from the seeds folder; None if the index already had articles."""
    if len(index) or not seeds.is_dir():
        return None
    return ingest_paths(index, [seeds])
