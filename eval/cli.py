"""The ``qa eval`` and ``qa bench`` commands: their options, defaults and checks.

``qa.cli`` adds these subcommands (and ``python -m qa_eval.bench`` parses the same options).
Building the parser imports nothing heavy: the harness, the bench and matplotlib load when a
command runs. Before a run, every file it needs is checked, so a missing file or extra is said
in one sentence instead of failing after an hour.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import defaults

if TYPE_CHECKING:
    from qa.settings import Settings

BENCH_HELP = "Benchmark ingest, start-up, latency, size and memory at 1x/10x/100x."
BENCH_DESCRIPTION = """\
Benchmark how ingest, start-up, answer() latency, index size and memory grow with the corpus.

Scale s is the sample corpus plus s - 1 synthetic copies of it (marked titles, seeded word drops
and swaps). Scales up to --embed-max are embedded for real; larger ones get synthetic vectors
(real vectors of the 1x texts plus seeded noise), so their query figures are real and their
ingest is not. Questions are SQuAD dev questions about the sample articles (--dataset).
Writes bench.json, bench.md, bench_latency.png and bench_throughput.png (see qa_eval.bench)."""


class Stop(Exception):
    """What keeps a command from running, as one sentence for the user."""


# --------------------------------------------------------------------------------- options
def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``qa eval``."""
    parser.add_argument("kind", choices=["retrieval", "answers", "regression"])
    parser.add_argument("dataset", type=Path,
                        help="a SQuAD-format JSON file (regression: a regression set, such as "
                             f"{defaults.REGRESSION_SET.name})")
    parser.add_argument("--limit", type=int, default=None, help="questions to run (default: all)")
    _add_common(parser)
    parser.add_argument("--v2", type=Path, default=None, metavar="FILE",
                        help="answers: a SQuAD v2.0 file whose unanswerable questions should be declined "
                             f"(default: {defaults.V2_SET}, left out when absent)")
    parser.add_argument("--tuning-set", type=Path, default=None, metavar="FILE",
                        help="answers: the file the reader was tuned on, to report the questions used to "
                             f"fit nothing (default: {defaults.DEV_SET}, left out when absent)")
    parser.add_argument("--regression", type=Path, default=None, metavar="FILE",
                        help="answers: the hand-written regression set on the sample corpus, reported in "
                             f"its own section (default: {defaults.REGRESSION_SET}, left out when absent)")
    parser.add_argument("--records", type=Path, default=None, metavar="FILE",
                        help="answers: also write every graded answer to this .jsonl.gz file, for "
                             "python -m qa_eval.threshold")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="answers: the reader's threshold for this run (default: the shipped one); "
                             "0 answers everything, so --records can be graded at any threshold")
    parser.add_argument("--index", type=Path, default=None, metavar="DIR",
                        help="regression: ask this index (it should hold the sample corpus) instead of a "
                             "cached index of the sample corpus")
    parser.set_defaults(run=run_eval)


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``qa bench`` and ``python -m qa_eval.bench``."""
    from qa.embedding import BACKENDS

    parser.add_argument("--scales", default="1,10,100", help="corpus sizes in sample corpora (default 1,10,100)")
    parser.add_argument("--quick", action="store_true", help="a tiny corpus and question set (for tests)")
    parser.add_argument("--dataset", type=Path, default=None, metavar="FILE",
                        help=f"the SQuAD dev file the questions come from (default: {defaults.DEV_SET})")
    _add_common(parser)
    parser.add_argument("--embed-max", type=int, default=10,
                        help="largest scale embedded for real; larger ones get synthetic vectors")
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="embedding backend (default: $QA_EMBEDDING_BACKEND or torch)")
    parser.add_argument("--retrieval-limit", type=int, default=0,
                        help="also compare backends' dev-split R@5 on this many questions (slow)")
    parser.add_argument("--work", type=Path, default=None, help="keep the built indexes here")
    parser.set_defaults(run=run_bench)


def bench_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m qa_eval.bench``."""
    parser = argparse.ArgumentParser(prog="python -m qa_eval.bench", description=BENCH_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_bench_arguments(parser)
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help=f"report directory (default: {defaults.reports_dir()})")
    parser.add_argument("--cache", type=Path, default=None, metavar="DIR",
                        help="built evaluation indexes, reused across runs (default: eval/.cache in a "
                             "checkout, else $QA_CACHE_DIR or ~/.cache/article-qa, under eval/)")


# --------------------------------------------------------------------------------- commands
def run_eval(args: argparse.Namespace) -> int:
    """``qa eval``: run the evaluation, write its reports, print the JSON report."""
    v2 = tuning = regression = None
    try:
        dataset = _existing(args.dataset, "dataset" if args.kind != "regression" else "regression set")
        if args.kind == "regression":
            regression = _valid_regression_set(dataset)
            if args.index is not None and not args.index.is_dir():
                raise Stop(f"no index at {args.index}")
        else:
            _require_matplotlib()
        if args.kind == "answers":
            v2 = _optional(args.v2, defaults.V2_SET, "SQuAD v2.0 file",
                           "the unanswerable-question figures are left out (give one with --v2)")
            tuning = _optional(args.tuning_set, defaults.DEV_SET, "reader tuning set",
                               "the questions used to fit nothing are not reported (give it with --tuning-set)")
            regression = _optional(args.regression, defaults.REGRESSION_SET, "regression set",
                                   "its section is left out (give one with --regression)")
            if regression is not None:
                _valid_regression_set(regression)
            if args.threshold is not None and not 0 <= args.threshold <= 1:
                raise Stop(f"--threshold is {args.threshold}: a confidence threshold is between 0 and 1")
    except Stop as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out, cache = args.out or defaults.reports_dir(), args.cache or defaults.cache_dir()
    if args.kind == "regression":
        from .regression import evaluate_regression

        print(evaluate_regression(dataset, cache, out=out, index=args.index).markdown(), end="")
        print(f"reports written to {out}", file=sys.stderr)
        return 0
    from . import harness

    if args.kind == "retrieval":
        written = harness.evaluate_retrieval(dataset, cache, out=out, limit=args.limit).to_json()
    else:
        written = harness.evaluate_answers(dataset, cache, out=out, limit=args.limit, v2_dataset=v2,
                                           tuning_set=tuning, regression_set=regression,
                                           settings=_with_threshold(args.threshold), records=args.records).to_json()
    print(written, end="")
    print(f"reports written to {out}", file=sys.stderr)
    return 0


def _with_threshold(threshold: float | None) -> Settings | None:
    """The run's settings with the reader's threshold replaced; None (the defaults) without one."""
    if threshold is None:
        return None
    from qa.settings import Settings

    settings = Settings.from_env()
    return settings.model_copy(update={"reader": settings.reader.model_copy(update={"threshold": threshold})})


def run_bench(args: argparse.Namespace) -> int:
    """``qa bench``: run the benchmark, write its reports, print its Markdown."""
    try:
        scales = _scales(args.scales)
        dataset = _existing(args.dataset or defaults.DEV_SET, "SQuAD dev file for the questions (--dataset)")
        _require_matplotlib()
    except Stop as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    from . import bench

    out = args.out or defaults.reports_dir()
    report = bench.run(scales, out, dataset, args.cache or defaults.cache_dir(), quick=args.quick,
                       embed_max=args.embed_max, backend=args.backend, retrieval_limit=args.retrieval_limit,
                       work=args.work)
    print(report.markdown(), end="")
    print(f"reports written to {out}", file=sys.stderr)
    return 0


def _scales(text: str) -> list[int]:
    try:
        scales = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        scales = []
    if not scales or min(scales) < 1:
        raise Stop(f"--scales takes positive whole numbers separated by commas, got {text!r}")
    return scales


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise Stop(f"no {what} at {path}")
    return path


def _optional(given: Path | None, default: Path, what: str, without: str) -> Path | None:
    """The file given (which must exist), else the default when it exists, else None (said)."""
    if given is not None:
        return _existing(given, what)
    if default.is_file():
        return default
    print(f"note: no {what} at {default}, so {without}.", file=sys.stderr)
    return None


def _valid_regression_set(path: Path) -> Path:
    """``path`` when it is a valid regression set, else Stop saying what is wrong."""
    from .regression import SetError, load_set

    try:
        load_set(path)
    except SetError as e:
        raise Stop(str(e)) from None
    return path


def _require_matplotlib() -> None:
    from .plots import require_matplotlib

    problem = require_matplotlib()
    if problem is not None:
        raise Stop(problem)
