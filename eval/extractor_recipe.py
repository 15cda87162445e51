"""The span extractor's training recipe: PyTorch and transformers alone.

``train_extractor.py`` (the CPU command that reproduces the shipped model) and
``device_extractor.py`` (the same recipe on a lent GPU, where ``qa``'s other dependencies are
absent) both train with ``train``, so a model trained on either machine follows one recipe.

Each epoch every question gives its gold sentence (labelled with the answer's first and last
wordpieces) and one other sentence of its paragraph (labelled [CLS], "no answer here"), and,
with ``hard``, retrieved sentences without an answer. SQuAD v2.0's near-misses (an unanswerable
question with the sentence it was written from) join in one of two ways:
- ``misses_teach_span``: labelled [CLS] for the span head (tried; it costs the gold sentence its
  place: ``eval/README.md``);
- a has-answer head (``head_weight`` > 0): a third output channel read at [CLS], trained with a
  logistic loss on every example (gold 1, other sentences and near-misses 0), while the start/end
  head learns from the gold and random sentences alone, as without near-misses. The reader can
  then rank sentences by the span head and weigh the has-answer head in its confidence.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

Example = dict[str, Any]
# (question, text, answer span in the text or None for [CLS], whether the pair is a near-miss)
Pair = tuple[str, str, tuple[int, int] | None, bool]
IGNORED = -100  # a near-miss's span label when near-misses teach only the has-answer head


def epoch_pairs(train: Sequence[Example], misses: Sequence[Example], hard: int, rng: random.Random) -> list[Pair]:
    """One epoch's examples in the order they are trained on."""
    pairs: list[Pair] = []
    for ex in train:
        pairs.append((ex["question"], ex["text"], tuple(ex["golds"][0][:2]), False))
        if ex["negatives"]:
            pairs.append((ex["question"], rng.choice(ex["negatives"]), None, False))
        for text in rng.sample(ex["hard"], min(hard, len(ex["hard"]))):
            pairs.append((ex["question"], text, None, False))
    pairs.extend((ex["question"], ex["text"], None, True) for ex in misses)
    rng.shuffle(pairs)
    return pairs


def pair_tokenizer(tokenizer: Any) -> Any:
    """A copy of a ``tokenizers.Tokenizer`` that encodes (question, text) pairs as the recipe
    reads them: the text cut to fit 256 wordpieces, a batch padded to its longest."""
    from tokenizers import Tokenizer

    pairs = Tokenizer.from_str(tokenizer.to_str())
    pairs.enable_truncation(256, strategy="only_second")
    pairs.enable_padding(pad_id=0, pad_token="[PAD]")
    return pairs


def encode(tokenizer: Any, pairs: Sequence[Pair], misses_teach_span: bool = True,
           ids: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Tokenised (question, text) pairs (``pair_tokenizer``'s) with start/end labels ([CLS] for
    no answer, ``IGNORED`` for a near-miss the span head does not learn from) and has-answer labels.

    Args:
        ids: maps the tokenizer's ids to the model's (a trimmed vocabulary on a training machine).
    """
    encodings = tokenizer.encode_batch([(p[0], p[1]) for p in pairs])
    starts, ends = [], []
    for e, (_, _, span, miss) in zip(encodings, pairs, strict=True):
        context = [j for j, s in enumerate(e.sequence_ids) if s == 1]
        if span is None or not context:
            blank = IGNORED if miss and not misses_teach_span else 0
            starts.append(blank)
            ends.append(blank)
            continue
        s, end = span
        start = next((j for j in context if e.offsets[j][1] > s), context[-1])
        starts.append(start)
        ends.append(max((j for j in context if e.offsets[j][0] < end), default=start))
    feed = {"input_ids": torch.tensor([e.ids for e in encodings]),
            "token_type_ids": torch.tensor([e.type_ids for e in encodings]),
            "attention_mask": torch.tensor([e.attention_mask for e in encodings])}
    if ids is not None:
        feed["input_ids"] = ids(feed["input_ids"])
    feed["start_positions"] = torch.tensor(starts)
    feed["end_positions"] = torch.tensor(ends)
    feed["has_answer"] = torch.tensor([float(p[2] is not None) for p in pairs])
    return feed


def add_head(model: Any) -> None:
    """Give the network's start/end layer a third channel, the has-answer logit read at [CLS]."""
    old = model.qa_outputs
    new = torch.nn.Linear(old.in_features, 3)
    with torch.no_grad():
        new.weight[:2] = old.weight
        new.bias[:2] = old.bias
        new.weight[2].normal_(0.0, 0.02)
        new.bias[2] = 0.0
    model.qa_outputs = new


def outputs(model: Any, feed: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Start and end logits (batch, sequence) and, with a has-answer head, its logit (batch)."""
    hidden = model.bert(input_ids=feed["input_ids"], attention_mask=feed["attention_mask"],
                        token_type_ids=feed["token_type_ids"])[0]
    logits = model.qa_outputs(hidden)
    head = logits[:, 0, 2] if logits.shape[-1] == 3 else None
    return logits[..., 0], logits[..., 1], head


def loss_of(model: Any, feed: dict[str, torch.Tensor], head_weight: float) -> torch.Tensor:
    """The start/end cross-entropy (as transformers computes it for question answering) plus, with
    a head, ``head_weight`` times its logistic loss."""
    start, end, head = outputs(model, feed)
    span = feed["start_positions"] != IGNORED
    loss = torch.zeros((), device=start.device)
    if span.any():
        ce = torch.nn.functional.cross_entropy
        loss = (ce(start[span], feed["start_positions"][span]) + ce(end[span], feed["end_positions"][span])) / 2
    if head is not None:
        loss = loss + head_weight * torch.nn.functional.binary_cross_entropy_with_logits(head, feed["has_answer"])
    return loss


def train(model: Any, tokenizer: Any, examples: Sequence[Example], misses: Sequence[Example], *, epochs: int,
          batch: int, lr: float, rng: random.Random, hard: int = 0, head_weight: float = 0.0,
          misses_teach_span: bool = True, device: str = "cpu",
          ids: Callable[[torch.Tensor], torch.Tensor] | None = None,
          progress: Callable[[range, str], Any] = lambda r, _: r) -> None:
    """Fine-tune ``model`` in place (``tokenizer``: the bundled ``tokenizers.Tokenizer``): the
    token embeddings frozen (half the network, and a few thousand questions cannot improve them),
    AdamW, warm-up over a tenth of the steps, then linear decay. ``head_weight`` > 0 adds the
    has-answer head first (``add_head``)."""
    if head_weight > 0:
        add_head(model)
    tokenizer = pair_tokenizer(tokenizer)
    model.to(device)
    for p in model.bert.embeddings.parameters():
        p.requires_grad = False
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = epochs * -(-((2 + hard) * len(examples) + len(misses)) // batch)
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, s / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    for epoch in range(epochs):
        model.train()
        pairs = epoch_pairs(examples, misses, hard, rng)
        for i in progress(range(0, len(pairs), batch), f"Epoch {epoch + 1}/{epochs}"):
            feed = {k: v.to(device) for k, v in encode(tokenizer, pairs[i:i + batch], misses_teach_span, ids).items()}
            loss_of(model, feed, head_weight).backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
    model.eval()


def trained_state(model: Any) -> dict[str, torch.Tensor]:
    """What ships: the six layers and the start/end (and has-answer) layer, as float16."""
    return {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()
            if not k.startswith(("bert.embeddings.", "bert.pooler."))}
