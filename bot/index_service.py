"""The article index as the bot uses it: opened once in setup_hook, every call off the event loop."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, TypeVar

from index import AddResult, Answer, Article, ArticleIndex, Deadline, Settings
from index.articles import parse_document, suffix_kind
from index.fetch import FetchPolicy
from index.ingest import ensure_seeded, load_url
from index.store import StoredArticle

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        #: Work given up on past its deadline that has not yet stopped (it stores nothing).
        self._abandoned: set[asyncio.Future] = set()

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

    async def _within(self, deadline: Deadline, work: Callable[[], T]) -> T:
        """Run `work` in a thread that checks `deadline`; past it, give up waiting even if the work
        is stuck between checks. The work then stops at its next check, before storing anything,
        unless it is already storing, in which case its result is awaited."""
        task = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await asyncio.wait_for(asyncio.shield(task), deadline.remaining())
        except TimeoutError:
            if not deadline.cancel():
                return await task
            self._abandoned.add(task)
            task.add_done_callback(self._forget)
            raise deadline.exceeded() from None

    def _forget(self, task: asyncio.Future) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # its BudgetExceeded is expected: retrieved, so asyncio does not log it

    async def settle(self) -> None:
        """Wait until abandoned adds have stopped (each stops at its next check of the deadline)."""
        while self._abandoned:
            await asyncio.wait(set(self._abandoned))

    async def fetch_article(self, url: str, deadline: Deadline) -> Article:
        """Fetch and extract the article at `url`; ArticleError says why not."""
        return await self._within(deadline, lambda: load_url(url, self.fetch_policy, deadline))

    async def read_article(self, data: bytes, filename: str, source: str, deadline: Deadline) -> Article:
        """Extract the article of an uploaded file; ArticleError says why not."""
        return await self._within(deadline, lambda: parse_document(data, suffix_kind(filename), source, filename,
                                                                    deadline=deadline))

    def _add(self, article: Article, collection: str, added_by: str, deadline: Deadline) -> AddResult:
        result = self.index.add(article, collection=collection, added_by=added_by, deadline=deadline)
        if result.status in ("added", "updated"):
            self.index.save()
        return result

    async def add(self, article: Article, collection: str, added_by: str, deadline: Deadline) -> AddResult:
        """Index `article`, within `deadline`: past it, BudgetExceeded, and nothing is stored."""
        return await self._within(deadline, lambda: self._add(article, collection, added_by, deadline))

    def _remove(self, article_id: str) -> bool:
        removed = self.index.remove(article_id)
        if removed:
            self.index.save()
        return removed

    async def remove(self, article_id: str) -> bool:
        return await asyncio.to_thread(self._remove, article_id)
