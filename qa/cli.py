"""The ``qa`` command line: ingest, stats, delete, search, ask, check, eval, bench.

Errors from article-qa are printed as one sentence on stderr with exit status 1; tracebacks
are kept for real bugs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.errors import QAError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qa", description="Extractive question answering over your articles.")
    sub = parser.add_subparsers(metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--index", type=Path, default=None,
                       help="index directory (default: $QA_INDEX or ./index)")
        return p

    p = command("ingest", "Add or update articles from files, directories or globs.")
    p.add_argument("paths", nargs="+", help="files, directories (recursive) or glob patterns")
    p.add_argument("--max-mb", type=float, default=20.0, help="largest file accepted (default 20)")
    p.add_argument("--rebuild", action="store_true", help="delete the index first and build anew")
    p.add_argument("--chunk-tokens", type=int, default=None, help="chunk budget in tokens")
    p.set_defaults(run=_ingest)

    p = command("stats", "Show what the index holds.")
    p.add_argument("--articles", action="store_true", help="list the articles too")
    p.set_defaults(run=_stats)

    p = command("delete", "Remove an article from the index.")
    p.add_argument("article_id")
    p.set_defaults(run=_delete)

    p = command("search", "Show the passages that best match a text, with citations.")
    p.add_argument("text")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=["fused", "dense", "lexical"], default="fused")
    p.set_defaults(run=_search)

    p = command("ask", "Answer a question with a cited quote (or say the articles don't).")
    p.add_argument("question")
    p.add_argument("-k", type=int, default=None, help="passages to read")
    p.add_argument("--json", action="store_true", help="print the Answer as JSON")
    p.set_defaults(run=_ask)

    p = command("check", "Verify the index: ids, counts, offsets and hashes.")
    p.set_defaults(run=_check)

    p = sub.add_parser("eval", help="Run an evaluation (retrieval or answers).")
    p.add_argument("kind", choices=["retrieval", "answers"])
    p.add_argument("dataset", type=Path, help="a SQuAD-format JSON file")
    p.add_argument("--limit", type=int, default=None, help="questions to run (default: all)")
    p.add_argument("--out", type=Path, default=Path("eval/reports"))
    p.set_defaults(run=_eval)

    bench = _bench_module()
    if bench is not None:
        p = sub.add_parser("bench", help="Benchmark ingest, start-up, latency, size and memory at 1x/10x/100x.",
                           description=bench.__doc__)
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        bench.add_arguments(p)
        p.set_defaults(run=bench.run_from_args)
    return parser


def _bench_module() -> Any:
    """``eval/bench.py`` of a source checkout (it needs the repository's eval data), else None.

    Loading it only defines functions; its heavy imports happen when the bench runs.
    """
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "eval" / "bench.py"
    spec = importlib.util.spec_from_file_location("qa_eval_bench", path)
    if spec is None or spec.loader is None or not path.exists():
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _index_dir(args: argparse.Namespace) -> Path:
    from qa.api import default_index_dir

    return Path(args.index) if args.index is not None else default_index_dir()


def _ingest(args: argparse.Namespace) -> int:
    import shutil

    from qa.indexing import ingest_paths
    from qa.models import IndexSettings
    from qa.store import MANIFEST, Store

    directory = _index_dir(args)
    settings = IndexSettings(chunk_tokens=args.chunk_tokens) if args.chunk_tokens else None
    if args.rebuild and directory.exists():
        if not (directory / MANIFEST).exists() and any(directory.iterdir()):
            print(f"error: {directory} is not an article-qa index; not deleting it", file=sys.stderr)
            return 1
        shutil.rmtree(directory)
    store = Store.open(directory, settings, create=True)
    report = ingest_paths(store, args.paths, max_bytes=int(args.max_mb * 1024 * 1024), progress=True)
    rate = report.chunks_written / report.seconds if report.seconds else 0.0
    print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged "
          f"{len(report.unchanged)}, rejected {len(report.rejected)} "
          f"({report.chunks_written} chunks in {report.seconds:.1f} s, {rate:.1f} chunks/s)")
    for name, items in (("added", report.added), ("updated", report.updated)):
        for item in items:
            print(f"  {name}: {item}")
    for r in report.rejected:
        print(f"  rejected: {r.path}: {r.reason}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from qa.store import Store

    store = Store.open(_index_dir(args))
    s = store.stats()
    print(f"index {s.directory}: {s.articles} articles, {s.chunks} chunks, {s.sentences} sentences, "
          f"{s.size_bytes / 1e6:.1f} MB")
    print(f"model {s.settings.model_name} ({s.settings.dimension} dims), chunks of at most "
          f"{s.settings.chunk_tokens} tokens with {s.settings.overlap_sentences} sentence overlap")
    if args.articles:
        for a in store.articles():
            print(f"  {a.id}  {a.title}  ({a.published or 'no date'}, {a.chunks} chunks)")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from qa.store import Store

    if Store.open(_index_dir(args)).delete(args.article_id):
        print(f"deleted {args.article_id}")
        return 0
    print(f"error: no article with id {args.article_id} (see `qa stats --articles`)", file=sys.stderr)
    return 1


def _search(args: argparse.Namespace) -> int:
    from qa.embedding import Embedder
    from qa.retrieval import Retriever
    from qa.store import Store

    store = Store.open(_index_dir(args))
    passages = Retriever(store, Embedder(store.settings.model_name)).search(
        args.text, k=args.k, mode=args.mode)
    if not passages:
        print("no passages found")
    for p in passages:
        scores = " ".join(
            f"{name} {value:.3f}" for name, value in
            (("dense", p.dense_score), ("lexical", p.lexical_score), ("score", p.score))
            if value is not None)
        print(f"[{p.rank}] {p.title} ({p.article_id}, characters {p.start}-{p.end}) {scores}")
        print(f"    {_shorten(p.text, 300)}")
    return 0


def _ask(args: argparse.Namespace) -> int:
    from qa.api import QA

    directory = _index_dir(args)
    answer = QA(directory, sample=args.index is None).answer(args.question, k=args.k)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        print(answer.to_markdown())
        print(f"\n(confidence {answer.confidence:.2f})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from qa.store import Store

    directory = _index_dir(args)
    problems = Store.open(directory).check()
    if problems:
        print(f"{directory}: {len(problems)} problem(s) found")
        for p in problems:
            print(f"  - {p}")
        print(f"Rebuild with `qa ingest PATH --index {directory} --rebuild`.")
        return 1
    print(f"{directory}: OK")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from qa import evaluation

    if args.kind == "retrieval":
        report = evaluation.evaluate_retrieval(args.dataset, limit=args.limit, out=args.out)
    else:
        report = evaluation.evaluate_answers(args.dataset, limit=args.limit, out=args.out)
    print(json.dumps(report, indent=2))
    return 0


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
