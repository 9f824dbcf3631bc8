"""Ingest files and folders into an ArticleIndex, reporting each file's fate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .articles import ArticleError, find_files, load_file

if TYPE_CHECKING:
    from .article_index import AddResult, ArticleIndex


@dataclass(frozen=True)
class IngestReport:
    """The result of each article added and one line per input that could not be added."""

    results: tuple["AddResult", ...]
    errors: tuple[str, ...]


def ingest_paths(index: "ArticleIndex", paths: Iterable[Path], progress: bool = False) -> IngestReport:
    """Add every supported file at or below `paths`; a bad file is reported and skipped.

    Args:
        index: where to add the articles.
        paths: files or folders (folders are read recursively).
        progress: show a progress bar on standard error when it is a terminal.
    """
    errors: list[str] = []
    files: list[Path] = []
    for path in paths:
        try:
            found = list(find_files(Path(path)))
        except ArticleError as exc:
            errors.append(str(exc))
            continue
        if not found:
            errors.append(f"{path}: no .txt, .md or .html files found")
        files.extend(found)

    from tqdm import tqdm

    results: list["AddResult"] = []
    with tqdm(files, desc="ingesting", unit="file", disable=None if progress else True, leave=False) as bar:
        for file in bar:
            try:
                results.append(index.add(load_file(file)))
            except ArticleError as exc:
                errors.append(str(exc))
    if any(r.status in ("added", "updated") for r in results):
        index.save()
    return IngestReport(tuple(results), tuple(errors))


def ensure_seeded(index: "ArticleIndex", seeds: Path) -> IngestReport | None:
    """Fill an empty index from the seeds folder; None if the index already had articles."""
    if len(index) or not seeds.is_dir():
        return None
    return ingest_paths(index, [seeds])
