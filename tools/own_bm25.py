"""The BM25 articlebot wrote itself before it moved to tantivy (index/search/bm25.py), kept only so that
tools/compare_lexical.py can measure the two side by side. Needs PyStemmer (pip install PyStemmer).

BM25 over the chunks, with English stemming and stop words, updated in place and saved to disk.

Postings live in immutable segments, as in Lucene: an add writes a small new segment and
neighbouring segments of similar size are merged, so adding costs about the size of what is added
(amortised) rather than a rebuild of everything. A removal only marks its chunks dead; merges drop
their postings. Document frequencies and the average length are counted over live chunks at query
time, so scores are those of an index built from scratch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from index.search.bm25 import STOP_WORDS  # the same words as the BM25 the product uses

_TOKEN = re.compile(r"\w+")
#: A newer segment is merged into the one before it once that one is at most this many times larger.
MERGE_FACTOR = 4
FORMAT_VERSION = 1


class Analyzer:
    """Lowercases, splits into words, drops stop words and stems (Snowball English)."""

    def __init__(self) -> None:
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS]
        return self._stemmer.stemWords(words)


class _Segment(NamedTuple):
    """Postings of some chunks, grouped by term: term `terms[i]` occurs in `docs[starts[i]:starts[i+1]]`."""

    terms: np.ndarray  # int32, ascending term ids
    starts: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 positions in LexicalIndex.ids, ascending within a term
    tfs: np.ndarray  # uint16 term frequencies

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        i = int(np.searchsorted(self.terms, term))
        if i == len(self.terms) or self.terms[i] != term:
            return _NO_DOCS, _NO_TFS
        return self.docs[self.starts[i] : self.starts[i + 1]], self.tfs[self.starts[i] : self.starts[i + 1]]


_NO_DOCS = np.zeros(0, dtype=np.int32)
_NO_TFS = np.zeros(0, dtype=np.uint16)


def _segment(term_ids: np.ndarray, docs: np.ndarray, tfs: np.ndarray) -> _Segment:
    """A segment from unordered (term, doc, tf) postings; stable sort keeps docs ascending per term."""
    order = np.argsort(term_ids, kind="stable")
    term_ids, docs, tfs = term_ids[order], docs[order], tfs[order]
    terms, starts = np.unique(term_ids, return_index=True)
    return _Segment(
        terms.astype(np.int32),
        np.append(starts, len(term_ids)).astype(np.int64),
        docs.astype(np.int32),
        tfs.astype(np.uint16),
    )


class LexicalIndex:
    """BM25 scores of chunks for a query, aligned with `ids` (ascending chunk ids, dead ones included)."""

    k1 = 1.2
    b = 0.75

    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self.analyzer = analyzer or Analyzer()
        self.ids = np.zeros(0, dtype=np.int64)
        self._lengths = np.zeros(0, dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self._vocabulary: dict[str, int] = {}
        self._segments: list[_Segment] = []
        self._live_length = 0
        self._live = 0
        self._norms_key: tuple[int, int, int] = (-1, -1, -1)
        self._norms = np.zeros(0, dtype=np.float32)
        #: The store generation this index matches (-1: none yet).
        self.generation = -1
        #: Changes whenever positions in `ids` change meaning, so that cached masks can be dropped.
        self.layout = 0
        self._idf_cache: dict[str, float] = {}

    def __len__(self) -> int:
        """The live chunks."""
        return self._live

    # -- changing ---------------------------------------------------------------------------

    def add(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        """Index `texts` (one per chunk id); ids must be larger than any indexed before."""
        if not len(ids):
            return
        ids = np.asarray(ids, dtype=np.int64)
        if len(self.ids) and ids.min() <= self.ids[-1] or np.any(np.diff(ids) <= 0):
            raise ValueError("chunk ids must be added in ascending order, each larger than the last")
        tokens = [self.analyzer.terms(t) for t in texts]
        lengths = np.fromiter((len(t) for t in tokens), dtype=np.int32, count=len(tokens))
        vocabulary = self._vocabulary
        flat = np.fromiter(
            (vocabulary.setdefault(term, len(vocabulary)) for doc in tokens for term in doc),
            dtype=np.int64,
            count=int(lengths.sum()),
        )
        span = len(self.ids) + len(ids)
        docs = np.repeat(np.arange(len(self.ids), span, dtype=np.int64), lengths)
        # One posting per (term, doc), counted: the key sorts by term, then doc.
        keys, tfs = np.unique(flat * span + docs, return_counts=True)
        self.ids = np.concatenate([self.ids, ids])
        self._lengths = np.concatenate([self._lengths, lengths])
        self._alive = np.concatenate([self._alive, np.ones(len(ids), dtype=bool)])
        self._live_length += int(lengths.sum())
        self._live += len(ids)
        if len(keys):
            self._segments.append(_segment(keys // span, keys % span, np.minimum(tfs, 65535)))
            self._merge_small_segments()
        self._changed()

    def remove(self, ids: Sequence[int]) -> None:
        """Forget these chunk ids (unknown ones are ignored)."""
        if not len(ids) or not len(self.ids):
            return
        ids = np.asarray(ids, dtype=np.int64)
        positions = np.searchsorted(self.ids, ids).clip(0, len(self.ids) - 1)
        positions = positions[(self.ids[positions] == ids) & self._alive[positions]]
        self._alive[positions] = False
        self._live_length -= int(self._lengths[positions].sum())
        self._live -= len(positions)
        if len(self._alive) > 1000 and self._alive.mean() < 0.75:
            self._compact()
        self._changed()

    def _changed(self) -> None:
        self._idf_cache.clear()

    def _merge_small_segments(self) -> None:
        segments = self._segments
        while len(segments) > 1 and len(segments[-2].docs) <= MERGE_FACTOR * len(segments[-1].docs):
            newer, older = segments.pop(), segments.pop()
            segments.append(self._merged([older, newer]))

    def _merged(self, segments: Sequence[_Segment], positions: np.ndarray | None = None) -> _Segment:
        """One segment with the live postings of `segments` (in order), docs renumbered by `positions`."""
        terms, docs, tfs = [], [], []
        for segment in segments:
            counts = np.diff(segment.starts)
            live = self._alive[segment.docs]
            terms.append(np.repeat(segment.terms, counts)[live])
            docs.append(segment.docs[live] if positions is None else positions[segment.docs[live]])
            tfs.append(segment.tfs[live])
        return _segment(np.concatenate(terms), np.concatenate(docs), np.concatenate(tfs))

    def _compact(self) -> None:
        """Drop dead chunks altogether: one segment, positions renumbered."""
        positions = np.cumsum(self._alive) - 1
        merged = self._merged(self._segments, positions) if self._segments else None
        self.ids, self._lengths = self.ids[self._alive], self._lengths[self._alive]
        self._alive = np.ones(len(self.ids), dtype=bool)
        self._live = len(self.ids)
        self._segments = [merged] if merged is not None and len(merged.docs) else []
        self.layout += 1

    # -- scoring ----------------------------------------------------------------------------

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The live chunks (positions) holding `term` and its frequency in each."""
        term_id = self._vocabulary.get(term)
        if term_id is None:
            return _NO_DOCS, _NO_TFS
        found = [s.postings(term_id) for s in self._segments]
        if len(found) == 1:
            docs, tfs = found[0]
        else:
            docs = np.concatenate([d for d, _ in found]) if found else _NO_DOCS
            tfs = np.concatenate([f for _, f in found]) if found else _NO_TFS
        if self._live == len(self.ids):  # nothing removed: no need to look
            return docs, tfs
        live = self._alive[docs]
        return docs[live], tfs[live]

    def _length_norms(self) -> np.ndarray:
        """k1 · (1 − b + b · length / average length) of every chunk, computed once per change."""
        key = (len(self.ids), self._live, self._live_length)
        if key != self._norms_key:
            average = self._live_length / max(self._live, 1)
            self._norms = (self.k1 * (1 - self.b + self.b * self._lengths / max(average, 1e-9))).astype(np.float32)
            self._norms_key = key
        return self._norms

    def idf(self, term: str) -> float:
        """Lucene's idf; a term no chunk has gets the highest idf, as the rarest possible term."""
        if term not in self._idf_cache:
            n, df = len(self), len(self._postings(term)[0])
            self._idf_cache[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return self._idf_cache[term]

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 of every chunk (aligned with `ids`; dead ones 0) divided by the query's total idf, in [0, ~1].

        The division makes scores comparable across queries: 1.0 means every query term occurs
        about once in a chunk of average length; a query term found nowhere lowers every score.
        """
        scores = np.zeros(len(self.ids), dtype=np.float32)
        if not self._live or not terms:
            return scores
        norms = self._length_norms()
        total = 0.0
        for term in terms:  # a repeated query term counts again, as in Lucene
            idf = self.idf(term)
            total += idf
            docs, tfs = self._postings(term)
            if len(docs):
                tf = tfs.astype(np.float32)
                scores[docs] += idf * tf / (tf + norms[docs])
        if total > 0:
            scores *= np.float32(1 / total)
            np.minimum(scores, 1.0, out=scores)
        return scores

    # -- saving -----------------------------------------------------------------------------

    def save(self, handle: BinaryIO) -> None:
        """Write the whole index to a binary file handle (numpy's .npz, no pickles)."""
        arrays = {
            "format": np.array([FORMAT_VERSION, self.generation], dtype=np.int64),
            "ids": self.ids,
            "lengths": self._lengths,
            "alive": self._alive,
            "vocabulary": np.frombuffer("\n".join(self._vocabulary).encode("utf-8"), dtype=np.uint8),
        }
        for n, segment in enumerate(self._segments):
            arrays.update({f"{n}.{field}": getattr(segment, field) for field in _Segment._fields})
        np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: Path | BinaryIO, analyzer: Analyzer | None = None) -> LexicalIndex:
        """An index saved by `save` (a path or an open binary file); ValueError (or OSError) if it is not one."""
        index = cls(analyzer)
        with np.load(path, allow_pickle=False) as data:
            version, index.generation = (int(v) for v in data["format"])
            if version != FORMAT_VERSION:
                raise ValueError(f"{path}: lexical index format {version}, expected {FORMAT_VERSION}")
            index.ids, index._lengths, index._alive = data["ids"], data["lengths"], data["alive"]
            words = data["vocabulary"].tobytes().decode("utf-8")
            index._vocabulary = {w: i for i, w in enumerate(words.split("\n"))} if words else {}
            count = sum(1 for key in data.files if key.endswith(".terms"))
            index._segments = [_Segment(*(data[f"{n}.{field}"] for field in _Segment._fields)) for n in range(count)]
        if not (len(index.ids) == len(index._lengths) == len(index._alive)):
            raise ValueError(f"{path}: damaged lexical index")
        index._live_length = int(index._lengths[index._alive].sum())
        index._live = int(index._alive.sum())
        return index
