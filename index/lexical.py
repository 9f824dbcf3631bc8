"""BM25 over the chunks (bm25s), with English stemming and stop words."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

_TOKEN = re.compile(r"\w+")
# Function words that carry no topic; question words are here too, so "how did X react" is about X.
STOP_WORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being
below between both but by can cannot could did do does doing down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not of off on once only or other our ours ourselves out over own same
she should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves s t don doesn didn isn wasn weren also may might must
shall us whose upon per via yet
""".split())


class Analyzer:
    """Lowercases, splits into words, drops stop words and stems (Snowball English)."""

    def __init__(self) -> None:
        import Stemmer

        self._stemmer = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w for w in _TOKEN.findall(text.lower()) if w not in STOP_WORDS]
        return self._stemmer.stemWords(words)


class LexicalIndex:
    """BM25 scores of chunks for a query; rebuilt whole from the stored chunks when they change."""

    k1 = 1.2
    b = 0.75

    def __init__(self, analyzer: Analyzer | None = None) -> None:
        self.analyzer = analyzer or Analyzer()
        self.ids = np.zeros(0, dtype=np.int64)
        self._bm25 = None
        self._df: Counter[str] = Counter()

    def build(self, ids: Sequence[int], texts: Sequence[str]) -> None:
        """Index `texts` (one per chunk id), replacing whatever was indexed before."""
        import bm25s

        tokens = [self.analyzer.terms(t) for t in texts]
        self.ids = np.asarray(ids, dtype=np.int64)
        self._df = Counter(term for doc in tokens for term in set(doc))
        self._bm25 = None
        if self._df:
            self._bm25 = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            self._bm25.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def idf(self, term: str) -> float:
        """Lucene's idf; a term no chunk has gets the highest idf, as the rarest possible term."""
        n, df = len(self.ids), self._df.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 of every chunk (aligned with `ids`) divided by the query's total idf, in [0, ~1].

        The division makes scores comparable across queries: 1.0 means every query term occurs
        about once in a chunk of average length; a query term found nowhere lowers every score.
        """
        if self._bm25 is None or not terms:
            return np.zeros(len(self.ids), dtype=np.float32)
        raw = self._bm25.get_scores(list(terms))
        total = sum(self.idf(t) for t in terms)
        return np.minimum(raw / total, 1.0).astype(np.float32) if total > 0 else np.zeros_like(raw)
