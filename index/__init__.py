"""articlebot's index: ingest, clean, chunk, embed, store, search and quote articles.

Nothing here imports discord. This is the surface the bot, the command line and the tools build on;
what is not named here is the index's own business.
"""

from .adding import Embedded
from .answer.follows import FollowAnswer, FollowedQuestions, same_question
from .answer.followups import Turn, proper_names, rewrite
from .answer.recency import SinceError, parse_since
from .answer.results import Answer, Passage, Quote, SourceMatch
from .answer.retrieval import Retrieval
from .article_index import MAX_QUESTION_CHARS, ArticleIndex, IndexStats, QuestionError, check_question
from .encoders.load import load_encoder
from .ingest.budget import BudgetExceeded, Deadline
from .ingest.clean import normalise
from .ingest.feeds import Feed, FeedError, FeedList, FeedPoller, PollResult
from .ingest.fetch import Fetched, Fetcher, FetchError, FetchPolicy
from .ingest.load import ARTICLES_PER_BATCH, IngestReport, ensure_seeded, fetched_article, ingest_paths, load_url
from .ingest.parse import SUPPORTED_TYPES, ArticleError, check_file, load_file, load_upload, parse_text
from .records import AddResult, Article, ArticleVersion, StoredArticle, StoredElsewhere
from .search.fusion import MODES, Mode
from .settings import Settings, SettingsError, load_dotenv_file
from .storage.database import Database, open_database
from .storage.postgres import scratch_store
from .storage.scope import Scope

__all__ = [
    "ARTICLES_PER_BATCH",
    "MAX_QUESTION_CHARS",
    "MODES",
    "SUPPORTED_TYPES",
    "AddResult",
    "Answer",
    "Article",
    "ArticleVersion",
    "ArticleError",
    "ArticleIndex",
    "BudgetExceeded",
    "Deadline",
    "Embedded",
    "Feed",
    "FeedError",
    "FeedList",
    "FeedPoller",
    "FetchError",
    "FetchPolicy",
    "Fetched",
    "Fetcher",
    "FollowAnswer",
    "FollowedQuestions",
    "same_question",
    "IndexStats",
    "IngestReport",
    "Mode",
    "Passage",
    "PollResult",
    "QuestionError",
    "Quote",
    "Retrieval",
    "Scope",
    "Settings",
    "SettingsError",
    "SinceError",
    "Database",
    "SourceMatch",
    "StoredArticle",
    "StoredElsewhere",
    "Turn",
    "check_file",
    "check_question",
    "ensure_seeded",
    "fetched_article",
    "ingest_paths",
    "load_dotenv_file",
    "load_encoder",
    "load_file",
    "load_upload",
    "load_url",
    "normalise",
    "open_database",
    "parse_since",
    "parse_text",
    "proper_names",
    "rewrite",
    "scratch_store",
]
