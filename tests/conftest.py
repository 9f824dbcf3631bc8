"""Shared fixtures: the real packaged model (loaded once), real FAISS and SQLite in temporary folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import ArticleIndex, Settings
from index.embedder import Embedder, get_embedder
from index.ingest import ensure_seeded

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_FILE = SEEDS / "000_34bfb7fccf2cc602.txt"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS)


@pytest.fixture
def empty_index(settings: Settings, embedder: Embedder) -> ArticleIndex:
    return ArticleIndex(settings.index_dir, embedder, settings)


@pytest.fixture
def seed_index(empty_index: ArticleIndex) -> ArticleIndex:
    report = ensure_seeded(empty_index, SEEDS)
    assert report is not None and not report.errors
    return empty_index


@pytest.fixture
def index_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An index folder for the command line, through the environment, seeded from the repo's seeds."""
    folder = tmp_path / "index"
    monkeypatch.setenv("ARTICLEBOT_INDEX", str(folder))
    monkeypatch.setenv("ARTICLEBOT_SEEDS", str(SEEDS))
    return folder


def write(folder: Path, name: str, text: str) -> Path:
    """Write a UTF-8 file below `folder` and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
