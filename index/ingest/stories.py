"""One story told once: near-copies of an article (a wire copy under another headline, a trimmed or
lightly edited version) are recognised and grouped into one story.

Each article gets a MinHash signature of its word 5-shingles (datasketch) and its shingle count. An
LSH index over the signatures finds candidates whose estimated Jaccard similarity is at least
`CANDIDATE_JACCARD`; a candidate is the same story when at least `SAME_STORY` of the shorter text's
shingles are estimated to be in the other (containment, so that a copy trimmed to its first half
still counts). The thresholds are
measured on copies made from real articles with the kinds of variation news has
(`tools/near_duplicates.py`, docs/how-it-works.md).

The LSH index lives in memory and is rebuilt from the signatures the database keeps when the index
opens; `ArticleIndex` keeps it in step with every add and remove.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..records import Change
from ..storage.scope import Scope

if TYPE_CHECKING:
    from ..storage.base import Store

NUM_PERM = 128
#: datasketch's hashing scheme, named so that stored signatures stay comparable whatever its default.
SCHEME = "affine32"
SHINGLE = 5
#: LSH candidates: estimated Jaccard similarity at least this.
CANDIDATE_JACCARD = 0.2
#: Same story: this share of the shorter text's shingles is in the longer one.
SAME_STORY = 0.4
_WORD = re.compile(r"\w+")


def shingles(text: str) -> set[bytes]:
    """The text's overlapping runs of SHINGLE words, lowercased (the whole text if it is shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) < SHINGLE:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


class Signature(NamedTuple):
    """A text's MinHash values (NUM_PERM of them) and its number of shingles."""

    values: np.ndarray  # uint32, datasketch's SCHEME
    shingles: int

    @classmethod
    def of(cls, text: str) -> Signature:
        from datasketch import MinHash

        found = shingles(text)
        minhash = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
        minhash.update_batch(list(found))
        return cls(np.asarray(minhash.hashvalues, dtype=np.uint32), len(found))

    def to_bytes(self) -> bytes:
        """As stored: the values, then the shingle count, as uint32."""
        return np.append(self.values, np.uint32(min(self.shingles, 2**32 - 1))).astype(np.uint32).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        packed = np.frombuffer(data, dtype=np.uint32)
        return cls(packed[:-1], int(packed[-1]))

    def minhash(self):  # -> datasketch.MinHash
        from datasketch import MinHash

        return MinHash(num_perm=NUM_PERM, hashvalues=self.values, scheme=SCHEME)

    def containment(self, other: Signature) -> float:
        """The estimated share of the shorter text's shingles that the other holds: from the estimated
        Jaccard similarity J and the two sizes, |A ∩ B| = J (|A| + |B|) / (1 + J)."""
        if not self.shingles or not other.shingles:
            return 0.0
        jaccard = float(np.mean(self.values == other.values))
        common = jaccard * (self.shingles + other.shingles) / (1 + jaccard)
        return min(1.0, common / min(self.shingles, other.shingles))


class StoryIndex:
    """Candidate copies of a text: LSH over the signatures of one article per story (the first stored),
    so that a story told by many outlets is one entry, not many. Each entry keeps its article's collection
    (part of the article's id, so it never changes), so that candidates are limited to what a collection
    sees without reading the database."""

    def __init__(self) -> None:
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(threshold=CANDIDATE_JACCARD, num_perm=NUM_PERM)
        self._owners: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, article_id: str) -> bool:
        return article_id in self._owners

    def add(self, article_id: str, signature: Signature, collection: str) -> None:
        self.remove(article_id)
        self._lsh.insert(article_id, signature.minhash())
        self._owners[article_id] = collection

    def add_many(self, rows: Iterable[tuple[str, Signature, str]]) -> None:
        for article_id, signature, collection in rows:
            self.add(article_id, signature, collection)

    def remove(self, article_id: str) -> None:
        if article_id in self._owners:
            self._lsh.remove(article_id)
            del self._owners[article_id]

    def candidates(self, signature: Signature, scope: Scope | None = None) -> list[str]:
        """The entries that may be copies of the text, by id; with `scope`, only those of the collections
        it sees."""
        found = self._lsh.query(signature.minhash())
        return sorted(c for c in found if scope is None or scope.sees(self._owners[c]))


#: Candidate copies checked per article added, of those its collection sees (a story told by many
#: outlets is one candidate). A cap, because each is read from the database and compared: text that many
#: stories share (a standing introduction, a template) could otherwise make one add read thousands.
MAX_STORY_CANDIDATES = 20


class StoryKeeper:
    """Which story each article added tells, and the story index kept in step with the database's changes.

    Questions never need the story index, so it is built from the stored signatures (filled in first for
    an older version's articles) when an add or a remove first does. Each story is found by its first
    stored article."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._index: StoryIndex | None = None

    def reset(self) -> None:
        """Forget the index: it is built again from the database when next needed."""
        self._index = None

    @property
    def _stories(self) -> StoryIndex:
        if self._index is None:
            for article_id, text in self.store.without_signature():
                self.store.set_signature(article_id, Signature.of(text).to_bytes())
            self._index = StoryIndex()
            self._index.add_many(
                (article_id, Signature.from_bytes(packed), collection)
                for article_id, (collection, story, packed) in self.store.signatures().items()
                if story == article_id
            )
        return self._index

    def story_of(self, key: str, signature: Signature, collection: str) -> str:
        """The story an article of `collection` tells: that of a stored near-copy its collection sees, else
        its own (`key`). Only candidates the collection sees count towards the cap (a story carried by many
        servers is a candidate in each of their collections), and the first in id order wins a tie."""
        candidates = [c for c in self._stories.candidates(signature, Scope(collection)) if c != key]
        candidates = candidates[:MAX_STORY_CANDIDATES]
        stored = self.store.signatures(candidates)
        scored = [
            (signature.containment(Signature.from_bytes(stored[c][2])), stored[c][1]) for c in candidates if c in stored
        ]
        best, story = max(scored, key=lambda pair: pair[0], default=(0.0, key))
        return story if best >= SAME_STORY else key

    def after(self, change: Change) -> None:
        """Keep the index's rule after a change: each story is found by its first stored article."""
        if self._index is None:
            return  # built from the database when first needed
        article_id = change.article_id
        self._index.remove(article_id)
        stored = self.store.signatures([article_id]).get(article_id)
        if stored is not None and stored[1] == article_id:  # the first of its story: what later copies are found by
            self._index.add(article_id, Signature.from_bytes(stored[2]), stored[0])
        if change.old_story == article_id and (stored is None or stored[1] != article_id):
            # It was what its story's copies were found by; the next of them is now.
            for member in self.store.story_members(article_id, limit=1):
                packed = self.store.signatures([member.id]).get(member.id)
                if packed and member.id not in self._index:
                    self._index.add(member.id, Signature.from_bytes(packed[2]), packed[0])
