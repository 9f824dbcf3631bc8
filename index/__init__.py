"""articlebot's index: ingest, clean, chunk, embed, store, search and quote articles.

Nothing here imports discord; the bot and the command line build on this surface.
"""

from .article_index import AddResult, ArticleIndex, QuestionError
from .articles import Article, ArticleError
from .budget import BudgetExceeded, Deadline
from .results import Answer, Passage, Quote, SourceMatch
from .settings import Settings

__all__ = [
    "AddResult", "Answer", "Article", "ArticleError", "ArticleIndex", "BudgetExceeded", "Deadline", "Passage", "QuestionError",
    "Quote", "Settings", "SourceMatch",
]
