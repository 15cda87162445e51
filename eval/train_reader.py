"""Train an in-context span model on every SQuAD question here, with out-of-fold predictions.

An experiment for issue #14, measured and not shipped (``eval/README.md`` has its figures): the
shipped reader still uses ``train_extractor.py``'s single-sentence model.

Input: the bundle ``qa_eval.reader_data`` writes (windows with labels and article groups, the
tokenizer, the bundled model trimmed to the wordpieces used). For each recipe it trains one model
per fold (grouped by article: no article is in both the training and the test side of a fold)
and predicts the held-out fold's windows, then trains the shipped model on every fold. The
network is all-MiniLM-L6-v2 with a start/end head; the token embeddings stay frozen (the shipped
file then holds only the six layers and the head, and the embeddings come from the bundled
model). Start and end may point only at the window's focus sentence or at [CLS], the "no answer
in this sentence" position that unanswerable and out-of-corpus questions teach.

This file needs PyTorch, transformers, tokenizers and safetensors only (none of ``qa``'s other
dependencies), so it runs as a plain script on a training machine; it uses a GPU when there is
one and runs, slowly, on CPUs. Usage:
    python eval/train_reader.py BUNDLE OUT [--recipes context,focus] [--folds 5] [--epochs 2]
        [--negatives N] [--batch B] [--only-fold K] [--fp32]
Writes ``OUT/preds-RECIPE.json.gz`` (out-of-fold spans), ``OUT/model-RECIPE-*.safetensors``
(the model trained on every fold, in parts small enough to copy back from a lent machine) and
``OUT/log.json``.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch


def windows_module() -> ModuleType:
    """``reader_windows.py`` (beside this file) loaded by path: this file runs as a plain script
    on a training machine, where the ``qa_eval`` package (and ``qa``'s dependencies) are absent."""
    path = Path(__file__).resolve().parent / "reader_windows.py"
    spec = importlib.util.spec_from_file_location("reader_windows", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


W = windows_module()


class Data:
    """The bundle's windows, encoded once for a recipe: ids in the trimmed vocabulary, focus
    masks, labels as token positions (0, 0 for [CLS]), and which fold each window's article is in."""

    def __init__(self, bundle: Path, recipe: str, folds: int, limit: int | None) -> None:
        from tokenizers import Tokenizer

        with gzip.open(bundle / "windows.json.gz", "rt", encoding="utf-8") as f:
            raw = json.load(f)
        records = raw["windows"]
        if limit is not None:
            records = [r for r in records if r[0] < limit]
        self.records = records
        plain = Tokenizer.from_file(str(bundle / "tokenizer.json"))
        pairs = Tokenizer.from_file(str(bundle / "tokenizer.json"))
        pairs.enable_truncation(W.MAX_LENGTH, strategy="only_second")
        self.fold_of_group = assign_folds(raw["groups"], records, folds)
        self.fold = np.array([self.fold_of_group[raw["groups"][r[0]]] for r in records])
        questions = [W.clip_question(q, plain) for q in raw["questions"]]
        windows = [_recipe_window(raw["texts"][r[1]], r[2], r[3], recipe) for r in records]
        encodings = pairs.encode_batch([(questions[r[0]], w.text) for r, w in zip(records, windows, strict=True)])
        from safetensors.numpy import load_file

        vocab = load_file(str(bundle / "base.safetensors"))["vocab"]
        compact = np.zeros(int(vocab.max()) + 1, dtype=np.int64)
        compact[vocab] = np.arange(len(vocab))
        self.windows, self.encodings = windows, encodings
        self.ids = [compact[np.array(e.ids)] for e in encodings]
        self.types = [np.array(e.type_ids) for e in encodings]
        self.masks = [W.focus_mask(e, w.focus) for e, w in zip(encodings, windows, strict=True)]
        self.labels = []
        self.usable = np.zeros(len(records), dtype=bool)
        for i, (r, w, e) in enumerate(zip(records, windows, encodings, strict=True)):
            if r[4] < 0:
                self.labels.append((0, 0))
                self.usable[i] = True
                continue
            shift = w.focus[0] - r[2]
            span = W.token_span(e, w.focus, (r[4] + shift, r[5] + shift))
            self.labels.append(span or (0, 0))
            self.usable[i] = span is not None
        self.train = np.array([r[6] for r in records], dtype=bool) & self.usable
        self.infer = np.array([r[7] for r in records], dtype=bool)


def _recipe_window(text: str, start: int, end: int, recipe: str) -> Any:
    """The window a recipe reads: the stored window (context) or its focus sentence alone."""
    if recipe == "focus":
        return W.Window(text[start:end], (0, end - start))
    return W.Window(text, (start, end))


def assign_folds(groups: list[str], records: list[list[int]], folds: int) -> dict[str, int]:
    """Articles to folds, largest first onto the lightest fold, so folds hold similar numbers of
    windows; deterministic (ties by title)."""
    sizes: dict[str, int] = {}
    for r in records:
        sizes[groups[r[0]]] = sizes.get(groups[r[0]], 0) + 1
    load = [0] * folds
    out = {}
    for title in sorted(sizes, key=lambda t: (-sizes[t], t)):
        k = load.index(min(load))
        out[title] = k
        load[k] += sizes[title]
    return out


def build_model(bundle: Path, device: torch.device) -> torch.nn.Module:
    """The bundled network (trimmed vocabulary) with an untrained start/end head, embeddings frozen."""
    import transformers
    from safetensors.torch import load_file
    from transformers import BertConfig, BertForQuestionAnswering

    transformers.logging.set_verbosity_error()
    state = load_file(str(bundle / "base.safetensors"))
    vocab = state.pop("vocab")
    config = BertConfig.from_json_file(str(bundle / "config.json"))
    config.vocab_size = len(vocab)
    model = BertForQuestionAnswering(config)
    missing, _ = model.load_state_dict({f"bert.{k}": v.float() for k, v in state.items()}, strict=False)
    assert all(k.startswith(("qa_outputs.", "bert.pooler.")) for k in missing), missing
    for name, p in model.named_parameters():
        p.requires_grad = not name.startswith("bert.embeddings.")
    return model.to(device)


def batches(data: Data, rows: np.ndarray, size: int, rng: random.Random | None) -> list[np.ndarray]:
    """Batches of similar length (shuffled pools of 50 batches, sorted inside) to pad little."""
    rows = rows.copy()
    if rng is not None:
        rng.shuffle(rows)  # type: ignore[arg-type]
    out = []
    pool = size * 50
    for i in range(0, len(rows), pool):
        chunk = sorted(rows[i: i + pool], key=lambda j: len(data.ids[j]))
        out += [np.array(chunk[k: k + size]) for k in range(0, len(chunk), size)]
    if rng is not None:
        rng.shuffle(out)
    return out


def tensors(data: Data, rows: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    """Padded inputs and the allowed positions ([CLS] and the focus) of a batch."""
    n = max(len(data.ids[j]) for j in rows)
    ids = np.zeros((len(rows), n), dtype=np.int64)
    types = np.zeros_like(ids)
    attention = np.zeros_like(ids)
    allowed = np.zeros((len(rows), n), dtype=bool)
    for i, j in enumerate(rows):
        m = len(data.ids[j])
        ids[i, :m], types[i, :m], attention[i, :m] = data.ids[j], data.types[j], 1
        allowed[i, :m] = data.masks[j]
        allowed[i, 0] = True
    return {k: torch.from_numpy(v).to(device) for k, v in
            {"input_ids": ids, "token_type_ids": types, "attention_mask": attention, "allowed": allowed}.items()}


BF16 = True  # bfloat16 autocast on a GPU; --fp32 turns it off


def logits(model: torch.nn.Module, feed: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits, -1e4 outside [CLS] and the focus."""
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=BF16 and feed["input_ids"].is_cuda)
    with autocast:
        out = model(input_ids=feed["input_ids"], token_type_ids=feed["token_type_ids"],
                    attention_mask=feed["attention_mask"])
    blocked = ~feed["allowed"]
    return out.start_logits.float().masked_fill(blocked, -1e4), out.end_logits.float().masked_fill(blocked, -1e4)


def epoch_rows(data: Data, rows: np.ndarray, negatives: int, rng: random.Random) -> np.ndarray:
    """Every answer-holding window of ``rows`` and, per question, ``negatives`` of its [CLS]
    windows drawn afresh each epoch: nine windows in ten are [CLS], and trained on all of them
    the head learns to say "no answer" and little about spans (out-of-fold span EM 0.42 on gold
    sentences against 0.56 for the earlier single-sentence model)."""
    by_question: dict[int, list[int]] = {}
    keep = []
    for j in rows:
        if data.labels[j] != (0, 0):
            keep.append(int(j))
        else:
            by_question.setdefault(data.records[j][0], []).append(int(j))
    for pool in by_question.values():
        keep += rng.sample(pool, min(negatives, len(pool)))
    return np.array(sorted(keep))


def train(data: Data, rows: np.ndarray, args: argparse.Namespace, seed: int, device: torch.device) -> torch.nn.Module:
    """One model trained on ``rows``: AdamW, linear warm-up over a tenth of the steps, then decay."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = build_model(args.bundle, device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    steps = args.epochs * len(batches(data, epoch_rows(data, rows, args.negatives, rng), args.batch, None))
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    labels = np.array(data.labels)
    model.train()
    for _ in range(args.epochs):
        for batch in batches(data, epoch_rows(data, rows, args.negatives, rng), args.batch, rng):
            feed = tensors(data, batch, device)
            start, end = logits(model, feed)
            target = torch.from_numpy(labels[batch]).to(device)
            loss = (torch.nn.functional.cross_entropy(start, target[:, 0])
                    + torch.nn.functional.cross_entropy(end, target[:, 1])) / 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
    model.eval()
    return model


@torch.no_grad()
def predict(model: torch.nn.Module, data: Data, rows: np.ndarray, device: torch.device) -> list[list[Any]]:
    """[question, text, focus start, null, span score, span start, span end] per window (span
    offsets in the focus sentence)."""
    out = []
    for batch in batches(data, rows, 256, None):
        start, end = logits(model, tensors(data, batch, device))
        spans = W.best_spans(start.cpu().numpy(), end.cpu().numpy(), [data.encodings[j] for j in batch],
                             [data.windows[j] for j in batch])
        for j, s in zip(batch, spans, strict=True):
            r = data.records[j]
            out.append([r[0], r[1], r[2], round(s.null, 4), round(s.score, 4), s.start, s.end])
    return out


def save_model(model: torch.nn.Module, out: Path, recipe: str, part_bytes: int = 15_000_000) -> list[str]:
    """The trained layers and head as float16, split into files of at most ``part_bytes``."""
    from safetensors.torch import save_file

    state = {k: v.detach().to(torch.float16).cpu().contiguous() for k, v in model.state_dict().items()
             if not k.startswith(("bert.embeddings.", "bert.pooler."))}
    parts: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for k, v in state.items():
        n = v.numel() * 2
        if size + n > part_bytes and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][k] = v
        size += n
    names = []
    for i, part in enumerate(parts):
        name = f"model-{recipe}-{i}.safetensors"
        save_file(part, str(out / name))
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--recipes", default="context", help="comma-separated: context, focus")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--negatives", type=int, default=2, help="[CLS] windows per question and epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions (a smoke run)")
    parser.add_argument("--no-final", action="store_true", help="skip the model trained on every fold")
    parser.add_argument("--only-fold", type=int, default=None, help="train and predict this fold alone")
    parser.add_argument("--fp32", action="store_true", help="no bfloat16 autocast on a GPU")
    args = parser.parse_args(argv)
    global BF16
    BF16 = not args.fp32
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    log: dict[str, Any] = {"device": str(torch.cuda.get_device_name() if device.type == "cuda" else "cpu"),
                           "torch": torch.__version__, "args": {k: str(v) for k, v in vars(args).items()}}
    for recipe in args.recipes.split(","):
        started = time.perf_counter()
        data = Data(args.bundle, recipe, args.folds, args.limit)
        entry: dict[str, Any] = {"windows": len(data.records), "train_windows": int(data.train.sum()),
                                 "unusable_labels": int((~data.usable).sum()), "folds": data.fold_of_group,
                                 "encode_s": round(time.perf_counter() - started, 1), "fold_s": []}
        print(recipe, {k: v for k, v in entry.items() if k != "folds"}, flush=True)
        if not args.no_final:  # first: on a lent machine's short lease, the model to keep matters most
            t = time.perf_counter()
            model = train(data, np.flatnonzero(data.train), args, args.seed + args.folds, device)
            entry["final_files"] = save_model(model, args.out, recipe)
            entry["final_s"] = round(time.perf_counter() - t, 1)
        preds: list[list[Any]] = []
        for k in range(args.folds) if args.only_fold is None else [args.only_fold]:
            t = time.perf_counter()
            model = train(data, np.flatnonzero(data.train & (data.fold != k)), args, args.seed + k, device)
            preds += predict(model, data, np.flatnonzero(data.infer & (data.fold == k)), device)
            entry["fold_s"].append(round(time.perf_counter() - t, 1))
            print(recipe, "fold", k, entry["fold_s"][-1], "s", flush=True)
            with gzip.open(args.out / f"preds-{recipe}.json.gz", "wt", encoding="utf-8") as f:  # each fold
                json.dump({"recipe": recipe, "folds": data.fold_of_group, "done": k + 1,
                           "columns": ["question", "text", "focus_start", "null", "score", "start", "end"],
                           "predictions": preds}, f)
        log[recipe] = entry
        (args.out / "log.json").write_text(json.dumps(log, indent=1))
        print(recipe, "done", round(time.perf_counter() - started, 1), "s", flush=True)


if __name__ == "__main__":
    main()
