"""Followed questions: which of them a new article answers.

Reading an article against every followed question of a server would cost the quote model's time
per follow. So the follows' vectors are kept as one matrix, and one product with the new article's
sentence vectors finds the few follows near enough to something it says (`FollowedQuestions.near`);
only those are read against the article's own chunks (`ArticleIndex.answers_for`: no search; a question
many members follow is read once, for all of them, and counts once against the cap), and a
follow is answered by the article when the quote model's probability for one of its sentences (the
one that decides "not found" for a question asked now) is at or above a stricter bar
(`Settings.follow_min_score`): a notice nobody asked for right now has to be right. The reader then
reads only the articles' sentences for the follows that passed, to choose the quotes, and a notice is
sent only when the two agree: the sentence the quote model without the reader likes best is in the
first quote the reader chose. Where they disagree, the first quote is on target far less often than
where they agree (docs/evaluation.md, "Why the two must agree"): too often wrong for a notice nobody
asked for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .results import Answer

#: A follow is asked in full only if one of the article's sentences is at least this near its question
#: (cosine); on-target sentences of news questions lie above it (docs/evaluation.md, followed questions).
NEAR_FLOOR = 0.35
#: At most this many questions are asked in full per new article, the nearest first (the follows of one
#: question, however many members follow it, are asked once).
MOST_ASKED = 16


@dataclass(frozen=True)
class FollowAnswer:
    """A followed question a new article answers: the follow's id and the answer (first quote from it)."""

    follow: int
    answer: Answer
    #: The quote model's probability, without the reader, that the first quote is on target.
    support: float
    #: The best sentence by that probability is in the first quote (the reader's choice) too.
    agrees: bool


def same_question(question: str) -> str:
    """What two follows share when they ask the same question (case and spacing aside)."""
    return " ".join(question.casefold().split())


class FollowedQuestions:
    """The vectors of followed questions, by follow id, stacked into one matrix when next searched after
    a change; safe to use from several threads."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._lock = threading.Lock()
        self._follows: dict[int, tuple[str, np.ndarray]] = {}  # id → (question, unit vector)
        self._stacked: tuple[list[int], np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._follows)

    def add(self, follow: int, question: str, vector: np.ndarray) -> None:
        """Follow a question (with its unit vector); a follow id already there is replaced."""
        with self._lock:
            self._follows[follow] = (question, np.asarray(vector, dtype=np.float32).reshape(self.dim))
            self._stacked = None

    def remove(self, follow: int) -> None:
        with self._lock:
            if self._follows.pop(follow, None) is not None:
                self._stacked = None

    def ids(self) -> list[int]:
        """The follow ids held."""
        with self._lock:
            return list(self._follows)

    def get(self, follow: int) -> tuple[str, np.ndarray] | None:
        """The question a follow asks, with its vector; None if it is not followed (any more)."""
        return self._follows.get(follow)

    def near(
        self, sentence_vectors: np.ndarray, floor: float = NEAR_FLOOR, most: int = MOST_ASKED
    ) -> list[tuple[int, float]]:
        """(follow id, cosine) of the follows whose question is at least `floor` near one of these
        sentences (unit vectors, a row each), nearest first, of at most `most` questions: every follow of
        a question many members follow is there, counted once."""
        with self._lock:
            if self._stacked is None:
                ids = list(self._follows)
                matrix = np.stack([self._follows[i][1] for i in ids]) if ids else np.zeros((0, self.dim), np.float32)
                self._stacked = (ids, matrix)
            ids, matrix = self._stacked
        if not ids or not len(sentence_vectors):
            return []
        nearest = (matrix @ np.asarray(sentence_vectors, dtype=np.float32).T).max(axis=1)
        chosen = np.flatnonzero(nearest >= floor)
        chosen = chosen[np.argsort(-nearest[chosen], kind="stable")]
        questions: set[str] = set()
        found = []
        for i in chosen:
            followed = self._follows.get(ids[i])
            if followed is None:
                continue  # unfollowed meanwhile
            question = same_question(followed[0])
            if question not in questions:
                if len(questions) == most:
                    continue  # a further question; its follows sharing one already chosen still come
                questions.add(question)
            found.append((ids[i], float(nearest[i])))
        return found
