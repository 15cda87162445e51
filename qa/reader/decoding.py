"""From a span network's start and end logits to a span of the text: numpy alone.

The runtime (``BundledExtractor``) and the training machine's reader (``eval/device_extractor.py``,
which loads this file by path where ``qa``'s other dependencies are absent) decode with the same
code, so a model's readings there are the readings ``answer()`` makes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

MAX_SPAN_TOKENS = 30
# With a ``penalty``, the best this many wordpiece spans by logit are widened and re-scored: the
# held-out analysis that chose the penalty looked no further (``qa_eval.span_penalty``).
PENALISED_SPANS = 40
Span = tuple[int, int]  # character offsets, half-open


def titled(title: str | None) -> str:
    """What a model trained to read the title first (``BundledExtractor.reads_title``) reads
    before a sentence of an article called ``title`` (nothing without one): the title as a
    sentence of its own, so "He died in 1227" is about someone. Training writes its texts with
    this function too (``eval/train_extractor.py``)."""
    return f"{title}. " if title else ""


def best_span(starts: np.ndarray, ends: np.ndarray, offsets: Sequence[Sequence[int]], context: Sequence[bool],
              text: str, hint: Span | None = None, margin: float = 0.0,
              penalty: Callable[[str], float] | None = None) -> tuple[int, int, float, float] | None:
    """The best span of at most ``MAX_SPAN_TOKENS`` context wordpieces, widened to whole words:
    (start, end, the best start+end logit, the [CLS] start+end logit); None when no wordpiece of
    the text was read.

    Args:
        hint: a span of the text from another reader, returned instead when the network scores
            it within ``margin`` of its own best.
        penalty: what to subtract from a span's logit for its text: the best of the
            ``PENALISED_SPANS`` best spans after it wins. The logits returned stay the network's.
    """
    inside = np.asarray(context, dtype=bool)
    if not inside.any():
        return None
    n = len(inside)
    band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_SPAN_TOKENS)
    pairs = np.where(band & inside[:, None] & inside[None, :], starts[:n, None] + ends[None, :n], -np.inf)
    a, b = (int(x) for x in np.unravel_index(int(pairs.argmax()), pairs.shape))
    top = float(pairs[a, b])
    s, e = (whole_words(text, offsets[a][0], offsets[b][1]) if penalty is None
            else _least_penalised(pairs, offsets, text, penalty))
    if hint is not None:
        tokens = tokens_of(offsets, inside.tolist(), hint)
        if tokens is not None and float(pairs[tokens]) >= top - margin:
            s, e = hint
    return s, e, top, float(starts[0] + ends[0])


def _least_penalised(pairs: np.ndarray, offsets: Sequence[Sequence[int]], text: str,
                     penalty: Callable[[str], float]) -> Span:
    """Of the ``PENALISED_SPANS`` best wordpiece spans, widened to whole words, the one whose
    logit less its penalty is highest (the higher logit on a tie)."""
    flat = pairs.ravel()
    count = min(PENALISED_SPANS, int(np.isfinite(flat).sum()))
    order = np.argpartition(-flat, count - 1)[:count]
    order = order[np.argsort(-flat[order], kind="stable")]
    best: tuple[float, Span] | None = None
    seen: set[Span] = set()
    for index in order.tolist():
        a, b = divmod(index, pairs.shape[1])
        span = whole_words(text, offsets[a][0], offsets[b][1])
        if span in seen:
            continue
        seen.add(span)
        value = float(flat[index]) - penalty(text[span[0]:span[1]])
        if best is None or value > best[0]:
            best = (value, span)
    assert best is not None  # the caller found at least one readable span
    return best[1]


def tokens_of(offsets: Sequence[Sequence[int]], context: Sequence[bool], span: Span) -> Span | None:
    """The first and last context wordpiece of a character span, if the text's tokens reach it."""
    inside = [j for j, (a, b) in enumerate(offsets) if context[j] and a < span[1] and b > span[0]]
    return (inside[0], inside[-1]) if inside else None


def whole_words(text: str, start: int, end: int) -> Span:
    """Widen a wordpiece span to whole words; drop trailing punctuation and an unopened ")"."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    while end > start + 1 and (text[end - 1] in ",.;:!?\"'”’"
                               or (text[end - 1] == ")" and "(" not in text[start:end])):
        end -= 1
    return start, end
