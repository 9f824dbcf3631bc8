"""Shared fixtures: the real packaged model (loaded once), real FAISS and SQLite in temporary folders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from index import ArticleIndex, Settings
from index.encoders.base import Encoder, resolve_model
from index.encoders.load import load_encoder
from index.encoders.torch_encoder import TorchEncoder
from index.ingest.load import ensure_seeded
from index.settings import PACKAGED_MODEL
from index.storage.postgres import PostgresStore
from index.storage.sqlite import SQLiteStore
from tests.support.datasets import ARTICLES, QUESTIONS, write_dataset
from tests.support.paths import SEEDS
from tests.support.postgres import postgres_log, postgres_server, postgres_url  # noqa: F401  (fixtures for every test module)


@pytest.fixture(scope="session", autouse=True)
def encoder_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export of the packaged model per test session, shared with the processes the tests start."""
    folder = tmp_path_factory.mktemp("encoders")
    os.environ["ARTICLEBOT_ENCODER_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def encoder(encoder_cache: Path) -> Encoder:
    """The default encoder (the packaged model, int8 on ONNX Runtime), loaded once."""
    return load_encoder(Settings(encoder_cache=encoder_cache))


@pytest.fixture(scope="session")
def torch_encoder() -> TorchEncoder:
    """The same model on sentence-transformers and torch (ARTICLEBOT_BACKEND=torch)."""
    return load_encoder(Settings(backend="torch"))


#: The stores a module marked `both_stores` runs its tests against.
STORES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_stores: run the module's index tests on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: a test of the SQLite store's own files, in a both_stores module")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marked = metafunc.definition.get_closest_marker
    if "database_url" in metafunc.fixturenames and marked("both_stores") and not marked("sqlite_only"):
        metafunc.parametrize("store", STORES, indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    """The store the index tests run on: SQLite, or for modules marked `both_stores` each in turn."""
    return getattr(request, "param", "sqlite")


@pytest.fixture
def database_url(store: str, request: pytest.FixtureRequest) -> str:
    """ARTICLEBOT_DATABASE_URL for the test's store: empty for SQLite, a fresh PostgreSQL database otherwise."""
    return request.getfixturevalue("postgres_url") if store == "postgresql" else ""


@pytest.fixture
def open_store(database_url: str) -> Iterator[Callable[[Path, str, int], SQLiteStore | PostgresStore]]:
    """Opens the test's store for a folder, a model name and a dimension; closes what it opened."""
    opened: list[SQLiteStore | PostgresStore] = []

    def open_(folder: Path, model: str, dim: int) -> SQLiteStore | PostgresStore:
        store = PostgresStore(database_url, folder, model, dim) if database_url else SQLiteStore(folder, model, dim)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, database_url=database_url)


@pytest.fixture
def empty_index(settings: Settings, encoder: Encoder) -> Iterator[ArticleIndex]:
    index = ArticleIndex(settings.index_dir, encoder, settings)
    yield index
    index.close()


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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT (32 dimensions, 64 word pieces) with the packaged tokenizer.

    The packaged tokenizer is loaded whole (a BertTokenizerFast made from vocab.txt alone maps every word to
    [UNK] with transformers 5), and weights are drawn wide (0.5), so that vectors depend on the words and a
    broken export cannot pass for a good one: unrelated texts here are at most ~0.94 apart, a graph that
    attends to padding ~0.7, the int8 export >= 0.998.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-model")
    tokenizer = BertTokenizerFast.from_pretrained(resolve_model(PACKAGED_MODEL), model_max_length=64)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        initializer_range=0.5,
    )
    torch.manual_seed(0)  # the same weights every run: int8 error on random weights varies with them
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    transformer = Transformer(str(folder / "bert"), max_seq_length=64)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder / "st"))
    return folder / "st"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A tiny evaluation set (tests/support/datasets.py) with answer spans."""
    return write_dataset(tmp_path / "dataset", ARTICLES, QUESTIONS, "answer_spans")
