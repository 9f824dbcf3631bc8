"""The article index as the bot uses it: opened once in setup_hook, every call off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from index import (
    AddResult,
    Answer,
    Article,
    ArticleError,
    ArticleIndex,
    Deadline,
    FeedList,
    Fetcher,
    FetchError,
    FetchPolicy,
    Scope,
    Settings,
    StoredArticle,
    Turn,
    ensure_seeded,
    fetched_article,
    load_upload,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class IndexService:
    """Async front of an ArticleIndex; embedding, FAISS, SQLite and fetching run in worker threads.

    `scope` arguments say which articles a server sees (`Scope.of_server`): its own and the shared ones.
    """

    def __init__(
        self, settings: Settings, index: ArticleIndex | None = None, fetch_policy: FetchPolicy | None = None
    ) -> None:
        self.settings = settings
        self.fetch_policy = fetch_policy or FetchPolicy.from_env()
        self._index = index
        self._fetcher: Fetcher | None = None
        self._feeds: FeedList | None = None
        #: Held while articles are embedded and stored: one add (or one feed's batch) at a time.
        self.indexing = asyncio.Lock()
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
        self._feeds = self._feeds or await asyncio.to_thread(
            FeedList, self.settings.index_dir, self.settings.database_url
        )
        log.info("index ready: %d articles in %s", len(self._index), self.settings.index_dir)

    async def ask(self, question: str, scope: Scope, after: Turn | None = None) -> Answer:
        """The answer; `after`: the turn a follow-up follows (index/answer/followups.py)."""
        return await asyncio.to_thread(self.index.ask, question, scope=scope, after=after)

    async def articles(self, scope: Scope) -> list[StoredArticle]:
        """The articles `scope` sees, newest first, without their texts (a listing: `article` gives one whole)."""
        return await asyncio.to_thread(self.index.articles, scope, False)

    async def article(self, article_id: str, scope: Scope) -> StoredArticle | None:
        return await asyncio.to_thread(self.index.article, article_id, scope)

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

    @property
    def fetcher(self) -> Fetcher:
        """One aiohttp session for every fetch, under the current fetch policy."""
        if self._fetcher is None or self._fetcher.policy != self.fetch_policy:
            if self._fetcher is not None:
                asyncio.ensure_future(self._fetcher.close())
            self._fetcher = Fetcher(self.fetch_policy)
        return self._fetcher

    @property
    def feeds(self) -> FeedList:
        """The feeds every server follows (index/ingest/feeds.py)."""
        if self._feeds is None:
            raise RuntimeError("the index is not loaded yet")
        return self._feeds

    async def close(self) -> None:
        if self._fetcher is not None:
            await self._fetcher.close()
            self._fetcher = None

    async def fetch_article(self, url: str, deadline: Deadline) -> Article:
        """Fetch (on the event loop) and extract (in a thread) the article at `url`; ArticleError says why not."""
        try:
            fetched = await asyncio.wait_for(self.fetcher.fetch(url), deadline.remaining())
        except FetchError as exc:
            raise ArticleError(f"{url}: {exc}") from None
        except TimeoutError:
            raise deadline.exceeded() from None
        return await self._within(deadline, lambda: fetched_article(fetched, url, deadline))

    async def read_article(self, data: bytes, filename: str, source: str, deadline: Deadline) -> Article:
        """Extract the article of an uploaded file; ArticleError says why not."""
        return await self._within(deadline, lambda: load_upload(data, filename, source, deadline))

    def _add(self, article: Article, scope: Scope, added_by: str, deadline: Deadline) -> AddResult:
        result = self.index.add(article, scope, added_by, deadline)
        if result.status in ("added", "updated"):
            self.index.save()
        return result

    async def add(self, article: Article, scope: Scope, added_by: str, deadline: Deadline) -> AddResult:
        """Index `article` for `scope`, within `deadline`: past it, BudgetExceeded, and nothing is stored.
        One article is embedded at a time (`indexing`), so that adds leave a core to the questions."""
        try:
            await asyncio.wait_for(self.indexing.acquire(), deadline.remaining())
        except TimeoutError:
            raise deadline.exceeded() from None
        try:
            return await self._within(deadline, lambda: self._add(article, scope, added_by, deadline))
        finally:
            self.indexing.release()

    def _remove(self, article_id: str) -> bool:
        removed = self.index.remove(article_id)
        if removed:
            self.index.save()
        return removed

    async def remove(self, article_id: str) -> bool:
        return await asyncio.to_thread(self._remove, article_id)
