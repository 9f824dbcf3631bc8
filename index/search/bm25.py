"""BM25 over the chunks, kept by tantivy in the index folder (`lexical/`).

tantivy is a maintained Lucene-style engine: segments on disk, memory-mapped, merged in the
background, deletes, and top-k search that skips whole blocks of postings that cannot reach the
k-th score (block-max WAND). Against the BM25 this project wrote itself (in numpy, every chunk
scored for every question, all postings in memory), it searches in a fraction of the time at a
million passages, opens instantly and keeps its postings out of the heap: see docs/performance.md's
comparison of lexical engines (`tools/compare_lexical.py`).

It is one of the derived indexes (index/storage/derived.py): it applies the database's changes, buffered
until `save` commits them (after every batch of changes: a commit writes only new segments), and
`rebuild` catches up with the database after a crash between a database commit and its own.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from ..records import Change

if TYPE_CHECKING:
    from ..storage.base import Store

#: Function words that carry no topic; question words are here too, so "how did X react" is about X.
STOP_WORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below
    between both but by can cannot could did didn do does doesn doing don down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is isn it its
    itself just may me might more most must my myself no nor not of off on once only or other our ours
    ourselves out over own per s same shall she should so some such t than that the their theirs them
    themselves then there these they this those through to too under until up upon us very via was wasn we
    were weren what when where which while who whom whose why will with would yet you your yours yourself
    yourselves""".split()
)
#: BM25's parameters (tantivy's, which are Lucene's).
K1 = 1.2
B = 0.75
#: Memory tantivy's writer may buffer before it writes a segment (its minimum is 15 MB).
WRITER_HEAP = 50_000_000
_TOKENIZER = "articlebot"
#: Chunks handed to tantivy at a time when it catches up with the database.
_CATCH_UP_BATCH = 20_000


def _collection_term(collection: str) -> str:
    # Prefixed, so that the shared collection ("") is a term too.
    return f"c:{collection}"


class LexicalError(RuntimeError):
    """The lexical index on disk cannot be opened (damaged); it can be rebuilt from the database."""


def text_analyzer():  # -> tantivy.TextAnalyzer
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.regex(r"\w+"))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.custom_stopword(sorted(STOP_WORDS)))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


class Analyzer:
    """Words (\\w+), lowercased, stop words dropped, Snowball English stems: the very analyzer tantivy
    indexes with, so question and sentence terms are the index's terms."""

    def __init__(self) -> None:
        self._analyzer = text_analyzer()

    def terms(self, text: str) -> list[str]:
        return self._analyzer.analyze(text)


def lexical_text(title: str, text: str) -> str:
    """What is indexed of a chunk: its article's title and its text, so that a title's words find it."""
    return f"{title}\n{text}" if title else text


class LexicalIndex:
    """BM25 scores of chunks for a query, in [0, ~1] (divided by the query's total idf)."""

    name: ClassVar[str] = "lexical"
    saves_each_change: ClassVar[bool] = True

    def __init__(self, folder: Path, analyzer: Analyzer | None = None) -> None:
        """Open the index in `folder`, or create an empty one; LexicalError if it is damaged."""
        import tantivy

        self._tantivy = tantivy
        self.folder = Path(folder)
        self.analyzer = analyzer or Analyzer()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if tantivy.Index.exists(str(self.folder)):
                self._index = tantivy.Index.open(str(self.folder))
            else:
                schema = (
                    tantivy.SchemaBuilder()
                    .add_integer_field("chunk", indexed=True, fast=True)
                    .add_text_field("collection", tokenizer_name="raw")
                    # Term frequencies without positions: BM25 needs no more.
                    .add_text_field("text", tokenizer_name=_TOKENIZER, index_option="freq")
                    .build()
                )
                self._index = tantivy.Index(schema, str(self.folder), reuse=False)
        except (ValueError, OSError) as exc:
            raise LexicalError(f"{self.folder}: damaged lexical index ({exc})") from None
        self._index.register_tokenizer(_TOKENIZER, text_analyzer())
        self._schema = self._index.schema
        self._writer: Any = None
        self._idf: dict[str, float] = {}
        self._searcher = self._index.searcher()

    @classmethod
    def recreate(cls, folder: Path, analyzer: Analyzer | None = None) -> LexicalIndex:
        """An empty index in `folder`, whatever was there."""
        shutil.rmtree(folder, ignore_errors=True)
        return cls(folder, analyzer)

    @classmethod
    def load(cls, folder: Path, analyzer: Analyzer | None = None) -> LexicalIndex:
        """The index in `folder`; an empty one in its place if it is damaged (`rebuild` fills it)."""
        try:
            return cls(folder, analyzer)
        except LexicalError:
            return cls.recreate(folder, analyzer)

    def __len__(self) -> int:
        """The chunks indexed (as of the last save)."""
        return int(self._searcher.num_docs)

    # -- changing ---------------------------------------------------------------------------

    def _writing(self):
        if self._writer is None:
            # Taken for one batch of changes only: tantivy allows one writer per index, and an idle
            # one would hold its lock and memory for nothing.
            self._writer = self._index.writer(heap_size=WRITER_HEAP, num_threads=1)
        return self._writer

    def add(self, ids: Sequence[int] | np.ndarray, texts: Sequence[str], collection: str = "") -> None:
        """Index `texts`, one per chunk id, for `collection`; seen by searches after `save`."""
        writer = self._writing()
        for chunk_id, text in zip(ids, texts):
            doc = self._tantivy.Document()
            doc.add_integer("chunk", int(chunk_id))
            doc.add_text("collection", _collection_term(collection))
            doc.add_text("text", text)
            writer.add_document(doc)

    def remove(self, ids: Sequence[int] | np.ndarray) -> None:
        """Forget these chunk ids (unknown ones are ignored); seen by searches after `save`."""
        if len(ids):
            self._writing().delete_documents_by_query(self._only(ids))

    def apply(self, change: Change) -> None:
        """Take a change of the database; searches see it after `save`. Taking one twice is harmless
        (a process that caught up by rebuilding may be handed again a change it already has)."""
        self.remove(np.concatenate([change.removed, change.added]))
        self.add(change.added, [lexical_text(change.title, t) for t in change.texts], change.collection)

    def rebuild(self, store: Store) -> None:
        """Catch up with the database and save. Chunk ids only grow, so the adds it missed are the
        chunks above its newest; the removals it missed are what it holds beyond the database."""
        batch: list[tuple[int, str, str, str]] = []
        for row in store.chunk_texts(after=self.newest()):
            batch.append(row)
            if len(batch) == _CATCH_UP_BATCH:
                self._add_rows(batch)
                batch = []
        self._add_rows(batch)
        self.save()
        # Counts that agree prove nothing held is stale only if no one else writes meanwhile: with a
        # shared database, a chunk added after the read above can hide one removed before it.
        if getattr(store, "shared", False) or len(self) != store.count_chunks():
            stale = np.setdiff1d(self.chunk_ids(), store.chunk_ids(), assume_unique=True)
            if len(stale):
                self.remove(stale)
                self.save()

    def _add_rows(self, rows: Sequence[tuple[int, str, str, str]]) -> None:
        """Add (chunk id, collection, title, text) rows, grouped by collection."""
        for collection in sorted({row[1] for row in rows}):
            mine = [row for row in rows if row[1] == collection]
            self.add([row[0] for row in mine], [lexical_text(row[2], row[3]) for row in mine], collection)

    def save(self) -> None:
        """Make the changes since the last save durable and searchable."""
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        writer.commit()
        writer.wait_merging_threads()
        self.refresh()

    def refresh(self) -> None:
        """See the latest commit (ours or another process's)."""
        self._index.reload()
        self._searcher = self._index.searcher()
        self._idf.clear()

    # -- reading ----------------------------------------------------------------------------

    def newest(self) -> int:
        """The largest chunk id indexed, 0 if none."""
        if not len(self):
            return 0
        found = self._searcher.aggregate(self._tantivy.Query.all_query(), {"newest": {"max": {"field": "chunk"}}})
        return int(found["newest"]["value"] or 0)

    def chunk_ids(self) -> np.ndarray:
        """Every chunk id indexed, ascending."""
        hits = self._searcher.search(self._tantivy.Query.all_query(), max(len(self), 1), count=False).hits
        return np.sort(np.asarray(self._searcher.fast_field_values("chunk", [a for _, a in hits]), dtype=np.int64))

    def idf(self, term: str) -> float:
        """Lucene's idf; a term no chunk has gets the highest idf, as the rarest possible term."""
        if term not in self._idf:
            n, df = len(self), self._searcher.doc_freq("text", term)
            self._idf[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return self._idf[term]

    def _only(self, ids: Sequence[int] | np.ndarray) -> Any:
        tantivy = self._tantivy
        # One term query per id: a fifth of the time of a term-set query for the 50 candidates of a question.
        return tantivy.Query.const_score_query(
            tantivy.Query.boolean_query(
                [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "chunk", int(i))) for i in ids]
            ),
            0.0,
        )

    def _search(self, terms: Sequence[str], k: int, must: Sequence) -> list[tuple[int, float]]:
        tantivy = self._tantivy
        total = sum(self.idf(t) for t in terms)
        if not terms or k <= 0 or not len(self) or total <= 0:
            return []
        # A repeated query term counts again, as in Lucene.
        query = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "text", t)) for t in terms]
        )
        if must:  # filters score 0 and only narrow
            query = tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in (*must, query)])
        hits = self._searcher.search(query, k, count=False).hits
        ids = self._searcher.fast_field_values("chunk", [address for _, address in hits])
        # tantivy's BM25 carries Lucene's (k1 + 1) factor; without it and over the total idf, 1.0 means
        # every query term occurs about once in a chunk of average length.
        scale = 1 / ((K1 + 1) * total)
        return [
            (int(cast(int, chunk_id)), min(score * scale, 1.0)) for (score, _), chunk_id in zip(hits, ids) if score > 0
        ]

    def top(self, terms: Sequence[str], k: int, collections: Sequence[str] | None = None) -> list[tuple[int, float]]:
        """The `k` best chunks for the query terms as (chunk id, score), best first; only those of
        `collections` if given."""
        must = []
        if collections is not None:
            query = self._tantivy.Query
            must.append(
                query.const_score_query(
                    query.term_set_query(self._schema, "collection", [_collection_term(c) for c in collections]), 0.0
                )
            )
        return self._search(terms, k, must)

    def scores(self, terms: Sequence[str], ids: Sequence[int]) -> dict[int, float]:
        """The scores of these chunks (those without any query term are left out)."""
        return dict(self._search(terms, len(ids), [self._only(ids)])) if len(ids) else {}
