"""Choose the extractor's penalty on spans that repeat the question, out of fold by article.

SQuAD's answers rarely repeat their question's words; the extractor's best span often does ("The
American Football Conference (AFC) champion Denver Broncos" for "Which NFL team represented the
AFC?"). ``BundledExtractor`` subtracts ``repeat_penalty`` logits per unit of a span's content words
that the question holds (``qa.reader.spans.repeated_share``). This measures each penalty of a grid
where the penalty acts: each fold model of ``train_extractor``'s two-fold cross-validation reads
the gold sentences of the 12 articles it never saw, with the runtime's key-span hint, so every
question is read by a model that never trained on its article. Then on five folds of those 24
articles (dealt in turn, alphabetically, as ``fit_reader`` deals them) each fold takes the penalty
with the best span EM + F1 on the other four, and is measured with it. Each penalty is also
measured without the hint, which is what the hint costs (``ReaderSettings.hint_words``). Usage:
    python -m qa_eval.span_penalty [DATASET] [--folds DIR0 DIR1] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from qa.metrics import exact_match, f1_score
from qa.reader import Reader
from qa.reader.extractor import REPEAT_PENALTY, BundledExtractor

from . import defaults
from .squad import article_folds, split_titles

if TYPE_CHECKING:
    from .train_extractor import Example

PENALTIES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)
FOLDS = 5
Scores = dict[tuple[float, bool], tuple[float, float]]  # (penalty, hinted) -> (span EM, span F1)


def readings(data: list[dict[str, Any]], half: int, weights: Path) -> list[tuple[str, Scores]]:
    """(title, scores) for each question of the articles fold ``half``'s model at ``weights`` never
    saw, its gold sentence read as ``Reader.choose`` reads it, and without the hint."""
    from .train_extractor import examples  # imports torch, which ``choose`` and its test need not

    _, unseen = split_titles(data, half)
    extractor = BundledExtractor(weights)
    reader = Reader(extractor)
    out = []
    for article in tqdm([a for a in data if a["title"] in unseen], desc=f"Fold {half}"):
        for ex in examples([article]):
            out.append((article["title"], _scores(ex, reader, extractor)))
    return out


def _scores(ex: Example, reader: Reader, extractor: BundledExtractor) -> Scores:
    question, text = ex["question"], ex["text"]
    hint = reader.hint(question, text)
    scores = {}
    for penalty in PENALTIES:
        extractor.repeat_penalty = penalty
        for hinted in (True, False):
            guess = extractor.spans(question, [text], [hint if hinted else None], reader.settings.hint_margin,
                                    [ex["title"]])[0]
            span = text[guess.start:guess.end]
            scores[penalty, hinted] = (max(exact_match(span, g[2]) for g in ex["golds"]),
                                       max(f1_score(span, g[2]) for g in ex["golds"]))
    return scores


def choose(read: list[tuple[str, Scores]]) -> dict[str, object]:
    """Each penalty's figures over every question (with the hint, and without), the penalty each
    article fold chose on the others (with the hint, as the runtime reads), and the out-of-fold
    figures of those choices."""
    fold = article_folds((t for t, _ in read), FOLDS)

    def mean(rows: list[Scores], p: float, part: int, hinted: bool = True) -> float:
        return sum(r[p, hinted][part] for r in rows) / len(rows)

    chosen, em, f1 = [], 0.0, 0.0
    for k in range(FOLDS):
        train = [r for t, r in read if fold[t] != k]
        test = [r for t, r in read if fold[t] == k]
        best = max(PENALTIES, key=lambda p: mean(train, p, 0) + mean(train, p, 1))
        chosen.append(best)
        em += sum(r[best, True][0] for r in test)
        f1 += sum(r[best, True][1] for r in test)
    every = [r for _, r in read]
    return {"questions": len(read),
            "by_penalty": {str(p): {"span_em": round(mean(every, p, 0), 4), "span_f1": round(mean(every, p, 1), 4),
                                    "no_hint": {"span_em": round(mean(every, p, 0, False), 4),
                                                "span_f1": round(mean(every, p, 1, False), 4)}}
                           for p in PENALTIES},
            "chosen_by_fold": chosen,
            "out_of_fold": {"span_em": round(em / len(read), 4), "span_f1": round(f1 / len(read), 4)},
            "shipped": REPEAT_PENALTY}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, nargs="?", default=defaults.DEV_SET)
    folds = [defaults.cache_dir() / f"extractor-half{h}" for h in (0, 1)]
    parser.add_argument("--folds", type=Path, nargs=2, default=folds,
                        help="the two fold models (train_extractor --half 0 and 1)")
    parser.add_argument("--out", type=Path, default=defaults.reports_dir() / "span-penalty.json")
    args = parser.parse_args(argv)
    for weights in args.folds:
        if not (weights / "weights.safetensors").is_file():
            parser.error(f"{weights} holds no fold model; bash eval/train_extractor.sh trains both folds")
    data = json.loads(args.dataset.read_text(encoding="utf-8"))["data"]
    read = [row for half, weights in enumerate(args.folds) for row in readings(data, half, weights)]
    report = {"dataset": args.dataset.name, "folds": [f.name for f in args.folds], **choose(read)}
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
