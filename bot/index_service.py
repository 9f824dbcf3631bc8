"""The article index as the bot uses it: opened once in setup_hook, every call off the event loop."""

from __future__ import annotations

import asyncio
import logging

from index import Answer, ArticleIndex, Settings
from index.ingest import ensure_seeded
from index.store import StoredArticle

log = logging.getLogger(__name__)


class IndexService:
    """Async front of an ArticleIndex; embedding, FAISS and SQLite all run in worker threads."""

    def __init__(self, settings: Settings, index: ArticleIndex | None = None) -> None:
        self.settings = settings
        self._index = index

    @property
    def index(self) -> ArticleIndex:
        if self._index is None:
            raise RuntimeError("the index is not loaded yet")
        return self._index

    def _open(self) -> ArticleIndex:
        index = self._index or ArticleIndex.open(self.settings)
        report = ensure_seeded(index, self.settings.seeds_dir)
        if report is not None:
            log.info("built the index from %s: %d articles", self.settings.seeds_dir, len(report.results))
            for error in report.errors:
                log.warning("seed not loaded: %s", error)
        return index

    async def load(self) -> None:
        """Open the index (building it from the seeds when empty) without blocking the event loop."""
        self._index = await asyncio.to_thread(self._open)
        log.info("index ready: %d articles in %s", len(self._index), self.settings.index_dir)

    async def ask(self, question: str) -> Answer:
        return await asyncio.to_thread(self.index.ask, question)

    async def articles(self) -> list[StoredArticle]:
        """All articles, newest first."""
        return await asyncio.to_thread(self.index.articles)

    async def article(self, article_id: str) -> StoredArticle | None:
        return await asyncio.to_thread(self.index.article, article_id)
