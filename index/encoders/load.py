"""The process-wide encoder that the settings ask for: a model is loaded once per process."""

from __future__ import annotations

import threading

from ..errors import ModelError
from ..settings import BATCH_SIZES, Settings
from .base import Encoder

_cache: dict[tuple[str, str, str], Encoder] = {}
_cache_lock = threading.Lock()


def load_encoder(settings: Settings) -> Encoder:
    """The process-wide encoder for `settings` (model, device, batch size, backend, ONNX cache).

    `settings.batch_size` 0 means the backend's own (`BATCH_SIZES`); the onnx backend keeps its
    exported models in `settings.encoder_cache`.
    """
    backend = settings.backend
    batch_size = settings.batch_size or BATCH_SIZES.get(backend, 32)
    with _cache_lock:
        key = (settings.model, settings.device, backend)
        if key not in _cache:
            if backend == "torch":
                from .torch_encoder import TorchEncoder

                _cache[key] = TorchEncoder(settings.model, settings.device, batch_size)
            elif backend == "onnx":
                from .onnx_encoder import OnnxEncoder

                _cache[key] = OnnxEncoder(settings.model, settings.device, batch_size, settings.encoder_cache)
            else:
                raise ModelError(f"unknown encoder backend {backend!r}; choose torch or onnx")
        return _cache[key]
