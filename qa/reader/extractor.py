"""Key-span extraction: the phrase inside a sentence that answers the question, and how sure.

The network is the bundled all-MiniLM-L6-v2 encoder with a start/end head on its tokens,
fine-tuned by ``eval/train_extractor.sh`` on the questions of all 24 shared SQuAD dev articles;
the same recipe trained on each half and measured on the other gives the out-of-fold figures in
``qa/data/extractor/card.json``. ``Settings.extractor_weights`` runs another. Only the
fine-tuned tensors ship, as float16, in ``qa/data/extractor/``; the token embeddings come from
the bundled model, so nothing is downloaded. Questions run on ONNX Runtime (the network is
exported on first use and cached, like the embedding backends): 2x faster than PyTorch here.

A model trained with ``train_extractor --title`` (its card says ``reads_title``) reads each
sentence after its article's title ("Genghis Khan. He died in 1227 ..."), the span still drawn
from the sentence itself; the shipped model reads sentences alone (the title-reading one was
measured and not shipped: eval/README.md, "The extractor trained to read the title").

For each (question, sentence) pair it gives the best span of at most
``qa.reader.decoding.MAX_SPAN_TOKENS`` wordpieces, widened to whole words, and a has-answer
score: the best span's start+end logit minus that of [CLS], the position it was trained to point
at when a sentence holds no answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from qa.embedding.onnx import QUANTISED, in_child, model_path, onnx_session, quantise, trace_module
from qa.loading import load_once, offline
from qa.models import DEFAULT_MODEL
from qa.reader.decoding import best_span, titled
from qa.reader.spans import repeated_share
from qa.settings import ExtractorBackend, Settings

WEIGHTS_DIR = Path(str(resources.files("qa") / "data" / "extractor"))
_NO_ANSWER = -100.0  # the has-answer score of a text the network could not read
_MAX_LENGTH = 256  # wordpieces of question + sentence: the bundled model's window
# The model reads at most this many wordpieces of a question (SQuAD's longest are about 60), so
# a long question leaves the sentence room in the window instead of failing to tokenise.
MAX_QUESTION_TOKENS = 128
# Logits subtracted from a span per unit of its content words' share that the question holds
# (``qa.reader.spans.repeated_share``). Chosen by ``qa_eval.span_penalty``: each fold model read the
# gold sentences of the 12 articles it never saw, with the reader's key-span hint, and on each of
# five folds by article the grid's best on the other four was 3; out of fold, span EM / F1
# 0.553 / 0.700 -> 0.571 / 0.706 (eval/reports/span-penalty.json).
REPEAT_PENALTY = 3.0
# Texts per network run, in order of length: padding every text to the batch's longest wasted a
# third of the network's work (65,204 of 97,614 wordpieces real over the bench's 213 questions'
# six re-read sentences). Runs of two similar lengths: the extractor's p95 92.5 -> 74.6 ms there,
# p50 53.8 -> 50.0 ms (2 cores); one text per run did no better than two.
RUN_TEXTS = 2


@dataclass(frozen=True)
class Guess:
    """A span of the text (character offsets) and the has-answer score of the text.

    ``null`` is the network's [CLS] (no-answer) logit, which the evaluation's confidence fits read
    beside ``has_answer``; readers that have none leave it 0.
    """

    start: int
    end: int
    has_answer: float
    null: float = 0.0


@runtime_checkable
class Extractor(Protocol):
    """Marks the answer span inside each of a few texts and scores whether it holds one.

    ``QA(..., extractor=...)`` accepts any object with these two methods.
    """

    def warm_up(self) -> None:
        """Load the model now rather than on the first question; safe to call twice."""
        ...

    def spans(self, question: str, texts: list[str], hints: Sequence[tuple[int, int] | None] = (),
              margin: float = 0.0, titles: Sequence[str] = ()) -> list[Guess]:
        """The best span of each text (character offsets) and its has-answer score.

        Args:
            hints: a span per text from another reader, to return instead of the model's own
                when the model scores it within ``margin`` of its best.
            titles: the title of each text's article, for a model that reads it first.
        """
        ...


def load_base(attention: str = "sdpa") -> tuple[Any, Any]:
    """Tokenizer and question-answering network of the bundled model (head untrained)."""
    offline()
    import transformers
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    transformers.logging.set_verbosity_error()
    path = model_path(DEFAULT_MODEL)
    return AutoTokenizer.from_pretrained(path), AutoModelForQuestionAnswering.from_pretrained(
        path, attn_implementation=attention)


def load_trained(weights: Path = WEIGHTS_DIR, attention: str = "sdpa") -> tuple[Any, Any]:
    """The bundled network with the shipped fine-tuned tensors laid over it.

    Raises:
        FileNotFoundError: the weights file is missing.
    """
    from safetensors.torch import load_file

    state = load_file(str(weights / "weights.safetensors"))
    tokenizer, model = load_base(attention)
    missing, unexpected = model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    if unexpected or any(not k.startswith(("bert.embeddings.", "bert.pooler.")) for k in missing):
        raise RuntimeError(f"{weights} does not match the bundled model (missing {missing}, extra {unexpected})")
    model.eval()
    return tokenizer, model


def export_onnx(weights: Path, directory: Path, backend: ExtractorBackend = "onnx") -> Path:
    """The trained network as an ONNX file in ``directory``, exported on first use; for
    ``onnx-int8``, that export with int8 weights (``qa.embedding.onnx.quantise``).

    Named by the weights' digest, so new weights never reuse a stale export; written to a
    temporary name and renamed, so an interrupted export leaves nothing half-written.
    """
    digest = hashlib.sha256((weights / "weights.safetensors").read_bytes()).hexdigest()[:16]
    target = directory / f"extractor-{digest}{f'-int8-{QUANTISED}' if backend == 'onnx-int8' else ''}.onnx"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    if backend == "onnx-int8":
        quantise(export_onnx(weights, directory), tmp)
    else:
        in_child("qa.reader.extractor", "trace_extractor", str(weights), str(tmp))
    os.replace(tmp, target)
    return target


def trace_extractor(weights: str, target: str) -> None:
    """Trace the trained network's start and end logits to ONNX (run by ``in_child``)."""
    import torch

    _, model = load_trained(Path(weights), attention="eager")  # ONNX Runtime fuses eager attention

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.start_logits, out.end_logits

    trace_module(Logits(), Path(target), {"start": {0: "batch", 1: "sequence"}, "end": {0: "batch", 1: "sequence"}})


class BundledExtractor:
    """The shipped span extractor on ONNX Runtime (exported on first use, cached, loaded once).
    Meets ``Extractor``.

    Args:
        weights: the directory of the fine-tuned tensors (default: the shipped ones).
        cache_dir: where the ONNX export is kept (``Settings.model_cache()`` by default).
        backend: ``onnx`` (the float network) or ``onnx-int8`` (its weights in int8:
            ``Settings.extractor_backend`` says what that costs).
        repeat_penalty: logits a span loses per unit share of its words the question repeats
            (0: the network's best span, as the training machine decodes).
        reads_title: whether the network reads each text after its article's title (``titled``);
            by default what the weights' card says (``train_extractor --title``).

    Example:
        >>> text = "Super Bowl 50 was won by the Denver Broncos."
        >>> g = BundledExtractor().spans("Which team won Super Bowl 50?", [text])[0]
        >>> text[g.start:g.end]
        'Denver Broncos'
    """

    def __init__(self, weights: Path | None = None, cache_dir: Path | None = None,
                 backend: ExtractorBackend = "onnx", repeat_penalty: float = REPEAT_PENALTY,
                 reads_title: bool | None = None) -> None:
        self._weights = WEIGHTS_DIR if weights is None else weights
        self.reads_title = _card_reads_title(self._weights) if reads_title is None else reads_title
        self.repeat_penalty = repeat_penalty
        self._cache_dir = Settings().model_cache() if cache_dir is None else cache_dir
        self.backend = backend
        self._session: _Loaded | None = None

    def warm_up(self) -> None:
        """Export or load the network now; safe to call twice."""
        self._loaded()

    def _loaded(self) -> _Loaded:
        if self._session is None:
            # One export and session per weights and process, shared by every instance; the
            # export runs inside load_once's lock, so two threads never write it at once.
            weights, cache, backend = self._weights, self._cache_dir, self.backend
            self._session = load_once(("extractor", weights.resolve(), backend),
                                      lambda: _session(export_onnx(weights, cache, backend)))
        return self._session

    def spans(self, question: str, texts: list[str], hints: Sequence[tuple[int, int] | None] = (),
              margin: float = 0.0, titles: Sequence[str] = ()) -> list[Guess]:
        """The best span of each text for ``question``, in one batch.

        Args:
            hints: a span per text (character offsets) from another reader; it is returned instead
                when the network scores it within ``margin`` of its own best.
            titles: each text's article title, read before the text when the model was trained
                so (``reads_title``); the span always falls in the text.
        """
        if not texts:
            return []
        loaded = self._loaded()
        question = loaded.clipped(question)
        befores = [titled(titles[i] if self.reads_title and i < len(titles) else None) for i in range(len(texts))]
        read = [b + t for b, t in zip(befores, texts, strict=True)]
        encodings = loaded.pairs.encode_batch([(question, t) for t in read])
        offsets = [e.offsets for e in encodings]
        starts, ends = loaded.logits(encodings)  # (n, seq)
        weight, share = self.repeat_penalty, repeated_share(question)
        penalty = (lambda phrase: weight * share(phrase)) if weight else None
        guesses = []
        for i, text in enumerate(read):
            shift = len(befores[i])
            hint = hints[i] if i < len(hints) else None
            hint = None if hint is None else (hint[0] + shift, hint[1] + shift)
            context = [s == 1 and o[0] >= shift for s, o in zip(encodings[i].sequence_ids, offsets[i], strict=True)]
            best = best_span(starts[i], ends[i], offsets[i], context, text, hint, margin, penalty)
            if best is None:  # nothing of the text fitted beside the question
                guesses.append(Guess(start=0, end=0, has_answer=_NO_ANSWER))
                continue
            s, e, top, null = best
            guesses.append(Guess(start=s - shift, end=e - shift, has_answer=top - null, null=null))
        return guesses


def _card_reads_title(weights: Path) -> bool:
    """Whether the model in ``weights`` was trained reading each sentence after its title (its card
    says ``reads_title``; a card without the key, or no card, predates the option)."""
    card = weights / "card.json"
    return card.is_file() and bool(json.loads(card.read_text(encoding="utf-8")).get("reads_title", False))


@dataclass(frozen=True)
class _Loaded:
    """The bundled tokenizer twice (for pairs, the text truncated; and plain, to measure a
    question) and the ONNX Runtime session.

    The ``tokenizers`` library reads the same tokenizer.json as training's ``AutoTokenizer``
    without importing transformers and PyTorch, which would triple a query process's memory.
    """

    pairs: Any
    plain: Any
    session: Any

    def logits(self, encodings: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Start and end logits of padded ``encodings``, (n, seq) each, run ``RUN_TEXTS`` at a
        time in order of length and each run cut to its longest text; -inf where unread."""
        feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
        lengths = feed["attention_mask"].sum(axis=1)  # padding is on the right
        starts = np.full(feed["input_ids"].shape, -np.inf, dtype=np.float32)
        ends = starts.copy()
        order = np.argsort(lengths, kind="stable")
        for first in range(0, len(order), RUN_TEXTS):
            run = order[first : first + RUN_TEXTS]
            width = int(lengths[run].max())
            s, e = self.session.run(None, {k: v[run, :width] for k, v in feed.items()})
            starts[run, :width], ends[run, :width] = s, e
        return starts, ends

    def clipped(self, question: str) -> str:
        """The question cut after ``MAX_QUESTION_TOKENS`` wordpieces (only what the model reads)."""
        if len(question) <= MAX_QUESTION_TOKENS:  # a wordpiece spans at least one character
            return question
        offsets = self.plain.encode(question, add_special_tokens=False).offsets
        return question if len(offsets) <= MAX_QUESTION_TOKENS else question[: offsets[MAX_QUESTION_TOKENS - 1][1]]


def _session(file: Path) -> _Loaded:
    from tokenizers import Tokenizer

    path = str(Path(model_path(DEFAULT_MODEL)) / "tokenizer.json")
    pairs = Tokenizer.from_file(path)
    pairs.enable_truncation(_MAX_LENGTH, strategy="only_second")
    pairs.enable_padding(pad_id=0, pad_token="[PAD]")
    plain = Tokenizer.from_file(path)
    plain.no_truncation()
    plain.no_padding()
    return _Loaded(pairs, plain, onnx_session(file))
