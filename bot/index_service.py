"""The article index as the bot uses it: opened once in setup_hook, every call off the event loop."""

from __future__ import annotations

import asyncio
import logging

from index import AddResult, Answer, Article, ArticleIndex, Settings
from index.articles import parse_document, suffix_kind
from index.fetch import FetchPolicy
from index.ingest import ensure_seeded, load_url
from index.store import StoredArticle

log = logging.getLogger(__name__)


def collection_for(guild_id: int | None) -> str:
    """The collection of a server ("" outside servers, where only the shared articles are seen)."""
    return str(guild_id) if guild_id else ""


class IndexService:
    """Async front of an ArticleIndex; embedding, FAISS, SQLite and fetching run in worker threads.

    `collection` arguments are a server's id as text ("" outside servers): a server sees its own
    articles and the shared ones.
    """

    def __init__(self, settings: Settings, index: ArticleIndex | None = None,
                 fetch_policy: FetchPolicy | None = None) -> None:
        self.settings = settings
        self.fetch_policy = fetch_policy or FetchPolicy.from_env()
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
        index.warm_up()  # so that the first question is as quick as the others
        return index

    async def load(self) -> None:
        """Open the index (building it from the seeds when empty) without blocking the event loop."""
        self._index = await asyncio.to_thread(self._open)
        log.info("index ready: %d articles in %s", len(self._index), self.settings.index_dir)

    async def ask(self, question: str, collection: str = "") -> Answer:
        return await asyncio.to_thread(self.index.ask, question, collection=collection)

    async def articles(self, collection: str = "") -> list[StoredArticle]:
        """The articles `collection` sees, newest first."""
        return await asyncio.to_thread(self.index.articles, collection)

    async def article(self, article_id: str, collection: str = "") -> StoredArticle | None:
        return await asyncio.to_thread(self.index.article, article_id, collection)

    async def fetch_article(self, url: str) -> Article:
        """Fetch and extract the article at `url`; ArticleError says why not."""
        return await asyncio.to_thread(load_url, url, self.fetch_policy)

    async def read_article(self, data: bytes, filename: str, source: str) -> Article:
        """Extract the article of an uploaded file; ArticleError says why not."""
        return await asyncio.to_thread(parse_document, data, suffix_kind(filename), source, filename)

    def _add(self, article: Article, collection: str, added_by: str) -> AddResult:
        result = self.index.add(article, collection=collection, added_by=added_by)
        if result.status in ("added", "updated"):
            self.index.save()
        return result

    async def add(self, article: Article, collection: str, added_by: str) -> AddResult:
        return await asyncio.to_thread(self._add, article, collection, added_by)

    def _remove(self, article_id: str) -> bool:
        removed = self.index.remove(article_id)
        if removed:
            self.index.save()
        return removed

    async def remove(self, article_id: str) -> bool:
        return await asyncio.to_thread(self._remove, article_id)
