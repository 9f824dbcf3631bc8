"""The reader: a cross-encoder, trained here (tools/train_reader.py, docs/reader.md), that reads a question and
a candidate sentence together and says how well the sentence answers it.

Cosine similarity and term overlap see each text alone and miss a paraphrase ("What did Kim Jong Un
say?" against "Kim Jong Un sent a heartfelt congratulations"); the reader attends across both. Its
logit is one of the quote model's inputs (index/answer/evidence.py), so the quote model's probability, fitted
with it, still decides "not found" with one threshold. It ships inside the package as int8 ONNX and
runs on ONNX Runtime with the `tokenizers` library: no torch at run time, nothing downloaded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .onnx_encoder import cpu_session

#: The reader shipped with the package.
PACKAGED_READER = Path(__file__).resolve().parent.parent / "models" / "reader"
MODEL_FILE = "reader.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
INFO_FILE = "reader.json"
#: Pairs read in one forward pass: on 2 cores, batches of 16 pairs keep padding low and the cores busy.
BATCH = 16


class Reader:
    """Scores (question, sentence) pairs; safe to call from several threads."""

    def __init__(self, folder: Path = PACKAGED_READER) -> None:
        from tokenizers import Tokenizer

        if not (folder / MODEL_FILE).is_file():
            raise ModelError(f"no reader in {folder}: reinstall articlebot (pip install -e .)")
        info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        self.max_tokens: int = int(info["max_tokens"])
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.enable_truncation(self.max_tokens, strategy="longest_first")
        self._tokenizer.enable_padding()
        self._session: Any = cpu_session(folder / MODEL_FILE)
        self._lock = threading.Lock()  # the tokenizer's padding and truncation settings are shared state

    def read(self, question: str, sentences: Sequence[str]) -> np.ndarray:
        """The reader's logit for each sentence as an answer to `question` (higher: more likely), float64."""
        out = np.zeros(len(sentences))
        # Sentences of similar length go together, so that a batch pads little.
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        for at in range(0, len(order), BATCH):
            chosen = order[at : at + BATCH]
            with self._lock:
                encoded = self._tokenizer.encode_batch([(question, sentences[i]) for i in chosen])
            columns = {
                "input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encoded], dtype=np.int64),
            }
            out[chosen] = self._session.run(["logits"], columns)[0]
        return out


_loaded: dict[Path, Reader] = {}
_loading = threading.Lock()


def reader_for(folder: Path = PACKAGED_READER) -> Reader:
    """The reader in `folder`, loaded once per process."""
    with _loading:
        if folder not in _loaded:
            _loaded[folder] = Reader(folder)
        return _loaded[folder]
