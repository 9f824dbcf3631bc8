"""The default backend (ARTICLEBOT_BACKEND=onnx): the model exported to ONNX and quantised to int8 agrees with torch."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from index import ArticleIndex, Settings
from index.encoders import onnx_encoder
from index.encoders.load import load_encoder
from index.encoders.onnx_encoder import INFO_FILE, MODEL_FILE, OnnxEncoder, cache_folder
from index.encoders.torch_encoder import TorchEncoder
from index.errors import ModelError
from index.settings import SettingsError

TEXTS = [
    "The Normans gave their name to Normandy, a region in France.",
    "Paris is the capital of France.",
    "A cat sat on the mat.",
    "Photosynthesis turns light into chemical energy in plants " * 8,  # beyond 64 word pieces: truncated
    "x",
    "How many moons does Jupiter have?",
    "Steam engines powered the industrial revolution in Britain.",
]

PASSAGES = [
    (
        "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, a region in "
        "France. They were descended from Norse raiders and pirates from Denmark, Iceland and Norway."
    ),
    (
        "Super Bowl 50 was an American football game to determine the champion of the National Football League for "
        "the 2015 season. The Denver Broncos defeated the Carolina Panthers 24-10 to earn their third title."
    ),
    (
        "Photosynthesis is a process used by plants to convert light energy into chemical energy. The energy is "
        "stored in carbohydrate molecules, such as sugars, made from carbon dioxide and water."
    ),
    (
        "The Rhine is a European river that begins in the Swiss canton of Graubunden. It flows through Germany and "
        "the Netherlands and empties into the North Sea."
    ),
    (
        "Jupiter is the fifth planet from the Sun and the largest in the Solar System. It has 95 known moons, among "
        "them the four large Galilean moons discovered by Galileo in 1610."
    ),
]
QUESTIONS = [
    "Which region did the Normans name?",
    "Who won Super Bowl 50?",
    "How do plants turn light into energy?",
    "Where does the Rhine flow into the sea?",
    "How many moons does Jupiter have?",
]


def _sentences(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"[^.]+\.?", text) if m.group().strip()]


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _assert_int8_agrees(ours: np.ndarray, theirs: np.ndarray) -> None:
    """int8 error on the tiny model's random weights depends on the draw and on library versions (its worst
    cosine was 0.998 with the releases of November 2026, 0.954 with those of December); a broken graph gives
    about 0.7. So: close on average, nowhere far off. The packaged model is held to a tighter bar below."""
    cosines = _cosines(ours, theirs)
    assert cosines.mean() > 0.97 and cosines.min() > 0.9, cosines


@pytest.fixture(scope="module")
def tiny_torch(tiny_model: Path) -> TorchEncoder:
    return TorchEncoder(str(tiny_model))


@pytest.fixture
def exports(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The models exported while the test runs (the real export still runs; this only counts it)."""
    calls: list[str] = []
    real = onnx_encoder.export_model

    def counted(model: str, location: str, target: Path) -> onnx_encoder.ExportInfo:
        calls.append(model)
        return real(model, location, target)

    monkeypatch.setattr(onnx_encoder, "export_model", counted)
    return calls


def test_tiny_model_vectors_match_torch(tiny_model: Path, tiny_torch: TorchEncoder, tmp_path: Path) -> None:
    encoder = OnnxEncoder(str(tiny_model), cache_dir=tmp_path)
    assert (encoder.name, encoder.dim, encoder.max_tokens) == (str(tiny_model), 32, 64)
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    torch_vectors = tiny_torch.encode(TEXTS)
    _assert_int8_agrees(vectors, torch_vectors)
    similarity = vectors @ torch_vectors.T
    assert (similarity.argmax(axis=1) == np.arange(len(TEXTS))).all(), "each text is nearest to its own torch vector"
    # Batches are sorted by length, and the order restored: the same texts reversed give the same vectors.
    np.testing.assert_allclose(encoder.encode(TEXTS[::-1])[::-1], vectors, atol=1e-6)
    assert encoder.count_tokens(TEXTS) == tiny_torch.count_tokens(TEXTS)
    assert encoder.encode([]).shape == (0, 32)


def test_tiny_model_span_vectors_match_torch(tiny_model: Path, tiny_torch: TorchEncoder, tmp_path: Path) -> None:
    encoder = OnnxEncoder(str(tiny_model), cache_dir=tmp_path)
    long_text = TEXTS[3]
    spans = [_sentences(t) for t in TEXTS[:3]] + [[(0, 14), (len(long_text) - 20, len(long_text))]]
    vectors, pooled = encoder.encode_with_spans(TEXTS[:4], spans)
    torch_vectors, torch_pooled = tiny_torch.encode_with_spans(TEXTS[:4], spans)
    _assert_int8_agrees(vectors, torch_vectors)
    for ours, theirs, text_spans in zip(pooled, torch_pooled, spans):
        assert ours.shape == (len(text_spans), 32)
        _assert_int8_agrees(ours, theirs)
    # The long text's last words lie beyond 64 word pieces: that span borrows the whole text's vector.
    np.testing.assert_allclose(pooled[3][1], vectors[3], atol=1e-6)
    empty, no_spans = encoder.encode_with_spans([], [])
    assert empty.shape == (0, 32) and no_spans == []


def test_the_export_is_cached_and_reused(tiny_model: Path, tmp_path: Path, exports: list[str]) -> None:
    first = OnnxEncoder(str(tiny_model), cache_dir=tmp_path)
    graph = first.folder / MODEL_FILE
    made = graph.stat()
    second = OnnxEncoder(str(tiny_model), cache_dir=tmp_path)
    assert exports == [str(tiny_model)]  # the second one loaded the file the first one wrote
    assert second.folder == first.folder and second.folder.parent == tmp_path
    assert (graph.stat().st_ino, graph.stat().st_mtime_ns) == (made.st_ino, made.st_mtime_ns)
    assert [p.name for p in tmp_path.iterdir()] == [first.folder.name]  # no temporary folders left
    np.testing.assert_array_equal(first.encode(TEXTS), second.encode(TEXTS))


@pytest.mark.parametrize("damage", ["truncated graph", "no description", "bad description"])
def test_a_damaged_cache_is_exported_again(tiny_model: Path, tmp_path: Path, exports: list[str], damage: str) -> None:
    folder = OnnxEncoder(str(tiny_model), cache_dir=tmp_path).folder
    expected = OnnxEncoder(str(tiny_model), cache_dir=tmp_path).encode(TEXTS)
    if damage == "truncated graph":  # as a crash halfway through copying the cache would leave it
        data = (folder / MODEL_FILE).read_bytes()
        (folder / MODEL_FILE).write_bytes(data[: len(data) // 2])
    elif damage == "no description":
        (folder / INFO_FILE).unlink()
    else:
        (folder / INFO_FILE).write_text("{", encoding="utf-8")
    encoder = OnnxEncoder(str(tiny_model), cache_dir=tmp_path)
    assert exports == [str(tiny_model)] * 2
    assert encoder.folder == folder and sorted(p.name for p in tmp_path.iterdir()) == [folder.name]
    # The export is deterministic, so the repaired cache encodes as the first one did.
    np.testing.assert_allclose(encoder.encode(TEXTS), expected, atol=1e-6)


def test_an_unfinished_export_is_never_used(tiny_model: Path, tmp_path: Path, exports: list[str]) -> None:
    """A crash leaves only a hidden work folder: the next start exports afresh and ignores it."""
    target = cache_folder(tmp_path, str(tiny_model), str(tiny_model))
    leftover = tmp_path / f".{target.name}-export-crashed"
    leftover.mkdir(parents=True)
    (leftover / MODEL_FILE).write_bytes(b"half a model")
    stale = tmp_path / f".{target.name}-export-long-ago"
    stale.mkdir()
    os.utime(stale, (0, 0))
    encoder = OnnxEncoder(str(tiny_model), cache_dir=tmp_path)
    assert exports == [str(tiny_model)] and encoder.folder == target
    # An hour-old one is swept away; a recent one may be another process's export in progress.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([leftover.name, target.name])


def test_the_cache_key_follows_the_model_files(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_model, copy)
    before = cache_folder(tmp_path, str(copy), str(copy))
    assert cache_folder(tmp_path, str(copy), str(copy)) == before
    weights = next(copy.glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert cache_folder(tmp_path, str(copy), str(copy)) != before


def test_models_the_backend_cannot_reproduce_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    transformer = Transformer(str(tiny_model), max_seq_length=64)
    cls = Pooling(transformer.get_embedding_dimension(), pooling_mode="cls")
    SentenceTransformer(modules=[transformer, cls], device="cpu").save(str(tmp_path / "cls"))
    with pytest.raises(ModelError, match="mean-pooling models only.*ARTICLEBOT_BACKEND=torch"):
        OnnxEncoder(str(tmp_path / "cls"), cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError, match="CPU only"):
        OnnxEncoder(str(tiny_model), device="cuda", cache_dir=tmp_path / "cache")
    with pytest.raises(ModelError, match="cannot load embedding model"):
        OnnxEncoder(str(tmp_path / "no-such-model"), cache_dir=tmp_path / "cache")


def test_without_onnxruntime_the_error_says_how_to_install_it(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` meets when not installed
    with pytest.raises(ModelError, match=re.escape("pip install onnxruntime onnx")):
        OnnxEncoder(str(tiny_model), cache_dir=tmp_path)


def test_packaged_model_ranks_passages_as_torch_does(encoder: OnnxEncoder, torch_encoder: TorchEncoder) -> None:
    assert isinstance(encoder, OnnxEncoder), "onnx is the default backend"
    assert (encoder.name, encoder.dim, encoder.max_tokens) == (torch_encoder.name, 384, 256)
    ours, theirs = encoder.encode(PASSAGES), torch_encoder.encode(PASSAGES)
    questions_ours, questions_theirs = encoder.encode(QUESTIONS), torch_encoder.encode(QUESTIONS)
    assert _cosines(ours, theirs).min() > 0.98 and _cosines(questions_ours, questions_theirs).min() > 0.98
    top = (questions_ours @ ours.T).argmax(axis=1)
    np.testing.assert_array_equal(top, (questions_theirs @ theirs.T).argmax(axis=1))
    np.testing.assert_array_equal(top, np.arange(len(QUESTIONS)))  # and each question finds its passage


def test_packaged_model_sentence_vectors_match_torch(encoder: OnnxEncoder, torch_encoder: TorchEncoder) -> None:
    spans = [_sentences(p) for p in PASSAGES]
    vectors, pooled = encoder.encode_with_spans(PASSAGES, spans)
    torch_vectors, torch_pooled = torch_encoder.encode_with_spans(PASSAGES, spans)
    assert _cosines(vectors, torch_vectors).min() > 0.98
    for ours, theirs in zip(pooled, torch_pooled):
        assert _cosines(ours, theirs).min() > 0.98
    assert encoder.count_tokens(PASSAGES) == torch_encoder.count_tokens(PASSAGES)
    long = PASSAGES[0] * 20  # far beyond the model's limit: counted whole, not cut
    assert encoder.count_tokens([long]) == torch_encoder.count_tokens([long]) and encoder.count_tokens([long])[0] > 256


def test_an_index_built_with_torch_answers_with_onnx(
    settings: Settings, encoder: OnnxEncoder, torch_encoder: TorchEncoder
) -> None:
    from index.ingest.load import ensure_seeded
    from tests.support.paths import SEEDS

    built = ArticleIndex(settings.index_dir, torch_encoder, settings)
    ensure_seeded(built, SEEDS)
    question = "What share of the vote did Putin win?"
    expected = built.search(question, k=1, mode="dense")[0]
    built.close()
    reopened = ArticleIndex(settings.index_dir, encoder, settings)
    assert reopened.search(question, k=1, mode="dense")[0].text == expected.text
    reopened.close()


def test_the_backend_setting(tmp_path: Path, encoder: OnnxEncoder) -> None:
    with pytest.raises(SettingsError, match="ARTICLEBOT_BACKEND must be one of torch, onnx, got 'bogus'"):
        Settings.from_env({"ARTICLEBOT_BACKEND": "bogus"})
    with pytest.raises(SettingsError, match="ARTICLEBOT_BACKEND"):
        Settings(backend="bogus")  # type: ignore[arg-type]
    default = Settings.from_env({"ARTICLEBOT_INDEX": str(tmp_path / "data" / "index")})
    assert (default.backend, default.encoder_cache) == ("onnx", tmp_path / "data" / "encoders")
    assert Settings.from_env({}).encoder_cache == Path(".articlebot/encoders")
    chosen = Settings.from_env({"ARTICLEBOT_BACKEND": " TORCH ", "ARTICLEBOT_ENCODER_CACHE": str(tmp_path / "c")})
    assert (chosen.backend, chosen.encoder_cache) == ("torch", tmp_path / "c")
    # One encoder per model, device and backend, whatever the cache folder asked for later.
    assert load_encoder(Settings(encoder_cache=tmp_path / "c")) is encoder is load_encoder(Settings())
    assert load_encoder(chosen) is load_encoder(Settings(backend="torch")) is not encoder
