"""The embedding model on ONNX Runtime, quantised to int8: the same interface and vectors as `TorchEncoder`, faster on CPU.

The first use of a model exports its transformer with torch into a cache folder; later processes
only load the cached file, with ONNX Runtime and the `tokenizers` library: neither torch nor
transformers is imported (they take seconds to import), so the bot is ready soon after it starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..settings import DEFAULT_ENCODER_CACHE, PACKAGED_MODEL
from .base import resolve_model
from .pooling import is_mean_pooling, length_batches, mean_pool, pool_batches

INSTALL_HINT = "pip install onnxruntime onnx (articlebot's own dependencies)"
#: Bump when the export or quantisation recipe changes, so caches made by an older one are not reused.
RECIPE = 2
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "encoder.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Export folders younger than this may belong to another process exporting right now.
_STALE_SECONDS = 3600

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportInfo:
    """What a cached encoder needs besides its graph; written last, so its presence marks a whole export."""

    recipe: int
    model: str  # the model setting it was exported from
    dim: int
    max_tokens: int
    inputs: tuple[str, ...]  # the graph's inputs, in the tokenizer's names
    pad_token: str
    pad_id: int
    onnx_bytes: int
    onnx_sha256: str


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(
            f"ONNX Runtime is not installed (the default encoder and the reader run on it): {INSTALL_HINT}"
        ) from None
    return onnxruntime


def fingerprint(location: str) -> str:
    """A hash of the model folder's path and its files' sizes and times (or of a hub name): the cache key."""
    parts: list[Any] = [RECIPE, location]
    folder = Path(location)
    if folder.is_dir():
        parts = [RECIPE, str(folder.resolve())]
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            if path.is_file() and not any(p.startswith(".") for p in relative.parts):
                stat = path.stat()
                parts.append((relative.as_posix(), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def cache_folder(cache_dir: Path, model: str, location: str) -> Path:
    """Where the export of `model` (resolved to `location`) lives below `cache_dir`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.rstrip("/\\").split("/")[-1]).strip("-.") or "model"
    return cache_dir / f"{slug}-{fingerprint(location)}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_export(folder: Path) -> ExportInfo | None:
    """The export in `folder` if it is complete and intact, else None."""
    try:
        raw = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        info = ExportInfo(**{**raw, "inputs": tuple(raw["inputs"])})
        graph = folder / MODEL_FILE
        if (
            info.recipe != RECIPE
            or graph.stat().st_size != info.onnx_bytes
            or not (folder / TOKENIZER_FILE).is_file()
            or _sha256(graph) != info.onnx_sha256
        ):
            return None
        return info
    except (OSError, ValueError, TypeError, KeyError):
        return None


def export_model(model: str, location: str, target: Path) -> ExportInfo:
    """Export `model`'s transformer to ONNX, quantise it to int8 and save its tokenizer into `target`.

    Raises:
        ModelError: the model cannot be loaded, or has layers other than transformer, mean pooling
            and normalisation (the backend reproduces only those).
    """
    _onnxruntime()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    if Path(location).is_dir():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        st: Any = SentenceTransformer(location, device="cpu")
    except Exception as exc:  # the library raises many types for a bad name or folder
        raise ModelError(f"cannot load embedding model {model!r}: {exc}") from exc
    if not is_mean_pooling(st):
        raise ModelError(
            f"the onnx backend runs mean-pooling models only, {model!r} has layers "
            f"{[type(m).__name__ for m in st]}: use ARTICLEBOT_BACKEND=torch"
        )
    if not getattr(st.tokenizer, "is_fast", False) or st.tokenizer.pad_token_id is None:
        raise ModelError(
            f"the onnx backend needs a fast tokenizer with a padding token, which {model!r} "
            "does not have: use ARTICLEBOT_BACKEND=torch"
        )
    transformer = st[0].auto_model.eval()
    # The TorchScript exporter traces plain attention faithfully; SDPA's mask handling is less certain.
    if hasattr(transformer, "set_attn_implementation"):
        transformer.set_attn_implementation("eager")
    else:
        transformer.config._attn_implementation = "eager"
    sample = st.tokenizer(
        ["a short text", "a somewhat longer text, so that the sample batch is padded"],
        padding=True,
        return_tensors="pt",
    )
    names = tuple(n for n in _INPUTS if n in sample)

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.transformer(**dict(zip(names, tensors))).last_hidden_state

    full = target / "model.fp32.onnx"
    axes = {name: {0: "batch", 1: "tokens"} for name in (*names, "last_hidden_state")}
    root = logging.getLogger()
    level = root.level
    try:
        # The legacy TorchScript exporter needs nothing beyond torch (the dynamo one needs onnxscript);
        # its deprecation and tracer warnings are expected and say nothing to a user.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(),
                tuple(sample[n] for n in names),
                str(full),
                input_names=list(names),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        root.setLevel(logging.ERROR)  # quantize_dynamic logs advice on the root logger
        # Per-channel scales: per-tensor ones cost MiniLM 0.04 of cosine to torch, per-channel 0.005.
        quantize_dynamic(full, target / MODEL_FILE, weight_type=QuantType.QInt8, per_channel=True)
    except Exception as exc:
        raise ModelError(f"cannot export {model!r} to ONNX: {exc}") from exc
    finally:
        root.setLevel(level)
    full.unlink()
    # The fast tokenizer's own file: at run time the `tokenizers` library reads it, without transformers.
    st.tokenizer.backend_tokenizer.save(str(target / TOKENIZER_FILE))
    graph = target / MODEL_FILE
    info = ExportInfo(
        RECIPE,
        model,
        int(st.get_embedding_dimension()),
        int(st.max_seq_length),
        names,
        st.tokenizer.pad_token,
        int(st.tokenizer.pad_token_id),
        graph.stat().st_size,
        _sha256(graph),
    )
    (target / INFO_FILE).write_text(json.dumps(asdict(info), indent=1), encoding="utf-8")
    return info


def _sweep(cache_dir: Path) -> None:
    """Delete what crashed exports and replaced damaged caches left behind."""
    for leftover in cache_dir.glob(".*-export-*"):
        try:
            if time.time() - leftover.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def ensure_exported(model: str, location: str, cache_dir: Path) -> tuple[Path, ExportInfo]:
    """The cached export of `model`, made first if missing or damaged; a crash never leaves a usable half.

    Returns:
        The export's folder and its description.
    """
    folder = cache_folder(cache_dir, model, location)
    info = read_export(folder)
    if info is not None:
        return folder, info
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _sweep(cache_dir)
        work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-export-", dir=cache_dir))
        work.chmod(0o755)  # mkdtemp makes it private; the cache may serve other users
    except OSError as exc:
        raise ModelError(f"cannot write the encoder cache {cache_dir}: {exc}") from exc
    try:
        log.info("exporting %s to ONNX (int8) into %s, once", model, folder)
        info = export_model(model, location, work)
        if folder.exists():
            if (theirs := read_export(folder)) is not None:  # another process finished first
                return folder, theirs
            # Damaged: moved aside first, so no reader ever sees a half-deleted folder under the real name.
            stale = Path(tempfile.mkdtemp(prefix=f".{folder.name}-export-stale-", dir=cache_dir))
            os.replace(folder, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        os.replace(work, folder)
    except OSError as exc:
        if (theirs := read_export(folder)) is not None:  # lost a race to rename into place
            return folder, theirs
        raise ModelError(f"cannot write the encoder cache {cache_dir}: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder, info


def cpu_session(path: Path) -> Any:
    """An ONNX Runtime session for `path` on all the CPU's cores, logging errors only."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.log_severity_level = 3  # errors only
    # Idle threads would otherwise spin after each run and slow the search that follows on the same cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """Encodes texts into L2-normalised float32 vectors and counts their word pieces, on ONNX Runtime."""

    def __init__(
        self,
        model: str = PACKAGED_MODEL,
        device: str = "cpu",
        batch_size: int = 32,
        cache_dir: Path = DEFAULT_ENCODER_CACHE,
    ) -> None:
        if device != "cpu":
            raise ModelError(
                f"the onnx backend runs on the CPU only, not {device!r}: "
                "set ARTICLEBOT_DEVICE=cpu or ARTICLEBOT_BACKEND=torch"
            )
        _onnxruntime()  # says what to install before an export is tried
        self.name = model
        self.batch_size = batch_size
        self.folder, info = ensure_exported(model, resolve_model(model), Path(cache_dir))
        self.dim: int = info.dim
        #: The most word pieces the model reads, including its two special tokens.
        self.max_tokens: int = info.max_tokens
        self._inputs = info.inputs
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from tokenizers import Tokenizer

        # Two copies, since padding and truncation are settings of a tokenizer: one makes the model's
        # inputs (padded to the longest of a batch, cut at the model's limit), one counts word pieces.
        self._counter = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        self._counter.no_padding()
        self._counter.no_truncation()
        self._tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        self._tokenizer.enable_truncation(self.max_tokens)
        self._tokenizer.enable_padding(pad_id=info.pad_id, pad_token=info.pad_token)
        self._session = cpu_session(self.folder / MODEL_FILE)

    def _run(self, texts: Sequence[str], offsets: bool) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, Any]]:
        """Per batch: the texts' positions, their token vectors, attention mask and (if asked) offsets."""
        for chosen in length_batches(texts, self.batch_size):
            encoded = self._tokenizer.encode_batch([texts[i] for i in chosen])
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            columns = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": mask,
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            tokens = self._session.run(["last_hidden_state"], {name: columns[name] for name in self._inputs})[0]
            yield chosen, tokens, mask, np.array([e.offsets for e in encoded], dtype=np.int64) if offsets else None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of shape (len(texts), dim), unit length, float32."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for chosen, tokens, mask, _ in self._run(texts, offsets=False):
            vectors[chosen] = mean_pool(tokens, mask)
        return vectors

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Vectors of `texts` and, from the same forward pass, a vector for each character span of each.

        Returns:
            The (len(texts), dim) text vectors, and per text a (len(spans), dim) array.
        """
        return pool_batches(self._run(texts, offsets=True), len(texts), self.dim, spans)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without the special tokens the model adds."""
        return [len(e.ids) for e in self._counter.encode_batch(list(texts), add_special_tokens=False)] if texts else []
