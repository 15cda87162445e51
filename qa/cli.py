"""The ``qa`` command line: ingest, stats, delete, search, ask, check, rebuild, log, admin-hash,
serve, eval, bench.

Errors from article-qa are printed as one sentence on stderr with exit status 1; tracebacks
are kept for real bugs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.errors import QAError

if TYPE_CHECKING:
    from qa.models import IngestReport
    from qa.pipeline import QA
    from qa.settings import Settings


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
    p.add_argument("--shard-by", type=_shard_count, default=None, metavar="N",
                   help="make a new index as N shards under --index, each article in the shard a stable "
                        "hash of its id picks (a sharded index routes by its own count without it)")
    ray = p.add_argument_group("distributed ingest on Ray (pip install '.[ray]'; see qa/distributed.py)")
    ray.add_argument("--ray", nargs="?", const="auto", default=None, metavar="auto|ADDRESS",
                     help="read, parse and chunk in Ray Data tasks and embed in an actor pool on the cluster "
                          "at ADDRESS (HOST:PORT or ray://HOST:PORT); auto (the default): a running local "
                          "cluster, else a new one")
    ray.add_argument("--ray-actors", type=int, default=None, metavar="N",
                     help="most embedding actors (default: as many as the cluster's CPUs, or GPUs, hold)")
    ray.add_argument("--ray-batch", type=int, default=256, metavar="N", help="texts per embedding call (256)")
    ray.add_argument("--ray-cpus", type=float, default=1.0, metavar="N", help="CPUs per embedding actor (1)")
    ray.add_argument("--ray-gpus", type=float, default=0.0, metavar="N",
                     help="GPUs per embedding actor (0); above 0 the actors run the torch backend on the GPU")
    ray.add_argument("--ship-files", action="store_true",
                     help="send the files' bytes to the workers (default: workers read the files' absolute "
                          "paths, which holds on a local cluster or with the corpus on shared storage)")
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

    p = command("check", "Verify the index: ids, counts, offsets, hashes, the vector files' "
                         "checksums and a sample of vectors against a fresh embedding of their text.")
    p.add_argument("--sample", type=int, default=20,
                   help="chunks and sentences to re-embed and compare (default 20 each; 0 loads no model)")
    p.add_argument("--seed", type=int, default=0, help="which rows the sample picks (default 0)")
    p.set_defaults(run=_check)

    p = command("rebuild", "Re-embed every article from the text the index already stores (no "
                           "original files needed): repairs damaged vector files.")
    p.add_argument("--vector-format", choices=["float32", "float16", "sq8", "pq"], default=None,
                   help="store the vectors in this format from now on (default: the one the index records)")
    p.add_argument("--reuse-vectors", action="store_true",
                   help="with --vector-format: convert the stored vectors instead of re-embedding (no model; "
                        "minutes instead of hours on a large index; a compressed format's rounding stays)")
    p.set_defaults(run=_rebuild)

    p = command("log", "List every add, replace and delete of the index (who, when, source, "
                       "content hashes), newest first.")
    p.add_argument("-n", "--limit", type=int, default=None, help="show only the newest N entries")
    p.add_argument("--json", action="store_true", help="print the entries as a JSON array")
    p.set_defaults(run=_log)

    p = sub.add_parser("admin-hash", help="Make a hash of an admin password for $QA_ADMIN_PASSWORD_HASH.",
                       description="Read an admin password at a prompt (or one line of standard input) "
                                   "and print its salted scrypt hash, for $QA_ADMIN_PASSWORD_HASH or a "
                                   "file that $QA_ADMIN_PASSWORD_FILE names. The password itself is "
                                   "never an argument, so it stays out of shell history and ps.")
    p.set_defaults(run=_admin_hash)

    p = command("serve", "Serve the web chat (answers with sources; add and delete articles). "
                         "An empty index directory gets the sample corpus first. Writes need "
                         "$QA_ADMIN_PASSWORD_HASH (or _FILE) on any address but loopback.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface, "
                        "read-only unless an admin credential is set)")
    p.add_argument("--port", type=_port, default=7860, help="port to listen on (default 7860)")
    p.set_defaults(run=_serve)

    _add_evaluation(sub)
    return parser


def _add_evaluation(sub: Any) -> None:
    """``qa eval`` and ``qa bench``: the harness ``qa_eval`` (installed beside ``qa``) defines their
    options and runs them; it loads the harness, the models and matplotlib only when one runs."""
    from qa_eval import cli as evaluation

    p = sub.add_parser("eval", help="Run an evaluation (retrieval, answers or the regression set).",
                       description="Measure retrieval, answers or the hand-written regression set; writes reports.")
    evaluation.add_eval_arguments(p)
    p = sub.add_parser("bench", help=evaluation.BENCH_HELP, description=evaluation.BENCH_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    evaluation.add_bench_arguments(p)


def _settings(args: argparse.Namespace) -> Settings:
    """``Settings.from_env()`` with ``--index`` over ``$QA_INDEX``."""
    from qa.settings import Settings

    return Settings.from_env(**({"index_dir": args.index} if args.index is not None else {}))


def _index_dir(args: argparse.Namespace) -> Path:
    return _settings(args).index_dir


def _opened(args: argparse.Namespace) -> QA:
    """The index ``--index`` names, opened for reading; a missing one is an error, not made."""
    from qa.pipeline import QA

    return QA(settings=_settings(args), create=False)


def _ingest(args: argparse.Namespace) -> int:
    import shutil

    from qa.models import IndexSettings
    from qa.pipeline import QA
    from qa.shards import SHARDS_MANIFEST
    from qa.store import MANIFEST

    settings = _settings(args)
    directory = settings.index_dir
    chunking = IndexSettings(chunk_tokens=args.chunk_tokens) if args.chunk_tokens else None
    if args.rebuild and directory.exists():
        ours = (directory / MANIFEST).exists() or (directory / SHARDS_MANIFEST).exists()
        if not ours and _foreign_files(directory):
            print(f"error: {directory} is not an article-qa index; not deleting it", file=sys.stderr)
            return 1
        shutil.rmtree(directory)
    qa = QA(settings=settings, sample=False, index_settings=chunking, shards=args.shard_by)
    if args.ray:
        report = _ingest_ray(qa, args)
    else:
        report = qa.ingest(args.paths, max_bytes=int(args.max_mb * 1024 * 1024), progress=True)
    rate = report.chunks_written / report.seconds if report.seconds else 0.0
    print(f"added {len(report.added)}, updated {len(report.updated)}, unchanged "
          f"{len(report.unchanged)}, rejected {len(report.rejected)} "
          f"({report.chunks_written} chunks in {report.seconds:.1f} s, {rate:.1f} chunks/s)")
    for name, items in (("added", report.added), ("updated", report.updated)):
        for item in items:
            print(f"  {name}: {item.source} ({item.title}, id {item.id})")
    for r in report.rejected:
        print(f"  rejected: {r.path}: {r.reason}")
    # Some files in, some rejected: the run did its job (the reasons are above). Nothing in at all
    # (a mistyped path, only bad files): a failure a script must notice.
    return 1 if report.rejected and not (report.added or report.updated or report.unchanged) else 0


def _ingest_ray(qa: QA, args: argparse.Namespace) -> IngestReport:
    """``qa ingest --ray``: the same ingest, its work done on a Ray cluster (``qa.distributed``)."""
    from pydantic import ValidationError

    from qa.distributed import RayOptions, ingest_ray
    from qa.errors import ConfigError
    from qa.store import Store

    if not isinstance(qa.store, Store):
        raise ConfigError(f"{qa.settings.index_dir} is a sharded index; --ray writes one index: ingest with "
                          "--ray into each shard's directory, or leave --ray out.")
    try:
        options = RayOptions(address=args.ray, actors=args.ray_actors, batch_size=args.ray_batch,
                             cpus_per_actor=args.ray_cpus, gpus_per_actor=args.ray_gpus, ship_files=args.ship_files)
    except ValidationError as e:
        error = e.errors()[0]
        flag = {"address": "--ray", "actors": "--ray-actors", "batch_size": "--ray-batch",
                "cpus_per_actor": "--ray-cpus", "gpus_per_actor": "--ray-gpus"}.get(str(error["loc"][0]), "--ray")
        raise ConfigError(f"{flag} is {error['input']!r}: {error['msg'].lower()}.") from None
    qa.store.writable()
    return ingest_ray(qa.store, args.paths, options, settings=qa.settings,
                      max_bytes=int(args.max_mb * 1024 * 1024), progress=True)


def _foreign_files(directory: Path) -> list[Path]:
    """Files in ``directory`` that no index writes: ``--rebuild`` never deletes those."""
    from qa.store.files import index_files

    ours = set(index_files(directory))
    return [f for f in directory.iterdir() if f not in ours and f.name != ".lock" and not f.name.endswith(".tmp")]


def _stats(args: argparse.Namespace) -> int:
    from qa.shards import Shards

    qa = _opened(args)
    qa.store.verify_database()  # SQLite's quick check (about 1 ms a MB): a damaged page exits 1
    s = qa.stats()
    print(f"index {s.directory}: {s.articles} articles, {s.chunks} chunks, {s.sentences} sentences, "
          f"{s.size_bytes / 1e6:.1f} MB")
    print(f"model {s.settings.model_name} ({s.settings.dimension} dims), chunks of at most "
          f"{s.settings.chunk_tokens} tokens with {s.settings.overlap_sentences} sentence overlap")
    if isinstance(qa.store, Shards):  # the sums above, then each shard
        for shard in qa.store.stores:
            part = shard.stats()
            print(f"  shard {part.directory}: {part.articles} articles, {part.chunks} chunks, "
                  f"{part.sentences} sentences, {part.size_bytes / 1e6:.1f} MB")
    if args.articles:
        for a in qa.articles():
            print(f"  {a.id}  {a.title}  ({a.author or 'no author'}, {a.published or 'no date'}, "
                  f"{a.chunks} chunks)")
    return 0


def _delete(args: argparse.Namespace) -> int:
    if _opened(args).delete(args.article_id):
        print(f"deleted {args.article_id}")
        return 0
    print(f"error: no article with id {args.article_id} (see `qa stats --articles`)", file=sys.stderr)
    return 1


def _search(args: argparse.Namespace) -> int:
    from qa.ingest import shorten

    passages = _opened(args).search(args.text, k=args.k, mode=args.mode)
    if not passages:
        print("no passages found")
    for p in passages:
        scores = " ".join(
            f"{name} {value:.3f}" for name, value in
            (("dense", p.dense_score), ("lexical", p.lexical_score), ("score", p.score))
            if value is not None)
        print(f"[{p.rank}] {p.title} ({p.article_id}, characters {p.start}-{p.end}) {scores}")
        print(f"    {shorten(p.text, 300)}")
    return 0


def _ask(args: argparse.Namespace) -> int:
    from qa.pipeline import QA

    # Without --index, the default index is built from the sample corpus on first use.
    qa = QA(settings=_settings(args), sample=args.index is None)
    qa.warm_up()  # models load here, so the answer's timings are the question's own
    answer = qa.answer(args.question, k=args.k)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        print(answer.to_markdown())
        print(f"\n(confidence {answer.confidence:.0%})")
    return 0


def _check(args: argparse.Namespace) -> int:
    """Problems exit 1 with how to repair them: ``qa rebuild`` when only the vectors are wrong
    (the stored text makes them again), else a rebuild from the original files."""
    from qa.errors import rebuild_hint

    qa = _opened(args)
    report = qa.store.inspect(qa.embedder if args.sample > 0 else None, sample=args.sample, seed=args.seed)
    if report.problems:
        print(f"{qa.directory}: {len(report.problems)} problem(s) found")
        lines = [f"  - {p}" for p in report.problems]
    else:
        print(f"{qa.directory}: OK" + ("" if args.sample > 0 else " (no vectors re-embedded: --sample 0)"))
        lines = []
    for line in [*lines, *(f"  note: {n}" for n in report.notes)]:
        print(line)
    if not report.problems:
        return 0
    print(f"Re-embed the vectors from the stored text with `qa rebuild --index {qa.directory}`."
          if report.rebuild_repairs else rebuild_hint(qa.directory))
    return 1


def _rebuild(args: argparse.Namespace) -> int:
    """Opens the index without loading its vector files (they may be the damage) and re-embeds
    with the bundled embedder, which must be the one the manifest names."""
    from qa.embedding import BundledEmbedder
    from qa.errors import ConfigError, IndexMismatchError
    from qa.store import Store, read_manifest

    settings = _settings(args)
    directory = settings.index_dir
    recorded = read_manifest(directory)
    if args.reuse_vectors:
        if args.vector_format is None:
            raise ConfigError("--reuse-vectors converts the stored vectors: name the format with --vector-format.")
        converted = Store.open(directory, approximate_above=settings.approximate_above).convert(args.vector_format)
        print(f"{directory}: converted {converted.chunks} chunk and {converted.sentences} sentence vectors to "
              f"{args.vector_format} in {converted.seconds:.1f} s (generation {converted.generation})")
        return 0
    embedder = BundledEmbedder(settings.embedding_backend, settings.model_cache() / "onnx")
    if (embedder.name, embedder.dimension) != (recorded.model_name, recorded.dimension):
        raise IndexMismatchError(
            f"The index in {directory} was built with the embedder {recorded.model_name!r}, which is not "
            "bundled: rebuild it from Python with Store.open(DIR, vectors=False).rebuild(that_embedder).")
    store = Store.open(directory, vectors=False, approximate_above=settings.approximate_above)
    report = store.rebuild(embedder, progress=True, vector_format=args.vector_format)
    print(f"{directory}: re-embedded {report.chunks} chunks and {report.sentences} sentences of "
          f"{report.articles} articles from the stored text in {report.seconds:.1f} s "
          f"(generation {report.generation}, {store.settings.vector_format} vectors)")
    return 0


def _shard_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of shards (1 or more)")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return int(text)


def _log(args: argparse.Namespace) -> int:
    import json

    from qa.shards import ShardLayout, Shards, locate
    from qa.store import Store

    located = locate(_index_dir(args))  # a shard set's log is its shards' logs, newest first
    entries = (Shards.open(located) if isinstance(located, ShardLayout) else Store.open(located)).audit_log(args.limit)
    if args.json:
        print(json.dumps([e.model_dump(mode="json") for e in entries], indent=2))
        return 0
    if not entries:
        print("no writes recorded")
    for e in entries:
        change = " -> ".join(h[:12] if h else "none" for h in (e.old_hash, e.new_hash))
        print(f"{e.at.isoformat()}  {e.action:<7}  {e.article_id}  {e.title!r}  by {e.actor}  "
              f"from {e.source or 'unknown'}  {change}")
    return 0


def _admin_hash(args: argparse.Namespace) -> int:
    import getpass

    from qa.access import HASH_VARIABLE, hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Admin password: ")
        if getpass.getpass("Again: ") != password:
            print("error: the two passwords differ; nothing was made", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("error: the admin password must not be empty", file=sys.stderr)
        return 1
    print(hash_password(password))
    print(f"Set ${HASH_VARIABLE} to the line above (or put it in a file that "
          "$QA_ADMIN_PASSWORD_FILE names) and start `qa serve`.", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from qa.web import run  # gradio loads here, not on `import qa` or `qa --help`

    return run(_index_dir(args), args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
