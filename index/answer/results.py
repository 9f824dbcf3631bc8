"""What searching and asking return: passages, verbatim quotes, sources and answers."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: its place in the article and how well it matched."""

    chunk_id: int
    article_id: str
    start: int
    end: int
    paragraph: int
    text: str
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class Quote:
    """A verbatim piece of an article: `text == article.text[start:end]`."""

    text: str
    article_id: str
    title: str
    url: str
    outlet: str
    published: str
    paragraph: int
    start: int
    end: int
    score: float
    #: The other outlets (or titles) that ran the same story (index/ingest/stories.py), first published first.
    also: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceMatch:
    """An article near the question, with the score of its best passage."""

    article_id: str
    title: str
    url: str
    outlet: str
    published: str
    score: float


@dataclass(frozen=True)
class Answer:
    """Quotes that answer a question, grouped by article, or `answered=False` with nearest sources."""

    question: str
    answered: bool
    quotes: tuple[Quote, ...]
    sources: tuple[SourceMatch, ...]
    #: What was searched, when a follow-up was rewritten to stand alone (index/answer/followups.py).
    searched: str = ""
    #: Said alongside the quotes, e.g. that the newest article on this is older than the question implies.
    note: str = ""
    #: The first day of the articles searched (`since`), if limited; quotes of undated articles are marked so.
    since: str = ""

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form documented in docs/cli.md."""
        quote_keys = ("text", "article_id", "title", "url", "outlet", "paragraph", "start", "end", "score", "also")
        source_keys = ("article_id", "title", "url", "score")
        searched = {"searched": self.searched} if self.searched and self.searched != self.question else {}
        searched |= {k: v for k, v in (("note", self.note), ("since", self.since)) if v}
        return {
            "question": self.question,
            **searched,
            "answered": self.answered,
            "quotes": [{k: _round(asdict(q)[k]) for k in quote_keys if k != "also" or q.also} for q in self.quotes],
            "sources": [{k: _round(asdict(s)[k]) for k in source_keys} for s in self.sources],
        }


def _round(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return round(value, 4) if isinstance(value, float) else value
