"""ARTICLEBOT_MODEL: another sentence-transformers model, here a tiny one built locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import ArticleIndex, Settings
from index.encoders.torch_encoder import TorchEncoder
from index.errors import ModelError, StoreError
from index.ingest.load import ensure_seeded
from tests.support.paths import SEEDS


def test_a_local_model_folder_indexes_and_answers(tiny_model: Path, tmp_path: Path) -> None:
    settings = Settings.from_env({"ARTICLEBOT_MODEL": str(tiny_model), "ARTICLEBOT_INDEX": str(tmp_path / "ix")})
    index = ArticleIndex(settings.index_dir, TorchEncoder(settings.model), settings)
    assert (index.encoder.dim, index.encoder.max_tokens) == (32, 64)
    ensure_seeded(index, SEEDS)
    [article] = index.articles()
    for chunk in index.store.all_chunks():  # chunks shrink to the small model's limit
        assert index.encoder.count_tokens([article.text[chunk.start : chunk.end]])[0] <= 64
    # Random weights carry no meaning, but BM25 still finds the vote share.
    assert "77 percent" in index.search("percent of votes", k=1, mode="bm25")[0].text


def test_an_index_remembers_its_model(tiny_model: Path, tmp_path: Path, encoder: TorchEncoder) -> None:
    ArticleIndex(tmp_path, TorchEncoder(str(tiny_model)), Settings()).close()
    with pytest.raises(StoreError, match="was built with model"):
        ArticleIndex(tmp_path, encoder, Settings())


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load embedding model"):
        TorchEncoder(str(tmp_path / "no-such-model"))


def test_the_model_is_loaded_once_per_process(tmp_path: Path, encoder: TorchEncoder) -> None:
    first = ArticleIndex.open(Settings(index_dir=tmp_path / "a"))
    second = ArticleIndex.open(Settings(index_dir=tmp_path / "b"))
    assert first.encoder is second.encoder is encoder
