"""The span extractor's recipe (``extractor_recipe``) on a lent GPU: both folds of
``train_extractor.py``'s two-fold cross-validation by article and, optionally, the model on every
article, for several recipes at once; each fold model reads every candidate sentence of
``fit_reader``'s data, so the reader's choice and confidence can be refitted on readings of
articles the model never trained on.

Inputs, written on the CPU machine: ``train_extractor --export`` (each half's examples and
near-misses) and ``extractor_preds --items`` (every candidate to read, with its key-span hint),
and ``reader_data``'s bundle (the tokenizer and the bundled model, its vocabulary trimmed to the
wordpieces the data uses). This file needs PyTorch, transformers, tokenizers and safetensors
only; ``qa``'s numpy-only decoder and metrics are loaded by path, so the readings decode as
``answer()`` decodes, but for the penalty on spans that repeat the question
(``BundledExtractor.repeat_penalty``), which needs the stemmer: here the span is the network's own
best, as a runtime extractor with ``repeat_penalty=0`` reads. It runs, slowly, on CPUs too. Usage:
    python eval/device_extractor.py BUNDLE EXAMPLES ITEMS OUT [--recipes plain,head] [--final head]
        [--head-weight 1.0] [--limit N]
Writes, as each is done: ``OUT/preds-RECIPE.json.gz`` (each fold model's readings, in
``extractor_preds``'s columns plus the has-answer head's logit), ``OUT/weights-RECIPE-N.safetensors``
(the model on every article, float16, in parts a lent machine can send back) and ``OUT/log.json``
(each fold's held-out figures, as ``train_extractor.held_out`` measures them, and timings).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import random
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
# What each recipe changes in ``extractor_recipe.train``: near-misses teach the has-answer head
# only (head), the span head's [CLS] too (head-span), or nothing (plain, the shipped recipe).
RECIPES = {"plain": {"near_misses": False, "head": False, "misses_teach_span": False},
           "head": {"near_misses": True, "head": True, "misses_teach_span": False},
           "head-span": {"near_misses": True, "head": True, "misses_teach_span": True},
           "span": {"near_misses": True, "head": False, "misses_teach_span": True}}
COLUMNS = ["question", "text", "focus_start", "null", "score", "start", "end", "head"]


def by_path(name: str, path: Path) -> ModuleType:
    """A module loaded from its file: ``qa``'s and ``qa_eval``'s packages import what is absent here."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


R = by_path("device_extractor_recipe", ROOT / "eval" / "extractor_recipe.py")
D = by_path("device_decoding", ROOT / "qa" / "reader" / "decoding.py")
M = by_path("device_metrics", ROOT / "qa" / "metrics.py")


class Bundle:
    """The bundled network and tokenizer with the bundle's trimmed vocabulary."""

    def __init__(self, path: Path) -> None:
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        self.path = path
        self.state = load_file(str(path / "base.safetensors"))
        vocab = self.state.pop("vocab").numpy()
        compact = np.full(int(vocab.max()) + 1, int(np.searchsorted(vocab, 100)), dtype=np.int64)  # else [UNK]
        compact[vocab] = np.arange(len(vocab))
        self.compact = torch.from_numpy(compact)
        self.vocab_size = len(vocab)
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.pairs = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.pairs.enable_truncation(256, strategy="only_second")
        self.pairs.no_padding()

    def ids(self, ids: torch.Tensor) -> torch.Tensor:
        return self.compact[ids.clamp(max=len(self.compact) - 1)]

    def feed(self, encoded: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        """A batch of (wordpiece ids, token types), padded to its longest, in the model's ids."""
        width = max(len(ids) for ids, _ in encoded)
        feed = {k: torch.zeros((len(encoded), width), dtype=torch.int64)
                for k in ("input_ids", "token_type_ids", "attention_mask")}
        for row, (ids, types) in enumerate(encoded):
            feed["input_ids"][row, :len(ids)] = torch.tensor(ids)
            feed["token_type_ids"][row, :len(ids)] = torch.tensor(types)
            feed["attention_mask"][row, :len(ids)] = 1
        feed["input_ids"] = self.ids(feed["input_ids"])
        return feed

    def model(self) -> Any:
        """The base network with an untrained start/end head (``load_base`` with this vocabulary)."""
        import transformers
        from transformers import BertConfig, BertForQuestionAnswering

        transformers.logging.set_verbosity_error()
        config = BertConfig.from_json_file(str(self.path / "config.json"))
        config.vocab_size = self.vocab_size
        model = BertForQuestionAnswering(config)
        missing, _ = model.load_state_dict({f"bert.{k}": v.float() for k, v in self.state.items()}, strict=False)
        assert all(k.startswith(("qa_outputs.", "bert.pooler.")) for k in missing), missing
        return model


def _decode(job: tuple[Any, ...]) -> tuple[int, int, float, float]:
    best = D.best_span(*job)
    return best if best is not None else (0, 0, -100.0, 0.0)


@torch.no_grad()
def read(model: Any, bundle: Bundle, items: list[tuple[str, str, Any]], margin: float, device: str,
         pool: Any) -> list[tuple[int, int, float, float, float]]:
    """(span start, end, span logit, [CLS] logit, head logit or 0) of each (question, text, hint),
    decoded by ``qa.reader.decoding`` as the runtime decodes without the repeat penalty."""
    encodings = bundle.pairs.encode_batch([(q, t) for q, t, _ in items])
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    out: list[Any] = [None] * len(items)
    for first in range(0, len(order), 512):
        run = order[first:first + 512]
        feed = bundle.feed([(encodings[i].ids, encodings[i].type_ids) for i in run])
        start, end, head = R.outputs(model, {k: v.to(device) for k, v in feed.items()})
        start, end = start.float().cpu().numpy(), end.float().cpu().numpy()
        heads = head.float().cpu().numpy() if head is not None else np.zeros(len(run))
        jobs = []
        for row, i in enumerate(run):
            e = encodings[i]
            n = len(e.ids)
            hint = tuple(items[i][2]) if items[i][2] is not None else None
            jobs.append((start[row, :n], end[row, :n], e.offsets, [s == 1 for s in e.sequence_ids], items[i][1],
                         hint, margin))
        for row, (i, got) in enumerate(zip(run, pool.map(_decode, jobs, chunksize=64), strict=True)):
            out[i] = (*got, float(heads[row]))
    return out


def held_out(model: Any, bundle: Bundle, half: dict[str, Any], device: str, pool: Any) -> dict[str, float]:
    """``train_extractor.held_out``'s figures (spans in the gold sentence, gold sentence first in
    its paragraph, near-miss AUROC), and the same two rankings by the has-answer head."""
    items, owners = [], []
    for k, ex in enumerate(half["test"]):
        for j, text in enumerate([ex["text"], *ex["negatives"]]):
            items.append((ex["question"], text, None))
            owners.append((k, j))
    misses = [(ex["question"], ex["text"], None) for ex in half["test_misses"]]
    got = read(model, bundle, items + misses, 0.0, device, pool)
    per: dict[int, list[tuple[int, Any]]] = {}
    for (k, j), g in zip(owners, got, strict=False):
        per.setdefault(k, []).append((j, g))
    f1 = em = first = head_first = 0.0
    gold_has, gold_head = [], []
    for k, ex in enumerate(half["test"]):
        readings = dict(per[k])
        s, e, top, null, head = readings[0]
        guess = ex["text"][s:e]
        f1 += max(M.f1_score(guess, g[2]) for g in ex["golds"])
        em += max(M.exact_match(guess, g[2]) for g in ex["golds"])
        first += max(readings, key=lambda j: readings[j][2] - readings[j][3]) == 0
        head_first += max(readings, key=lambda j: readings[j][4]) == 0
        gold_has.append(top - null)
        gold_head.append(head)
    n = len(half["test"])
    miss = got[len(items):]
    figures = {"span_f1": round(f1 / n, 4), "span_em": round(em / n, 4), "sentence_accuracy": round(first / n, 4),
               "near_miss_auroc": round(M.auroc(gold_has, [m[2] - m[3] for m in miss]), 4)}
    if model.qa_outputs.out_features == 3:
        figures |= {"head_sentence_accuracy": round(head_first / n, 4),
                    "head_near_miss_auroc": round(M.auroc(gold_head, [m[4] for m in miss]), 4)}
    return figures


def trained(bundle: Bundle, half: dict[str, Any], recipe: dict[str, bool], args: argparse.Namespace,
            device: str) -> Any:
    """One model of ``recipe`` on ``half``'s training articles (seeded as ``train_extractor``)."""
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = bundle.model()
    misses = half["train_misses"] if recipe["near_misses"] else []
    train = half["train"]
    if args.limit:
        train, misses = train[:args.limit], misses[:args.limit]
    for ex in train:
        ex.setdefault("hard", [])
    R.train(model, bundle.tokenizer, train, misses, epochs=args.epochs, batch=args.batch, lr=args.lr, rng=rng,
            head_weight=args.head_weight if recipe["head"] else 0.0,
            misses_teach_span=recipe["misses_teach_span"], device=device, ids=bundle.ids)
    return model


def save_parts(model: Any, out: Path, name: str) -> list[str]:
    """``extractor_recipe.trained_state`` in parts (``write_parts``)."""
    return write_parts(R.trained_state(model), out, f"weights-{name}")


def write_parts(state: dict[str, torch.Tensor], out: Path, prefix: str, part_bytes: int = 15_000_000) -> list[str]:
    """Float16 tensors split into ``prefix-N.safetensors`` files of at most ``part_bytes``, the
    size a lent machine sends back."""
    from safetensors.torch import save_file

    parts: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in state.items():
        if size + v.numel() * 2 > part_bytes and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][k] = v
        size += v.numel() * 2
    names = []
    for i, part in enumerate(parts):
        names.append(f"{prefix}-{i}.safetensors")
        save_file(part, str(out / names[-1]))
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("examples", type=Path, help="train_extractor --export")
    parser.add_argument("items", type=Path, help="extractor_preds --items")
    parser.add_argument("out", type=Path)
    parser.add_argument("--recipes", default="plain,head", help=f"comma-separated, of {', '.join(RECIPES)}")
    parser.add_argument("--final", default="", help="recipes to train on every article too")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--head-weight", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=None, help="training questions and readings (a smoke run)")
    parser.add_argument("--held-out-only", action="store_true",
                        help="measure each fold model on its held-out articles and read no candidates "
                             "(with --seed, how much a seed moves the figures)")
    args = parser.parse_args(argv)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False  # float32 as on the CPU
    bundle = Bundle(args.bundle)
    with gzip.open(args.examples, "rt", encoding="utf-8") as f:
        halves = json.load(f)["halves"]
    with gzip.open(args.items, "rt", encoding="utf-8") as f:
        raw = json.load(f)
    items = raw["items"][:args.limit] if args.limit else raw["items"]
    if args.limit:
        for half in halves.values():
            half["test"], half["test_misses"] = half["test"][:args.limit], half["test_misses"][:args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    log: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                           "torch": torch.__version__, "args": {k: str(v) for k, v in vars(args).items()}}
    with Pool() as pool:
        for name in args.recipes.split(","):
            recipe = RECIPES[name]
            readings: dict[str, Any] = {}
            for half in ("0", "1"):
                t = time.perf_counter()
                model = trained(bundle, halves[half], recipe, args, device)
                trained_s = time.perf_counter() - t
                figures = held_out(model, bundle, halves[half], device, pool)
                if not args.held_out_only:
                    got = read(model, bundle, [(i[3], i[4], i[5]) for i in items], raw["margin"], device, pool)
                    readings[half] = [[*i[:3], round(g[3], 4), round(g[2], 4), g[0], g[1], round(g[4], 4)]
                                      for i, g in zip(items, got, strict=True)]
                log[f"{name}/half{half}"] = {"held_out": figures, "train_s": round(trained_s, 1),
                                             "all_s": round(time.perf_counter() - t, 1),
                                             "train_titles": halves[half]["train_titles"]}
                print(name, half, json.dumps(log[f"{name}/half{half}"]["held_out"]), flush=True)
                (args.out / "log.json").write_text(json.dumps(log, indent=1))
            if readings:
                with gzip.open(args.out / f"preds-{name}.json.gz", "wt", encoding="utf-8") as f:
                    json.dump({"recipe": name, "folds": raw["folds"], "columns": COLUMNS, "by_half": readings}, f)
            if name in args.final.split(","):
                t = time.perf_counter()
                model = trained(bundle, halves["all"], recipe, args, device)
                log[f"{name}/all"] = {"files": save_parts(model, args.out, name),
                                      "train_s": round(time.perf_counter() - t, 1)}
                (args.out / "log.json").write_text(json.dumps(log, indent=1))
            print(name, "done", flush=True)


if __name__ == "__main__":
    main()
