"""Bench of distributed ingest (``qa ingest --ray``) against the local one, and the cluster plan.

Run ``python -m qa_eval.ray_bench [--scale 10] [--actors 2] [--out eval/reports]``. On a local
Ray cluster of ``--actors`` CPUs (on loopback, started here), with real vectors from the
default embedding backend:

1. **dev half**: the shared SQuAD dev-half file (24 articles) ingested through Ray and locally,
   both timed, and the two indexes compared: article ids, chunk and sentence texts and offsets,
   and the least cosine between the two vectors of each chunk and sentence (float32 indexes).
2. **synthetic**: the bench's corpus at ``--scale`` (the sample corpus plus ``scale - 1``
   perturbed copies, ``qa_eval.synthetic``; the issue asks for 10x) ingested both ways, timed.
   ``--scale`` below 10 measures what two shared cores allow; the report then extrapolates the
   10x wall time from the measured vectors per second, marked as extrapolated.
3. **plan**: embedding throughput per core for each backend (chunks with their sentences per CPU
   second, one thread), and the embedding time of 1M, 10M and 40M chunks on clusters of CPU
   cores (from those rates) and of H200 GPUs (from the issue's figure, measured outside this
   repository), each marked measured or extrapolated.

The local ingest uses every core in one process (ONNX Runtime threads); the Ray path runs one
single-threaded actor per CPU, with the parse and chunk tasks beside them. Writes
``ray_bench.json``, ``ray_bench.md`` and ``ray_bench.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from qa import sample_corpus
from qa.chunking import chunk_article, split_sentences
from qa.distributed import RayOptions, ingest_ray
from qa.embedding import BACKENDS, BundledEmbedder
from qa.indexing import StageSeconds, ingest_paths, texts_of
from qa.models import Article, IndexSettings
from qa.settings import Settings
from qa.store import Store

from . import plots
from .bench import _machine, base_articles
from .bench_report import Machine
from .reports import Report, write_json
from .synthetic import write_corpus

ROOT = Path(__file__).resolve().parent.parent
DEV_HALF = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
# The figure for one H200 with this model (sentence-transformers, batch 512), measured
# outside this repository: SQuAD-sized chunks and sentences per second.
H200_CHUNKS_PER_S = 2800.0
H200_SENTENCES_PER_S = 8900.0
PLAN_CHUNKS = (1_000_000, 10_000_000, 40_000_000)
PLAN_CORES = (64, 256, 1024)
PLAN_GPUS = (1, 8, 32)
Mark = Literal["measured", "extrapolated"]


class Run(Report):
    """One ingest, end to end (connecting to the cluster excluded, model loading included)."""

    path: Literal["local", "ray"]
    seconds: float
    articles: int
    chunks: int
    sentences: int
    vectors_per_s: float
    chunks_per_s: float
    stage_seconds: dict[str, float]  # Ray: ``embed`` is the wait for the cluster's stream
    load_average_1min: float


class Same(Report):
    """How the Ray-built index compares with the local one."""

    same_articles: bool
    same_chunks_and_sentences: bool  # texts and offsets
    min_cosine: float


class Corpus(Report):
    """One corpus ingested both ways."""

    name: str
    files: int
    ray: Run
    local: Run
    same: Same | None = None


class Rate(Report):
    """Embedding throughput on one CPU core or one GPU, in chunks (each with its sentences) per second."""

    chunks_per_s_per_unit: float
    mark: Mark
    how: str


class PlanRow(Report):
    """Wall time of one corpus size on one cluster size."""

    chunks: int
    hardware: str
    units: int
    embed_hours: float
    mark: Mark


class RayBenchReport(Report):
    """Everything ``ray_bench.json`` holds."""

    date: str
    machine: Machine
    ray_version: str
    backend: str
    actors: int
    batch_size: int
    sentences_per_chunk: float
    corpora: list[Corpus]
    extrapolated_10x_seconds: dict[str, float] | None = None
    rates: dict[str, Rate]
    writer_chunks_per_s: float
    plan: list[PlanRow]


# --------------------------------------------------------------------------------- ingest
def timed(path: Literal["local", "ray"], files: Path, directory: Path, settings: Settings, index: IndexSettings,
          options: RayOptions) -> Run:
    """Ingest ``files`` into a new index at ``directory`` one way; the seconds include loading the model."""
    shutil.rmtree(directory, ignore_errors=True)
    store = Store.open(directory, index, create=True)
    stages = StageSeconds()
    started = time.perf_counter()
    if path == "ray":
        report = ingest_ray(store, [files], options, settings=settings, progress=True, timings=stages)
    else:
        encoder = BundledEmbedder(settings.embedding_backend, settings.model_cache() / "onnx")
        report = ingest_paths(store, [files], encoder, progress=True, timings=stages,
                              batch_vectors=settings.batch_vectors)
    seconds = time.perf_counter() - started
    if report.rejected:
        raise RuntimeError(f"the corpus was rejected: {report.rejected}")
    stats = store.stats()
    store.close()
    return Run(path=path, seconds=round(seconds, 1), articles=stats.articles, chunks=stats.chunks,
               sentences=stats.sentences, vectors_per_s=round((stats.chunks + stats.sentences) / seconds, 1),
               chunks_per_s=round(stats.chunks / seconds, 2),
               stage_seconds={k: round(v, 2) for k, v in stages.as_dict().items()},
               load_average_1min=round(os.getloadavg()[0], 2))


def compare(mine: Path, theirs: Path) -> Same:
    """Articles, chunk and sentence spans and texts, and the least cosine between paired vectors."""
    a, b = Store.open(mine), Store.open(theirs)
    same_articles = [x.id for x in a.articles()] == [x.id for x in b.articles()]
    same_rows = True
    least = 1.0
    for kind in ("chunks", "sentences"):
        ids_a, ids_b = a.ids_by_article(kind), b.ids_by_article(kind)
        for article_id in ids_b:
            mine_ids, their_ids = ids_a.get(article_id, []), ids_b[article_id]
            if kind == "chunks":
                rows_a, rows_b = a.chunks(mine_ids), b.chunks(their_ids)
                spans_a = [(rows_a[i].start, rows_a[i].end, rows_a[i].text) for i in mine_ids]
                spans_b = [(rows_b[i].start, rows_b[i].end, rows_b[i].text) for i in their_ids]
                va, vb = a.chunk_vectors(mine_ids), b.chunk_vectors(their_ids)
            else:
                end = len(b.article_text(article_id))
                spans_a = [(s.start, s.end, s.text) for s in a.sentences_in(article_id, 0, end)]
                spans_b = [(s.start, s.end, s.text) for s in b.sentences_in(article_id, 0, end)]
                va, vb = a.sentence_vectors(mine_ids), b.sentence_vectors(their_ids)
            same_rows &= spans_a == spans_b
            if va.shape == vb.shape and len(va):
                cosine = (va * vb).sum(1) / (np.linalg.norm(va, axis=1) * np.linalg.norm(vb, axis=1))
                least = min(least, float(cosine.min()))
            else:
                same_rows = False
    a.close()
    b.close()
    return Same(same_articles=same_articles, same_chunks_and_sentences=same_rows, min_cosine=round(least, 7))


def both(name: str, files: Path, work: Path, settings: Settings, index: IndexSettings, options: RayOptions,
         check: bool) -> Corpus:
    """``files`` ingested through Ray, then locally (each into its own new index)."""
    print(f"[ray_bench] {name}: Ray", file=sys.stderr)
    ray_run = timed("ray", files, work / f"{name}-ray", settings, index, options)
    print(f"[ray_bench] {name}: local", file=sys.stderr)
    local_run = timed("local", files, work / f"{name}-local", settings, index, options)
    same = compare(work / f"{name}-ray", work / f"{name}-local") if check else None
    count = sum(1 for f in files.rglob("*") if f.is_file()) if files.is_dir() else 1
    return Corpus(name=name, files=count, ray=ray_run, local=local_run, same=same)


# --------------------------------------------------------------------------------- plan
def rates(articles: Sequence[Article], sentences_per_chunk: float, texts: int = 600) -> dict[str, Rate]:
    """Per-core rates of every backend, measured in CPU time, and the H200's from the issue's figure.

    One thread embeds the chunks and sentences of the first sample articles (about ``texts``) in
    the slices a local ingest uses; CPU seconds, not wall seconds, so that the other work on a
    shared machine does not count against the rate.
    """
    pieces: list[str] = []
    chunks = 0
    index = IndexSettings()
    for article in articles:
        sentences = split_sentences(article.text)
        found = chunk_article(article, sentences, index)
        pieces += texts_of(article, found, sentences, index)
        chunks += len(found)
        if len(pieces) >= texts:
            break
    out = {}
    for backend in BACKENDS:
        encoder = BundledEmbedder(backend, Settings.from_env().model_cache() / "onnx", threads=1)
        encoder.encode_documents(pieces[:16])  # loads the model (and the export) outside the timing
        started = time.process_time()
        for first in range(0, len(pieces), 16):
            encoder.encode_documents(pieces[first : first + 16])
        seconds = time.process_time() - started
        out[backend] = Rate(chunks_per_s_per_unit=round(chunks / seconds, 2), mark="measured",
                            how=f"{len(pieces)} texts ({chunks} chunks with their sentences) in {seconds:.1f} "
                                "CPU seconds, one thread")
    gpu = 1 / (1 / H200_CHUNKS_PER_S + sentences_per_chunk / H200_SENTENCES_PER_S)
    out["H200 GPU"] = Rate(chunks_per_s_per_unit=round(gpu, 1), mark="extrapolated",
                           how=f"the issue's 2,800 chunks/s and 8,900 sentences/s, {sentences_per_chunk:.2f} "
                               "sentences a chunk")
    return out


def plan(figures: dict[str, Rate], backend: str) -> list[PlanRow]:
    """Embedding wall time for each corpus size on clusters of CPU cores and of H200 GPUs."""
    rows = []
    for chunks in PLAN_CHUNKS:
        for cores in PLAN_CORES:
            hours = chunks / (figures[backend].chunks_per_s_per_unit * cores) / 3600
            rows.append(PlanRow(chunks=chunks, hardware=f"CPU cores ({backend})", units=cores,
                                embed_hours=round(hours, 2), mark="extrapolated"))
        for gpus in PLAN_GPUS:
            hours = chunks / (figures["H200 GPU"].chunks_per_s_per_unit * gpus) / 3600
            rows.append(PlanRow(chunks=chunks, hardware="H200 GPUs", units=gpus, embed_hours=round(hours, 2),
                                mark="extrapolated"))
    return rows


# --------------------------------------------------------------------------------- report
def markdown(report: RayBenchReport) -> str:
    lines = [f"# Distributed ingest on Ray ({report.date})", "",
             f"Ray {report.ray_version}, {report.actors} local actors (1 CPU each), {report.batch_size} texts a call, "
             f"backend {report.backend}; machine: {report.machine.cpu}, {report.machine.cores} cores "
             f"(shared: load average at each run's end in the table).", "",
             "| corpus | path | articles | chunks | sentences | seconds | chunks/s | vectors/s | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for c in report.corpora:
        for r in (c.ray, c.local):
            lines.append(f"| {c.name} | {r.path} | {r.articles} | {r.chunks:,} | {r.sentences:,} | {r.seconds} | "
                         f"{r.chunks_per_s} | {r.vectors_per_s} | {r.load_average_1min} |")
    for c in report.corpora:
        if c.same is not None:
            lines += ["", f"{c.name}: same articles {c.same.same_articles}, same chunk and sentence texts and "
                          f"offsets {c.same.same_chunks_and_sentences}, least cosine {c.same.min_cosine}"]
    if report.extrapolated_10x_seconds:
        lines += ["", "10x wall time, **extrapolated** from the measured vectors/s: " + ", ".join(
            f"{k} {v:,.0f} s" for k, v in report.extrapolated_10x_seconds.items())]
    lines += ["", "| embedding rate | chunks/s per unit | mark | how |", "|---|---|---|---|"]
    lines += [f"| {k} | {v.chunks_per_s_per_unit} | {v.mark} | {v.how} |" for k, v in report.rates.items()]
    lines += ["", f"One writer commits about {report.writer_chunks_per_s:,.0f} chunks/s here (measured, this size).",
              "", "| chunks | hardware | units | embedding hours | mark |", "|---|---|---|---|---|"]
    lines += [f"| {r.chunks:,} | {r.hardware} | {r.units} | {r.embed_hours} | {r.mark} |" for r in report.plan]
    return "\n".join(lines) + "\n"


def plot(report: RayBenchReport, path: Path) -> None:
    """Seconds per corpus, Ray and local side by side."""
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = [c.name for c in report.corpora]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [c.ray.seconds for c in report.corpora], 0.4, label=f"Ray ({report.actors} actors)")
    ax.bar(x + 0.2, [c.local.seconds for c in report.corpora], 0.4, label="local (one process)")
    ax.set_xticks(x, names)
    ax.set_ylabel("ingest seconds (real vectors)")
    ax.set_title(f"Ingest through Ray vs locally, {report.machine.cores} cores")
    plots._save(plt, fig, ax, path)


# --------------------------------------------------------------------------------- main
def run(scale: int, actors: int, batch_size: int, out: Path, work: Path, dev_half: bool = True,
        quick: bool = False) -> RayBenchReport:
    """Start a local cluster, ingest the corpora both ways, write the reports under ``out``.

    ``quick``: the synthetic corpus grows from the seed article alone (a smoke test of the bench).
    """
    import ray

    settings = Settings.from_env()
    options = RayOptions(actors=actors, batch_size=batch_size)
    ray.init(num_cpus=actors, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    try:
        corpora = []
        if dev_half:
            corpora.append(both("dev half", DEV_HALF, work, settings, IndexSettings(vector_format="float32"),
                                options, check=True))
        files = work / f"corpus-{scale}x"
        write_corpus(base_articles(quick), sample_corpus(), scale, files)
        name = f"synthetic {scale}x" if scale > 1 else "sample 1x"  # 1x: the sample corpus, no copies
        corpora.append(both(name, files, work, settings, IndexSettings(), options, check=False))
    finally:
        ray.shutdown()
    synthetic = corpora[-1]
    per_chunk = synthetic.local.sentences / synthetic.local.chunks
    print("[ray_bench] embedding rates per core", file=sys.stderr)
    figures = rates(base_articles(quick), per_chunk)
    vectors_10x = 12_252 + 48_178  # the bench's 10x corpus (eval/reports/bench.json)
    extrapolated = None if scale == 10 else {
        r.path: round(vectors_10x / r.vectors_per_s, 0) for r in (synthetic.ray, synthetic.local)}
    write_seconds = synthetic.local.stage_seconds["write"]
    report = RayBenchReport(
        date=dt.date.today().isoformat(), machine=_machine(), ray_version=ray.__version__,
        backend=settings.embedding_backend, actors=actors, batch_size=batch_size,
        sentences_per_chunk=round(per_chunk, 2), corpora=corpora, extrapolated_10x_seconds=extrapolated,
        rates=figures, writer_chunks_per_s=round(synthetic.local.chunks / write_seconds, 0) if write_seconds else 0.0,
        plan=plan(figures, settings.embedding_backend))
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "ray_bench.json")
    (out / "ray_bench.md").write_text(markdown(report), encoding="utf-8")
    if plots.require_matplotlib() is None:
        plot(report, out / "ray_bench.png")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qa_eval.ray_bench``."""
    parser = argparse.ArgumentParser(prog="python -m qa_eval.ray_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="synthetic corpus scale (the issue's is 10)")
    parser.add_argument("--actors", type=int, default=2, help="local Ray CPUs, one embedding actor each")
    parser.add_argument("--batch-size", type=int, default=256, help="texts per embedding call")
    parser.add_argument("--no-dev-half", action="store_true", help="skip the dev-half comparison")
    parser.add_argument("--quick", action="store_true", help="a synthetic corpus of the seed article only")
    parser.add_argument("--out", type=Path, default=ROOT / "eval" / "reports")
    parser.add_argument("--work", type=Path, default=None, help="keep the corpora and indexes here")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-ray-bench-"))
    try:
        report = run(args.scale, args.actors, args.batch_size, args.out, work, dev_half=not args.no_dev_half,
                     quick=args.quick)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
