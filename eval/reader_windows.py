"""Reading windows of the in-context reader experiment (``train_reader.py``; not shipped).

The span model reads the question with a *window*, the candidate sentence (its *focus*) between
the sentences before and after it in the same paragraph, so a pronoun or an answer phrased
across sentences is read in context. It may point only at the focus or at [CLS] (no answer in
this sentence): the neighbours inform but are never quoted, so a span always lies inside the
sentence a citation names.

This module needs numpy alone (no ``qa`` import), because the training script loads it by path
on machines that have PyTorch but none of this package's dependencies; preparing, training and
predicting then encode and decode windows with the same code. It widens spans with the runtime's
own rule, ``qa/reader/decoding.py``, loaded by path for the same reason.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def _decoding() -> Any:
    """``qa/reader/decoding.py`` (numpy alone), loaded from its file."""
    path = Path(__file__).resolve().parent.parent / "qa" / "reader" / "decoding.py"
    spec = importlib.util.spec_from_file_location("qa_reader_decoding", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


_D = _decoding()
whole_words = _D.whole_words

MAX_LENGTH = 256  # wordpieces of question + window: the bundled model's window
MAX_QUESTION_TOKENS = 64  # SQuAD's longest questions are about 60 wordpieces
MAX_SPAN_TOKENS = _D.MAX_SPAN_TOKENS
NEIGHBOUR_CHARS = 300  # of a neighbour sentence, at most this much is read (cut at a space)
NO_ANSWER = -100.0  # the has-answer score of a window whose focus did not fit the model's window


@dataclass(frozen=True)
class Window:
    """``text`` is the previous sentence, the focus and the next sentence joined by spaces;
    ``focus`` is the focus sentence's (start, end) inside it."""

    text: str
    focus: tuple[int, int]


@dataclass(frozen=True)
class Guess:
    """The best span of a window's focus, as offsets in the focus sentence, and its scores:
    ``score`` is its start+end logit, ``null`` that of [CLS]."""

    start: int
    end: int
    score: float
    null: float

    @property
    def has_answer(self) -> float:
        return self.score - self.null


def window(sentence: str, before: str = "", after: str = "") -> Window:
    """The window of ``sentence`` with (the nearer end of) its neighbours."""
    if len(before) > NEIGHBOUR_CHARS:
        cut = before[-NEIGHBOUR_CHARS:]
        before = cut[cut.find(" ") + 1:] if " " in cut else cut
    if len(after) > NEIGHBOUR_CHARS:
        cut = after[:NEIGHBOUR_CHARS]
        after = cut[: cut.rfind(" ")] if " " in cut else cut
    head = f"{before} " if before else ""
    tail = f" {after}" if after else ""
    return Window(f"{head}{sentence}{tail}", (len(head), len(head) + len(sentence)))


def clip_question(question: str, tokenizer: Any) -> str:
    """The question cut after ``MAX_QUESTION_TOKENS`` wordpieces, so a long question leaves the
    window room instead of failing to tokenise. ``tokenizer`` is a ``tokenizers.Tokenizer``
    without truncation."""
    if len(question) <= MAX_QUESTION_TOKENS:  # a wordpiece spans at least one character
        return question
    offsets = tokenizer.encode(question, add_special_tokens=False).offsets
    return question if len(offsets) <= MAX_QUESTION_TOKENS else question[: offsets[MAX_QUESTION_TOKENS - 1][1]]


def encode(pairs: Any, question: str, windows: Sequence[Window]) -> tuple[dict[str, np.ndarray], list[Any]]:
    """Model inputs for ``question`` with each window (padded to the longest) and the encodings.

    Args:
        pairs: a ``tokenizers.Tokenizer`` with truncation ``only_second`` at ``MAX_LENGTH`` and
            padding enabled; ``question`` must already be clipped.
    """
    encodings = pairs.encode_batch([(question, w.text) for w in windows])
    feed = {"input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64)}
    return feed, encodings


def focus_mask(encoding: Any, focus: tuple[int, int]) -> np.ndarray:
    """(seq,) True at the window's wordpieces that lie inside its focus sentence."""
    a, b = focus
    return np.array([sid == 1 and s >= a and e <= b and e > s
                     for sid, (s, e) in zip(encoding.sequence_ids, encoding.offsets, strict=True)])


def token_span(encoding: Any, focus: tuple[int, int], span: tuple[int, int]) -> tuple[int, int] | None:
    """The first and last focus wordpieces of a character span of the window text (training
    labels); None when the span is not inside the encoded focus."""
    inside = np.flatnonzero(focus_mask(encoding, focus))
    hits = [int(j) for j in inside if encoding.offsets[j][0] < span[1] and encoding.offsets[j][1] > span[0]]
    return (hits[0], hits[-1]) if hits else None


def best_spans(starts: np.ndarray, ends: np.ndarray, encodings: Sequence[Any],
               windows: Sequence[Window]) -> list[Guess]:
    """Each window's best focus span of at most ``MAX_SPAN_TOKENS`` wordpieces (offsets in the
    focus sentence, widened to whole words) against its [CLS] score.

    Args:
        starts, ends: (n, seq) start and end logits.
    """
    n = starts.shape[1]
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_SPAN_TOKENS)
    out = []
    for i, (encoding, w) in enumerate(zip(encodings, windows, strict=True)):
        null = float(starts[i][0] + ends[i][0])
        mask = np.zeros(n, dtype=bool)
        focus = focus_mask(encoding, w.focus)  # shorter than n when the encoding is unpadded
        mask[: len(focus)] = focus
        if not mask.any():
            out.append(Guess(0, 0, null + NO_ANSWER, null))
            continue
        pairs = np.where(band & mask[:, None] & mask[None, :], starts[i][:, None] + ends[i][None, :], -np.inf)
        a, b = np.unravel_index(int(pairs.argmax()), pairs.shape)
        sentence = w.text[w.focus[0]: w.focus[1]]
        s, e = whole_words(sentence, encoding.offsets[a][0] - w.focus[0], encoding.offsets[b][1] - w.focus[0])
        out.append(Guess(s, e, float(pairs[a, b]), null))
    return out
