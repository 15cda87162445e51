"""Benchmark: how ingest, start-up, answer() latency, size and memory grow with the corpus.

Run ``qa bench [--scales 1,10,100] [--quick] [--out DIR]`` (or ``python -m qa_eval.bench``).
For each scale s the corpus is the sample corpus plus s - 1 **synthetic** copies of it: every
article with a changed title and its words perturbed (seeded drops and swaps of neighbours), so
the copies are distinct articles of realistic text (``qa_eval.synthetic``).

- Scales up to ``--embed-max`` (default 10) are ingested for real by ``qa.indexing`` (the code
  ``qa ingest`` runs), timed stage by stage: parse (read files), chunk (sentences and chunks),
  embed (the model) and write (SQLite + FAISS commits of ``Settings.batch_vectors`` vectors).
- Larger scales get **synthetic vectors**: texts are parsed and chunked for real by the same
  code, but the encoder is ``NoisyCopies``: each vector is the real vector of the 1x text it was
  copied from plus seeded Gaussian noise, renormalised, all written in one commit. Embedding
  100x on two cores would take hours; query latency, start-up, size, memory and approximate
  recall do not depend on where the vectors came from, only on how many there are and how they
  cluster.

Then, per scale: ``answer()`` latency p50/p95/p99 over a fixed question set (SQuAD dev
questions about the sample articles plus seed-article questions) after a warm-up; start-up
(open the index, load the model, first encode) and peak RSS in a fresh subprocess; index size
on disk; and, where the index is approximate, recall@10 of HNSW against exact search. The
embedding backends are compared on the same sample chunks (chunks/s, cosine to torch) and,
with ``--retrieval-limit``, on retrieval R@5 of the dev split.

Writes ``bench.json``, ``bench.md``, ``bench_latency.png`` and ``bench_throughput.png``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from qa import QA, Filters, sample_corpus
from qa.chunking import chunk_article, split_sentences
from qa.embedding import BACKENDS, BundledEmbedder
from qa.indexing import DocumentEncoder, StageSeconds, ingest_paths
from qa.ingest import iter_paths, read_articles
from qa.models import Article, IndexSettings
from qa.settings import Backend, Settings
from qa.store import Store

from .bench_report import (
    ApproximateRecall,
    BackendFigures,
    Backends,
    BenchReport,
    Ingest,
    Latency,
    Machine,
    Scale,
    Startup,
    write_reports,
)
from .harness import evaluate_retrieval
from .squad import answerable, load_questions, sample
from .synthetic import Recorder, write_corpus

SEED_QUESTIONS = ("What did Iran badly need from Russia?", "Who built Bushehr?",
                  "What did Russia badly need from Iran?")


# --------------------------------------------------------------------------------- ingest
def base_articles(quick: bool) -> list[Article]:
    """The sample corpus as articles (quick: the seed article alone)."""
    articles, rejected = read_articles(iter_paths([sample_corpus()]))
    if rejected:
        raise RuntimeError(f"the sample corpus was rejected: {rejected}")
    return articles[:1] if quick else articles


def build(directory: Path, files: Path, encoder: DocumentEncoder, vectors: Literal["embedded", "synthetic"],
          batch_vectors: int) -> Ingest:
    """Ingest ``files`` into a new index at ``directory`` with ``qa.indexing``, stage by stage."""
    shutil.rmtree(directory, ignore_errors=True)  # a kept --work directory from an earlier run
    store = Store.open(directory, IndexSettings(), create=True)
    stages = StageSeconds()
    report = ingest_paths(store, [files], encoder, progress=True, batch_vectors=batch_vectors, timings=stages)
    if report.rejected:
        raise RuntimeError(f"the corpus was rejected: {report.rejected}")
    stats = store.stats()
    store.close()
    seconds = stages.as_dict()
    total = sum(seconds.values())
    return Ingest(
        articles=stats.articles, chunks=stats.chunks, sentences=stats.sentences, vectors=vectors,
        seconds={k: round(v, 2) for k, v in seconds.items()},
        articles_per_s=round(stats.articles / total, 2), chunks_per_s=round(stats.chunks / total, 2),
        stage_chunks_per_s={k: round(stats.chunks / v, 1) if v else None for k, v in seconds.items()})


# --------------------------------------------------------------------------------- queries
def question_set(dataset: Path, quick: bool) -> tuple[list[str], list[str]]:
    """(warm-up questions, measured questions): fixed, seeded samples of the dev split."""
    pool = [q.text for q in sample(answerable(load_questions(dataset)), 220, seed=7)]
    if quick:
        return pool[:1], [*SEED_QUESTIONS, *pool[10:15]]
    return pool[:10], [*SEED_QUESTIONS, *pool[10:]]


def latency(directory: Path, settings: Settings, warm_up: Sequence[str], questions: Sequence[str]) -> Latency:
    """answer() latency in this process after a warm-up; builds any HNSW graph first (timed)."""
    qa = QA(directory, sample=False, create=False, settings=settings)
    started = time.perf_counter()
    qa.warm_up()
    for q in warm_up:  # the first search of an approximate index builds or loads its graph
        qa.answer(q)
    warm_seconds = time.perf_counter() - started
    times = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        started = time.perf_counter()
        answer = qa.answer(q)
        times.append((time.perf_counter() - started) * 1000)
        for stage, ms in answer.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    approximate = qa.stats().approximate
    filtered = filtered_times(qa, questions)
    return Latency(
        questions=len(times), warm_up_seconds=round(warm_seconds, 2),
        p50_ms=_percentile(times, 50), p95_ms=_percentile(times, 95), p99_ms=_percentile(times, 99),
        mean_ms=round(statistics.fmean(times), 1), approximate=approximate,
        stage_p50_ms={k: _percentile(v, 50) for k, v in stages.items()},
        filtered_p50_ms=_percentile(filtered, 50), filtered_p95_ms=_percentile(filtered, 95),
        approximate_recall_10=approximate_recall(qa, questions) if approximate else None)


def filtered_times(qa: QA, questions: Sequence[str]) -> list[float]:
    """answer() milliseconds of each question asked only of every tenth article (at least one),
    as the chat's "Ask only some articles" asks: a filter allowing thousands of chunks once took
    seconds (``qa.store.lexical.FEW_ALLOWED``)."""
    picked = Filters(article_ids=[a.id for a in qa.articles()][::10])
    times = []
    for q in questions:
        started = time.perf_counter()
        qa.answer(q, filters=picked)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _percentile(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def approximate_recall(qa: QA, questions: Sequence[str], k: int = 10) -> ApproximateRecall:
    """Mean |approximate top-k ∩ exact top-k| / k for chunks and sentences over ``questions``."""
    query = qa.embedder.encode_queries(list(questions))  # (n_q, dim)
    recall = {}
    for kind, search in (("chunks", qa.store.dense_chunks), ("sentences", qa.store.dense_sentences)):
        _, exact = search(query, k, exact=True)
        _, approx = search(query, k)
        recall[kind] = round(float(np.mean([len(set(e) & set(a)) / k for e, a in zip(exact, approx, strict=True)])), 4)
    return ApproximateRecall(**recall)


_STARTUP = """
import json, resource, sys, time


def peak_rss_mb():
    # VmHWM belongs to this program's memory: ru_maxrss would also count the bench's own memory,
    # because Linux keeps it across the fork and exec that started this process.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


started = time.perf_counter()
from qa import QA
qa = QA(sys.argv[1], sample=False, create=False)
opened = time.perf_counter()
qa.warm_up()
qa.embedder.encode_queries(["warm up"])
loaded = time.perf_counter()
questions = json.loads(sys.argv[2])
qa.answer(questions[0])
first = time.perf_counter()
for q in questions[1:]:
    qa.answer(q)
print(json.dumps({"open_s": round(opened - started, 3), "model_s": round(loaded - opened, 3),
                  "startup_s": round(loaded - started, 3), "first_answer_s": round(first - loaded, 3),
                  "peak_rss_mb": round(peak_rss_mb(), 1)}))
"""


def startup(directory: Path, questions: Sequence[str], backend: Backend) -> Startup:
    """Start-up (open + model load + first encode) and peak RSS after answering, in a new process.

    The process inherits this one's environment (the HNSW threshold, the model cache) and runs
    the bench's embedding backend.
    """
    done = subprocess.run([sys.executable, "-c", _STARTUP, str(directory), json.dumps(list(questions))],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "QA_EMBEDDING_BACKEND": backend})
    return Startup.model_validate_json(done.stdout.strip().splitlines()[-1])


def index_size(directory: Path) -> int:
    """Bytes of the index's own files."""
    return sum(f.stat().st_size for f in directory.iterdir() if f.is_file())


# --------------------------------------------------------------------------------- backends
def compare_backends(texts: Sequence[str], rounds: int, cache_dir: Path) -> Backends:
    """chunks/s and cosine to torch of each backend on the same texts, rounds interleaved.

    Interleaving gives every backend the same share of whatever else the machine is doing.
    """
    embedders = {b: BundledEmbedder(backend=b, cache_dir=cache_dir) for b in BACKENDS}
    for e in embedders.values():
        e.warm_up()
        e.encode_documents(texts[:8])
    rates: dict[str, list[float]] = {b: [] for b in BACKENDS}
    vectors = {}
    for _ in range(rounds):
        for b, e in embedders.items():
            started = time.perf_counter()
            vectors[b] = e.encode_documents(texts)
            rates[b].append(len(texts) / (time.perf_counter() - started))
    figures: dict[Backend, BackendFigures] = {}
    for b in BACKENDS:
        cosine = (vectors[b] * vectors["torch"]).sum(axis=1)
        figures[b] = BackendFigures(
            chunks_per_s=round(statistics.median(rates[b]), 1),
            speedup=round(statistics.median(rates[b]) / statistics.median(rates["torch"]), 2),
            cosine_min=round(float(cosine.min()), 4), cosine_mean=round(float(cosine.mean()), 4))
    return Backends(texts=len(texts), rounds=rounds, backends=figures)


def backend_recall(figures: BackendFigures, backend: Backend, dataset: Path, limit: int,
                   cache: Path) -> BackendFigures:
    """``figures`` with dev-split retrieval (dense and fused) from an index built by ``backend``."""
    report = evaluate_retrieval(dataset, cache, limit=limit, modes=("dense", "fused"),
                                settings=Settings.from_env(embedding_backend=backend))
    return figures.model_copy(update={
        "questions": report.questions, "build_seconds": report.index.build_seconds,
        "dense_recall_5": report.modes["dense"].recall_5, "fused_recall_5": report.modes["fused"].recall_5})


# --------------------------------------------------------------------------------- main
def run(scales: Sequence[int], out: Path, dataset: Path, cache: Path, quick: bool = False, embed_max: int = 10,
        backend: Backend | None = None, retrieval_limit: int = 0, work: Path | None = None) -> BenchReport:
    """Run the benchmark and write its reports under ``out``.

    Args:
        dataset: the SQuAD dev file the questions are drawn from.
        cache: where ``--retrieval-limit`` keeps the dev-split indexes it builds.
        work: keep the built indexes here (default: a temporary directory, removed after).
    """
    settings = Settings.from_env(embedding_backend=backend) if backend else Settings.from_env()
    temporary = work is None
    work = work or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        report = _run(sorted(set(scales) | {1}), settings, dataset, cache, quick, embed_max, retrieval_limit, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    write_reports(report, out)
    return report


def _run(scales: Sequence[int], settings: Settings, dataset: Path, cache: Path, quick: bool, embed_max: int,
         retrieval_limit: int, work: Path) -> BenchReport:
    """The bench proper; scales start at 1, whose real vectors the synthetic scales copy."""
    backend = settings.embedding_backend
    articles = base_articles(quick)
    warm, questions = question_set(dataset, quick)
    model_cache = settings.model_cache() / "onnx"  # where QA finds the ONNX export too
    embedder = BundledEmbedder(backend, model_cache)
    started = time.perf_counter()
    embedder.warm_up()  # a first ONNX use exports the model: not part of any ingest stage
    model_load_seconds = round(time.perf_counter() - started, 2)
    recorder = Recorder(embedder)  # keeps the 1x vectors that the synthetic scales copy
    entries = {}
    for scale in scales:
        print(f"[bench] scale {scale}x", file=sys.stderr)
        files, directory = work / f"corpus-{scale}", work / f"index-{scale}"
        write_corpus(articles, sample_corpus(), scale, files)
        if scale <= embed_max:
            ingest = build(directory, files, recorder if scale == 1 else embedder, "embedded",
                           settings.batch_vectors)
        else:
            ingest = build(directory, files, recorder.noisy_copies(), "synthetic", sys.maxsize)
        entries[str(scale)] = Scale(
            ingest=ingest, latency=latency(directory, settings, warm, questions),
            startup=startup(directory, questions[: 3 if quick else 20], backend), index_bytes=index_size(directory))
        if scale > 1:
            shutil.rmtree(files, ignore_errors=True)
    chunks = [c.text for a in articles for c in chunk_article(a, split_sentences(a.text), IndexSettings())]
    backends = compare_backends(chunks[: 16 if quick else 500], 1 if quick else 3, model_cache)
    if retrieval_limit:
        backends = backends.model_copy(update={"backends": {
            b: backend_recall(f, b, dataset, retrieval_limit, cache) for b, f in backends.backends.items()}})
    return BenchReport(
        date=dt.date.today().isoformat(), machine=_machine(), backend=backend,
        extractor_backend=settings.extractor_backend, model_load_seconds=model_load_seconds, quick=quick,
        base_articles=len(articles), questions=len(questions), scales=entries, embedding_backends=backends)


def _machine() -> Machine:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return Machine(cpu=cpu, cores=os.cpu_count(), python=platform.python_version(),
                   load_average_1min_at_end=round(load, 2) if load is not None else None)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m qa_eval.bench``: the same options as ``qa bench``."""
    from .cli import bench_parser

    args = bench_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
