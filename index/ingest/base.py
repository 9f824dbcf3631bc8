"""What ingesting needs of the index it fills: the loaders and the feed poller hand articles to any
`ArticleSink` (the `ArticleIndex` is one), so that ingest never imports the facade above it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ..records import AddResult, Article
from ..storage.scope import Scope
from .budget import Deadline


class ArticleSink(Protocol):
    """Takes articles in and keeps them."""

    def __len__(self) -> int: ...

    def add_many(
        self, articles: Sequence[Article], scope: Scope = ..., added_by: str = "", deadline: Deadline | None = None
    ) -> list[AddResult]: ...

    def save(self) -> None: ...
