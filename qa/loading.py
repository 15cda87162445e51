"""Models load lazily and once per process: one cache for the embedder's and the extractor's.

Every heavy object (a sentence-transformers model, an ONNX Runtime session with its tokenizer)
is built by ``load_once(key, build)``, keyed by what shaped it (model name and backend, or the
export file), so two ``QA`` objects over different indexes share one copy in memory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
_loaded: dict[Hashable, Any] = {}
_lock = threading.Lock()


def load_once(key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` the first time ``key`` is asked for, the same object after that."""
    with _lock:
        if key not in _loaded:
            _loaded[key] = build()
        value: T = _loaded[key]
        return value


def loaded_keys() -> list[Hashable]:
    """What has been loaded in this process (a test checks a refused embedder loads nothing)."""
    with _lock:
        return list(_loaded)


def offline() -> None:
    """Make sure nothing in the Hugging Face stack tries the network or draws progress bars."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
