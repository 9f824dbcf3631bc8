"""ARTICLEBOT_MODEL: another sentence-transformers model, here a tiny one built locally."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import ArticleIndex, Settings
from index.embedder import Embedder, ModelError, resolve_model
from index.ingest import ensure_seeded
from index.settings import PACKAGED_MODEL
from index.store import StoreError

from .conftest import SEEDS


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT (32 dimensions, 64 word pieces) with the packaged vocabulary."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    vocab = Path(resolve_model(PACKAGED_MODEL)) / "vocab.txt"
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), model_max_length=64)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    transformer = Transformer(str(folder / "bert"), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder / "st"))
    return folder / "st"


def test_a_local_model_folder_indexes_and_answers(tiny_model: Path, tmp_path: Path) -> None:
    settings = Settings.from_env({"ARTICLEBOT_MODEL": str(tiny_model), "ARTICLEBOT_INDEX": str(tmp_path / "ix")})
    index = ArticleIndex(settings.index_dir, Embedder(settings.model), settings)
    assert (index.embedder.dim, index.embedder.max_tokens) == (32, 64)
    ensure_seeded(index, SEEDS)
    [article] = index.articles()
    for chunk in index.store.all_chunks():  # chunks shrink to the small model's limit
        assert index.embedder.count_tokens([article.text[chunk.start:chunk.end]])[0] <= 64
    # Random weights carry no meaning, but BM25 still finds the vote share.
    assert "77 percent" in index.search("percent of votes", k=1, mode="bm25")[0].text


def test_an_index_remembers_its_model(tiny_model: Path, tmp_path: Path, embedder: Embedder) -> None:
    ArticleIndex(tmp_path, Embedder(str(tiny_model)), Settings()).store.close()
    with pytest.raises(StoreError, match="was built with model"):
        ArticleIndex(tmp_path, embedder, Settings())


def test_a_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="cannot load embedding model"):
        Embedder(str(tmp_path / "no-such-model"))


def test_the_model_is_loaded_once_per_process(tmp_path: Path, embedder: Embedder) -> None:
    first = ArticleIndex.open(Settings(index_dir=tmp_path / "a"))
    second = ArticleIndex.open(Settings(index_dir=tmp_path / "b"))
    assert first.embedder is second.embedder is embedder
