"""ArticleIndex: the few verbs everything else uses (add, remove, ask, search, list, save).

A facade over the database (any `Store`: index/storage/), the indexes derived from it (vectors and
lexical, kept in step by `DerivedIndexes`), the add path (index/adding.py), the stories
(`StoryKeeper`) and the retrieval pipeline (index/answer/retrieval.py). It wires them and holds the
lock they share; each job is theirs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .adding import Adder, Embedded
from .answer.evidence import QuestionCues
from .answer.follows import MOST_ASKED, NEAR_FLOOR, FollowAnswer, FollowedQuestions, same_question
from .answer.followups import Turn, rewrite
from .answer.recency import recency_days
from .answer.results import Answer, Passage
from .answer.retrieval import Query, Retrieval, Retriever
from .encoders.base import Encoder
from .encoders.load import load_encoder
from .encoders.reader import reader_for
from .ingest.budget import Deadline
from .ingest.stories import StoryKeeper
from .records import (
    AddResult,
    AddStatus,
    Article,
    ArticleVersion,
    Change,
    Chunk,
    StoredArticle,
    StoredChunk,
    StoredElsewhere,
)
from .search.base import VectorIndex
from .search.bm25 import LexicalIndex
from .search.faiss_index import FaissVectorIndex
from .search.fusion import Mode
from .settings import Settings
from .storage.base import Store
from .storage.copy import ArticleCopy, add_copy, copy_of
from .storage.derived import DerivedIndexes
from .storage.scope import Scope
from .storage.sqlite import SQLiteStore
from .upgrades import add_sentence_facts

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
_SURROGATE = re.compile("[\ud800-\udfff]")
_EVERYTHING = Scope.everything()


class QuestionError(ValueError):
    """The question cannot be asked (empty or too long)."""


@dataclass(frozen=True)
class IndexStats:
    """What an index holds and how it searches."""

    articles: int
    chunks: int
    vector_search: str  # "exact" or "ivf" (FAISS); "exact" or "ivfflat" (PostgreSQL)


def check_question(question: str) -> str:
    """The question stripped, or QuestionError saying why it cannot be asked."""
    if not isinstance(question, str) or not question.strip():
        raise QuestionError("the question is empty")
    question = question.strip()
    if _SURROGATE.search(question):
        # What Python makes of bytes that are not UTF-8 (in a command's arguments); no encoder takes them.
        raise QuestionError("the question is not UTF-8 text")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(
            f"the question is too long ({len(question):,} characters; the limit is {MAX_QUESTION_CHARS:,})"
        )
    return question


class ArticleIndex:
    """A searchable collection of articles in one folder."""

    def __init__(self, folder: Path, encoder: Encoder, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.encoder = encoder
        self.folder = Path(folder)
        if self.settings.database_url:
            from .search.pgvector_index import PostgresVectorIndex
            from .storage.postgres import PostgresStore

            store = PostgresStore(self.settings.database_url, self.folder, encoder.name, encoder.dim)
            self.store: Store = store
            self.vectors: VectorIndex = PostgresVectorIndex(store)
        else:
            self.store = SQLiteStore(self.folder, encoder.name, encoder.dim)
            self.vectors = FaissVectorIndex(self.folder, self.store, self.settings.exact_limit)
        try:
            self._open_derived()
        except BaseException:
            self.store.close()  # a PostgreSQL store holds a pool of connections
            raise

    def _open_derived(self) -> None:
        """Open the derived indexes, bring them up to the database, and follow other processes' changes."""
        if self.store.saved_generation(LexicalIndex.name) < 0:
            # Never saved against this database (another database's folder, say, after a migration): the
            # chunk ids it holds may name other chunks here, so it is rebuilt from nothing.
            self.lexical = LexicalIndex.recreate(self.folder / "lexical")
        else:
            self.lexical = LexicalIndex.load(self.folder / "lexical")
        # Searches see either all of an add or none of it; the slow embedding happens outside.
        self._lock = threading.RLock()
        self._stories = StoryKeeper(self.store)
        self._derived = DerivedIndexes(
            self.store, (self.vectors, self.lexical), self._lock, self._stories.after, self._stories.reset
        )
        self._adder = Adder(
            self.store,
            self.encoder,
            self.settings,
            self.lexical.analyzer.terms,
            self._stories,
            self._derived,
            self._lock,
        )
        add_sentence_facts(self.store, self.lexical.analyzer.terms)
        self._retriever = Retriever(
            self.store, self.vectors, self.lexical, reader_for if self.settings.reader else None
        )
        self._derived.follow_others()

    @classmethod
    def open(cls, settings: Settings) -> ArticleIndex:
        """Open (or create) the index folder of `settings` with its model, loaded once per process."""
        return cls(settings.index_dir, load_encoder(settings), settings)

    def close(self) -> None:
        """Close the database (the derived indexes are saved as they change, or by `save`)."""
        self._derived.stop()
        self.vectors.close()
        with self._lock:
            self.store.close()

    def when_stored_elsewhere(self, listener: Callable[[StoredElsewhere], None]) -> None:
        """Tell `listener` of each article other processes store in this database from now on (a shared
        PostgreSQL database: the command line, another bot process), once this process has taken it; it
        replaces any listener set before. It is called on the thread that took the change (the one that
        follows the database, or an add of this process that ran into it, holding the index's lock), so
        it must hand the work on, never wait on the index. What this process stores, its own add returns;
        what it takes in a rebuild after falling behind the change log is not told (a warning is logged)."""

        def taken(changes: list[Change]) -> None:
            for change in changes:
                if not len(change.added) or not change.article_id:
                    continue  # a removal, or an add removed again since
                status: AddStatus = "updated" if change.old_story else "added"
                result = AddResult(change.article_id, change.title, status, len(change.added))
                try:
                    listener(StoredElsewhere(result, change.collection))
                except Exception:  # the listener's failure must not stop this process following the database
                    log.exception("telling of article %s stored elsewhere failed", change.article_id)

        self._derived.elsewhere = taken

    def __enter__(self) -> ArticleIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.store)

    @property
    def generation(self) -> int:
        """The database's generation that searches see: each committed change, this process's or
        another's, adds one once the derived indexes took it."""
        return self._derived.generation

    def stats(self) -> IndexStats:
        with self._lock:
            return IndexStats(len(self.store), self.store.count_chunks(), self.vectors.kind)

    def warm_up(self) -> None:
        """Do what the first question would otherwise wait for: its first search reads the lexical index, and it
        loads the reader."""
        with self._lock:
            self.lexical.top(["news"], 1)
        if self.settings.reader:
            reader_for()  # loaded once per process, by the first question otherwise

    # -- adding and removing ------------------------------------------------------------------

    def add(
        self, article: Article, scope: Scope = _EVERYTHING, added_by: str = "", deadline: Deadline | None = None
    ) -> AddResult:
        """Add an article, replace its older version, or recognise it as already there.

        Args:
            article: the article to add.
            scope: where it is added: a server's scope keeps it to that server; the default
                (the command line's) shares it with every server.
            added_by: who added it, for the record.
            deadline: a time budget; past it (or once cancelled) the add is abandoned with
                BudgetExceeded before anything is stored.
        """
        return self.add_many([article], scope, added_by, deadline)[0]

    def add_many(
        self,
        articles: Sequence[Article],
        scope: Scope = _EVERYTHING,
        added_by: str = "",
        deadline: Deadline | None = None,
    ) -> list[AddResult]:
        """`add` for several articles, embedded together; each is still stored in its own transaction."""
        return self._adder.add_many(articles, scope, added_by, deadline)

    def texts_to_embed(self, article: Article, chunks: Sequence[Chunk] | None = None) -> list[str]:
        """What the model embeds of each of the article's chunks (the title, as context, and the chunk)."""
        return self._adder.texts_to_embed(article, chunks)

    def chunk(self, article: Article) -> list[Chunk]:
        """The article's chunks, sized so that title context plus chunk fit the model."""
        return self._adder.chunk(article)

    def embed(self, articles: Sequence[Article], deadline: Deadline | None = None) -> list[Embedded]:
        """Chunk and embed articles; nothing is stored (`add_embedded` does)."""
        return self._adder.embed(articles, deadline)

    def add_embedded(
        self,
        items: Sequence[Embedded],
        scope: Scope = _EVERYTHING,
        added_by: str = "",
        deadline: Deadline | None = None,
    ) -> list[AddResult]:
        """Store embedded articles, each in its own transaction and replacing its older version (what
        `add_many` does after its checks for copies; for callers that embed once and store often)."""
        return self._adder.add_embedded(items, scope, added_by, deadline)

    def remove(self, article_id: str) -> bool:
        """Remove an article; False if there was none with that id."""
        with self._lock:
            change = self.store.remove(article_id)
            if change is not None:
                self._derived.apply(change)
                self._derived.commit()
            return change is not None

    def save(self) -> None:
        """Make everything durable (the database and the lexical index already are after each change;
        this writes the vector index)."""
        self._derived.save()

    # -- reading ------------------------------------------------------------------------------

    def articles(self, scope: Scope = _EVERYTHING, text: bool = True) -> list[StoredArticle]:
        """The articles `scope` sees, newest first; without `text` their texts are left out (""): a listing
        of thousands reads a few bytes of each, not its whole text."""
        return self.store.articles(scope.collections, text)

    def article_versions(self) -> list[ArticleVersion]:
        """Which text of each article is stored (oldest added first), to tell what changed since a
        listing kept elsewhere: cheap, it reads no text."""
        return self.store.article_versions()

    def article(self, article_id: str, scope: Scope = _EVERYTHING) -> StoredArticle | None:
        """The article with this id, if `scope` sees it."""
        article = self.store.article(article_id)
        return article if article is not None and scope.sees(article.collection) else None

    def chunks(self, article_id: str) -> list[StoredChunk]:
        """The chunks of an article as stored, in order."""
        return sorted(self.store.chunks(self.store.article_chunk_ids(article_id)).values(), key=lambda c: c.start)

    def copy(self, article_id: str) -> ArticleCopy | None:
        """The article exactly as stored, with its passages, vectors and sentences, for another index to
        `restore` (migrating between stores); None if there is no such article."""
        return copy_of(self.store, article_id)

    def restore(self, copy: ArticleCopy) -> None:
        """Store a copy made by another index's `copy`, replacing an older version. Only the database
        takes it: the derived indexes catch up when the index is opened next (as after a crash), so a
        migration writes many articles without rebuilding them each time."""
        with self._lock:
            add_copy(self.store, copy)

    def chunk_vectors(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(chunk ids, their exact float32 vectors) of every stored chunk, in batches (for measuring
        how near approximate vector search comes to exact)."""
        return self.store.vector_batches()

    # -- searching and asking -----------------------------------------------------------------

    def ask(
        self,
        question: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        scope: Scope = _EVERYTHING,
        after: Turn | None = None,
    ) -> Answer:
        """Answer with verbatim quotes, or say nothing was found and name the nearest sources.

        Args:
            question: the user's question.
            k: the most quotes to return (default: the `top_k` setting).
            mode: how passages are retrieved (index/search/fusion.py).
            scope: search only what this scope sees (default: every article).
            after: the turn this question follows in a conversation: a follow-up ("what about
                France?") is rewritten to stand alone (index/answer/followups.py), and the answer says
                what was searched.
        """
        return self.retrieve(question, k, mode, scope, after=after).answer

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        scope: Scope = _EVERYTHING,
        depth: int = 0,
        after: Turn | None = None,
    ) -> Retrieval:
        """`ask`, with how the answer was found: the ranked passages (at least `depth` of them), the
        sentences the quotes were chosen from, and the time of each stage."""
        question = check_question(question)
        searched = check_question(rewrite(question, after)) if after is not None else question
        started = time.perf_counter()
        query = self._query(searched)
        embedded = time.perf_counter()
        with self._lock:
            found = self._retriever.answer(query, k or self.settings.top_k, self.settings.min_score, mode, scope, depth)
        answer = replace(found.answer, question=question, searched=searched if searched != question else "")
        return Retrieval(answer, found.passages, found.candidates, {"embed": embedded - started, **found.timings})

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid", scope: Scope = _EVERYTHING) -> list[Passage]:
        """The `k` passages that best match the question, best first."""
        query = self._query(check_question(question))
        with self._lock:
            return self._retriever.rank(query, k, mode, scope).passages

    def question_vectors(self, questions: Sequence[str]) -> np.ndarray:
        """The unit vectors of these questions, a row each: what `FollowedQuestions` keeps of a follow."""
        return self.encoder.encode([check_question(q) for q in questions])

    def answers_for(
        self,
        follows: FollowedQuestions,
        article_id: str,
        scope: Scope = _EVERYTHING,
        min_score: float | None = None,
        *,
        floor: float = NEAR_FLOOR,
        asked: int = MOST_ASKED,
        with_reader: bool = False,
        agreeing: bool = True,
    ) -> list[FollowAnswer]:
        """The followed questions a newly added article answers, for a server that sees it (`scope`).

        Only the follows near something it says are read (`FollowedQuestions.near`: at least `floor`,
        the nearest `asked`), against this article's chunks alone, without a search: a follow is
        answered when the quote model's probability for one of its sentences is at least `min_score`
        (default: the `follow_min_score` setting); the probability without the reader, which decides
        "not found", unless `with_reader`. The reader then orders the quotes of those that pass, and
        (`agreeing`) only those whose first quote holds the sentence that probability likes best are kept."""
        bar = self.settings.follow_min_score if min_score is None else min_score
        article = self.store.article(article_id)
        if article is None or not scope.sees(article.collection):
            return []
        with self._lock:  # the article's chunks as the derived indexes hold them (a re-add changes both at once)
            chunk_ids = self.store.article_chunk_ids(article_id)
            sentences = self.store.sentences(chunk_ids)
        found = []
        weighed: dict[str, tuple[Answer, float, bool] | None] = {}  # by question: asked once, however many follow it
        for follow, _ in follows.near(sentences.vectors, floor, asked):
            followed = follows.get(follow)
            if followed is None:
                continue  # unfollowed meanwhile
            question, vector = followed
            same = same_question(question)
            if same not in weighed:
                with self._lock:
                    if self.store.article_chunk_ids(article_id) != chunk_ids:
                        break  # re-added or removed meanwhile: its next version is checked when it is added
                    weighed[same] = self._answer_within(
                        self._query(question, vector), chunk_ids, scope, bar, with_reader
                    )
            verdict = weighed[same]
            if verdict is None:
                continue
            answer, support, agrees = verdict
            if agreeing and not agrees:
                continue
            found.append(FollowAnswer(follow, replace(answer, question=question), support, agrees))
        return found

    def _answer_within(
        self, query: Query, chunk_ids: list[int], scope: Scope, bar: float, with_reader: bool
    ) -> tuple[Answer, float, bool] | None:
        """A followed question asked of one article's chunks: (answer, probability that decided it, whether
        the two rankings agree on the first quote), or None if that probability is under `bar`."""
        weighed = self._retriever.answer(
            query, self.settings.top_k, bar, "hybrid", scope, within=chunk_ids, with_reader=with_reader
        )
        if not weighed.answer.answered:
            return None
        support = max(s.score if with_reader else s.support for s in weighed.candidates)
        answer = (
            weighed
            if with_reader
            else self._retriever.answer(query, self.settings.top_k, 0.0, "hybrid", scope, within=chunk_ids)
        ).answer
        best = max(weighed.candidates, key=lambda s: s.support)
        first = answer.quotes[0]
        return answer, support, best.span.start < first.end and first.start < best.span.end

    def _query(self, question: str, vector: np.ndarray | None = None) -> Query:
        return Query(
            question,
            self.encoder.encode([question])[0] if vector is None else vector,
            tuple(self.lexical.analyzer.terms(question)),
            QuestionCues.of(question),
            recency_days(question),
        )
