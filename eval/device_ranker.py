"""A sentence ranker for the reader's choice, trained on a lent GPU (issue 14; measured, see
eval/README.md, "A sentence ranker"): all-MiniLM-L6-v2 as a cross-encoder, every weight
trained, scoring (question, candidate sentence) with a linear layer on [CLS], fitted with a
softmax over each question's retrieved candidates (the gold ones against the reader's own best
wrong ones), which is the choice the reader makes, where the extractor learns spans from a gold
sentence and a random sentence of its paragraph.

Two readings of a candidate: ``sentence`` ([CLS] question [SEP] sentence [SEP], as the extractor
reads) and ``window`` (the sentence, then its paragraph neighbours after a second [SEP]).
Both folds of ``train_extractor``'s halves are trained; each fold model scores the questions
about the articles it never saw, so ``fit_reader`` can weigh the score out of fold.

Inputs: ``ranker_inputs``'s file and ``reader_data``'s bundle (tokenizer and the model cut to
its wordpieces). Needs PyTorch, transformers, tokenizers and safetensors only. Usage:
    python eval/device_ranker.py BUNDLE INPUTS OUT [--contexts sentence,window] [--final window]
Writes ``OUT/ranker-CONTEXT.json.gz`` (each fold model's score of every candidate, by half),
``OUT/log.json`` (held-out choice figures and timings) and, with ``--final``,
``OUT/ranker-CONTEXT-N.safetensors`` (the model on every article, float16, in parts).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def _device_extractor() -> Any:
    spec = importlib.util.spec_from_file_location("device_extractor", ROOT / "eval" / "device_extractor.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["device_extractor"] = module
    spec.loader.exec_module(module)
    return module


X = _device_extractor()
MAX_LENGTH = 256


class Ranker(torch.nn.Module):
    """The bundled encoder with one score read at [CLS]."""

    def __init__(self, bundle: Any) -> None:
        super().__init__()
        self.encoder = bundle.model().bert
        self.score = torch.nn.Linear(self.encoder.config.hidden_size, 1)

    def forward(self, feed: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(**feed).last_hidden_state[:, 0]
        return self.score(hidden).squeeze(-1)


class Encoder:
    """Wordpiece ids of (question, candidate) in one of the two readings, cached per text."""

    def __init__(self, bundle: Any, context: str) -> None:
        self.bundle, self.context = bundle, context
        self.tokenizer = bundle.tokenizer
        self.cls, self.sep = self.tokenizer.token_to_id("[CLS]"), self.tokenizer.token_to_id("[SEP]")
        self.cache: dict[str, list[int]] = {}

    def pieces(self, text: str) -> list[int]:
        if text not in self.cache:
            self.cache[text] = self.tokenizer.encode(text, add_special_tokens=False).ids
        return self.cache[text]

    def ids(self, question: str, candidate: list[Any]) -> tuple[list[int], list[int]]:
        """(input ids, token types) of one candidate, cut to ``MAX_LENGTH``."""
        q = [self.cls, *self.pieces(question)[:64], self.sep]
        room = MAX_LENGTH - len(q) - 1
        text = self.pieces(candidate[2])[:room] + [self.sep]
        if self.context == "window":
            room = MAX_LENGTH - len(q) - len(text) - 1
            left, right = self.pieces(candidate[3]), self.pieces(candidate[4])
            keep_left = min(len(left), max(room // 2, room - len(right)))
            around = left[len(left) - keep_left:] + right[: max(0, room - keep_left)]
            if around:
                text += around[:room] + [self.sep]
        return q + text, [0] * len(q) + [1] * len(text)

    def batch(self, rows: list[tuple[str, list[Any]]], device: str) -> dict[str, torch.Tensor]:
        feed = self.bundle.feed([self.ids(q, c) for q, c in rows])
        return {k: v.to(device) for k, v in feed.items()}


def listwise_loss(scores: torch.Tensor, groups: list[int], gold: torch.Tensor) -> torch.Tensor:
    """The mean over questions of -log(the softmax mass on its gold candidates)."""
    losses, first = [], 0
    for n in groups:
        s, g = scores[first:first + n], gold[first:first + n]
        losses.append(torch.logsumexp(s, 0) - torch.logsumexp(s[g], 0))
        first += n
    return torch.stack(losses).mean()


def train(bundle: Any, encoder: Encoder, questions: list[dict[str, Any]], args: argparse.Namespace,
          device: str) -> Ranker:
    """A ranker on ``questions`` (those with a gold candidate), seeded."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = Ranker(bundle).to(device)
    usable = [q for q in questions if any(c[5] for c in q["candidates"])][: args.limit]
    steps = args.epochs * math.ceil(len(usable) / args.batch)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    model.train()
    for _ in range(args.epochs):
        rng.shuffle(usable)
        for first in range(0, len(usable), args.batch):
            chunk = usable[first:first + args.batch]
            rows = [(q["text"], c) for q in chunk for c in q["candidates"]]
            gold = torch.tensor([bool(c[5]) for q in chunk for c in q["candidates"]], device=device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
                scores = model(encoder.batch(rows, device)).float()
            loss = listwise_loss(scores, [len(q["candidates"]) for q in chunk], gold)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
    return model


@torch.no_grad()
def score(model: Ranker, encoder: Encoder, questions: list[dict[str, Any]], device: str) -> list[list[float]]:
    """Each question's candidates' scores."""
    model.eval()
    rows = [(q["text"], c) for q in questions for c in q["candidates"]]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][1][2]) + len(rows[i][1][3]) + len(rows[i][1][4]))
    out = np.zeros(len(rows), dtype=np.float32)
    for first in range(0, len(order), 1024):
        run = order[first:first + 1024]
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda"):
            out[run] = model(encoder.batch([rows[i] for i in run], device)).float().cpu().numpy()
    got, first = [], 0
    for q in questions:
        got.append([round(float(s), 4) for s in out[first:first + len(q["candidates"])]])
        first += len(q["candidates"])
    return got


def choice(questions: list[dict[str, Any]], scores: list[list[float]], width: int) -> dict[str, float]:
    """How often the best of the first ``width`` candidates holds an answer, by the ranker and by
    the data's order (the reader's fixed pre-rank), on questions with a gold one among them."""
    ranked = first = n = 0
    for q, s in zip(questions, scores, strict=True):
        holds = [c[5] for c in q["candidates"][:width]]
        if any(holds):
            n += 1
            ranked += holds[int(np.argmax(s[:width]))]
            first += holds[0]
    share = 1 / max(n, 1)
    return {f"ranker_top{width}": round(ranked * share, 4), f"prerank_top{width}": round(first * share, 4), "n": n}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("inputs", type=Path, help="ranker_inputs' file")
    parser.add_argument("out", type=Path)
    parser.add_argument("--contexts", default="sentence,window")
    parser.add_argument("--final", default="", help="contexts to train on every article too")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="questions a step (all their candidates)")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="a smoke run: about 4N questions spread over the articles, N of them trained on")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bundle = X.Bundle(args.bundle)
    with gzip.open(args.inputs, "rt", encoding="utf-8") as f:
        data = json.load(f)
    questions = data["questions"]
    if args.limit:  # a smoke run: questions spread over every article
        questions = questions[:: max(1, len(questions) // (args.limit * 4))]
    args.out.mkdir(parents=True, exist_ok=True)
    log: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                           "torch": torch.__version__, "args": {k: str(v) for k, v in vars(args).items()}}
    for context in args.contexts.split(","):
        encoder = Encoder(bundle, context)
        by_half: dict[str, Any] = {}
        for half in ("0", "1"):
            t = time.perf_counter()
            unseen = set(data["held_out"][half])
            model = train(bundle, encoder, [q for q in questions if q["title"] not in unseen], args, device)
            trained_s = time.perf_counter() - t
            mine = [q for q in questions if q["reader"] == half]
            scores = score(model, encoder, mine, device)
            held = [(q, s) for q, s in zip(mine, scores, strict=True) if q["title"] in unseen]
            figures = {w: choice([q for q, _ in held], [s for _, s in held], w) for w in (6, 12)}
            by_half[half] = [[q["key"], c[0], c[1], s] for q, ss in zip(mine, scores, strict=True)
                             for c, s in zip(q["candidates"], ss, strict=True)]
            log[f"{context}/half{half}"] = {"held_out": figures, "train_s": round(trained_s, 1),
                                            "all_s": round(time.perf_counter() - t, 1)}
            print(context, half, json.dumps(log[f"{context}/half{half}"]), flush=True)
            (args.out / "log.json").write_text(json.dumps(log, indent=1))
        with gzip.open(args.out / f"ranker-{context}.json.gz", "wt", encoding="utf-8") as f:
            json.dump({"context": context, "by_half": by_half}, f)
    for context in filter(None, args.final.split(",")):  # after every fold, which matter most
        t = time.perf_counter()
        model = train(bundle, Encoder(bundle, context), questions, args, device)
        state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
        log[f"{context}/all"] = {"files": X.write_parts(state, args.out, f"ranker-{context}"),
                                 "train_s": round(time.perf_counter() - t, 1)}
        (args.out / "log.json").write_text(json.dumps(log, indent=1))
        print(context, "final", flush=True)


if __name__ == "__main__":
    main()
