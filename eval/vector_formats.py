"""Vector formats measured: dev-half quality, and size, latency and memory at a million vectors.

Run ``python -m qa_eval.vector_formats [--vectors 1000000] [--answers 1500] [--bench FILE]``.
It writes ``eval/reports/vector_formats.json`` (``--out``) and ``vector_formats.png``.

- **Quality** (measured): the SQuAD dev half indexed once in float32 (``qa_eval.indexes``, cached),
  then copied and converted to each format (``Store.convert``: the same embeddings, only their
  storage differs), and per format fused R@5 over every answerable question and answer accuracy
  over ``--answers`` of them, as ``qa eval retrieval`` and ``qa eval answers`` grade them.
- **Scale** (measured): ``--vectors`` sentence vectors drawn from the real ones (the dev half's
  float32 sentence vectors plus the bench's noise, ``qa_eval.synthetic.NOISE``, renormalised), in
  each format: bytes on disk of the exact file and of the HNSW graph (links only, shared by every
  format: it holds positions, not vectors), single-question latency of an exact scan and of the
  HNSW search (p50 over ``_QUERIES`` noisy real vectors), HNSW recall@10 against exact search
  over the same stored vectors, and the peak resident memory of a fresh process that loads the
  exact index and the graph and searches. The graph is linked once, over sq8 (the default), and
  searched over each format's own codes (labelled so in the report).
- **Per million chunks** (extrapolated): chunk and sentence vectors at the bench's 100x ratio of
  sentences to chunks, plus SQLite's text and FTS5 at the 100x bench's bytes per chunk
  (``--bench``, a ``bench.json`` with a 100x scale).
- **The 100x bench** (measured elsewhere): with ``--bench``, its 100x entry (index bytes, peak
  RSS, HNSW recall@10) is copied in, labelled with that report's date.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from qa import QA
from qa.models import IndexSettings, VectorFormat
from qa.settings import Settings
from qa.store import Store
from qa.store.formats import FORMATS, convert
from qa.store.vectors import build_hnsw, new_index, search, search_approximate

from .harness import _answer_all, _contains
from .reports import Report, write_json
from .squad import answerable, load_questions, sample
from .synthetic import NOISE

_QUERIES = 200
_DEFAULT_DATASET = Path(__file__).parent / "data" / "squad-dev-v1.1-half.json"
_DEFAULT_OUT = Path(__file__).parent / "reports"
_DEFAULT_CACHE = Path(__file__).parent / ".cache"
_GRAPH_FORMAT: VectorFormat = "sq8"


class Quality(Report):
    """Dev-half quality of one format (measured)."""

    fused_recall_5: float
    answer_accuracy: float | None
    retrieval_questions: int
    answer_questions: int


class AtScale(Report):
    """One format at ``vectors`` sentence vectors (measured)."""

    exact_bytes: int
    bytes_per_vector: float
    graph_bytes: int
    exact_ms_p50: float
    hnsw_ms_p50: float
    hnsw_recall_10: float = Field(description="against exact search over the same stored vectors")
    peak_rss_mb: float = Field(description="a fresh process: faiss loaded, exact index + graph, searched")


class PerMillionChunks(Report):
    """Extrapolated: one million chunks with their sentences, in one format."""

    vectors_gb: float
    graph_gb: float
    sqlite_gb: float | None
    total_gb: float | None


class VectorFormatsReport(Report):
    date: str
    machine: str
    method: str
    quality: dict[str, Quality]
    vectors: int
    python_faiss_rss_mb: float = Field(description="the same process before loading any index")
    scale: dict[str, AtScale]
    per_million_chunks: dict[str, PerMillionChunks]
    sentences_per_chunk: float
    sqlite_bytes_per_chunk: float | None
    bench_100x: dict[str, Any] | None


# --------------------------------------------------------------------------------- quality
def quality(dataset: Path, cache: Path, formats: Sequence[VectorFormat], answers: int,
            settings: Settings) -> tuple[dict[str, Quality], Path]:
    """Fused R@5 and answer accuracy per format on converted copies of one float32 dev-half index;
    returns them and the float32 index (its sentence vectors seed the scale measurement)."""
    from .indexes import build_index

    base, _ = build_index(dataset, cache, settings=settings, index_settings=IndexSettings(vector_format="float32"))
    questions = answerable(load_questions(dataset))
    asked = sample(questions, answers) if answers else []
    results = {}
    for vector_format in formats:
        directory = base if vector_format == "float32" else base.with_name(f"{base.name}-{vector_format}")
        if directory != base and not directory.exists():
            shutil.copytree(base, directory)
            Store.open(directory).convert(vector_format)
        qa = QA(directory, sample=False, create=False, settings=settings)
        hits = 0
        for q in questions:
            passages = qa.search(q.text, k=5, mode="fused")
            hits += any(p.article_id == q.article_id and _contains(p.start, p.end, q.answers) for p in passages)
        accuracy = None
        if asked:
            qa.warm_up()
            run = _answer_all(qa, asked, f"Answering ({vector_format})")
            accuracy = run.summary.answer_accuracy
        results[vector_format] = Quality(fused_recall_5=round(hits / len(questions), 4), answer_accuracy=accuracy,
                                         retrieval_questions=len(questions), answer_questions=len(asked))
        print(f"[vector_formats] {vector_format}: {results[vector_format]}", file=sys.stderr, flush=True)
    return results, base


# --------------------------------------------------------------------------------- scale
def drawn(source: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors: rows of ``source`` plus the bench's Gaussian noise, renormalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, source.shape[1]), dtype=np.float32)
    for first in range(0, n, 100_000):
        last = min(n, first + 100_000)
        part = source[rng.integers(0, len(source), last - first)]
        part = part + rng.normal(0.0, NOISE, part.shape).astype(np.float32)
        out[first:last] = part / np.linalg.norm(part, axis=1, keepdims=True)
    return out


_RSS = """
import json, sys, numpy as np, faiss

def hwm():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024

before = hwm()
from qa.store.vectors import load_hnsw, search_approximate
exact = faiss.read_index(sys.argv[1])
graph = load_hnsw(__import__("pathlib").Path(sys.argv[2]), exact)
q = np.load(sys.argv[3])
for row in q[:20]:
    search_approximate(graph, row[None], 10)
print(json.dumps({"before": before, "peak": hwm()}))
"""


def _p50_ms(run: Any, queries: np.ndarray) -> float:
    times = []
    for row in queries:
        started = time.perf_counter()
        run(row[None])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def at_scale(source: np.ndarray, n: int, formats: Sequence[VectorFormat],
             work: Path) -> tuple[dict[str, AtScale], float]:
    """Each format at ``n`` drawn vectors; returns the figures and the bare process's RSS (MB)."""
    import faiss

    vectors = drawn(source, n, seed=1)
    queries = drawn(source, _QUERIES, seed=2)
    np.save(work / "queries.npy", queries)
    base = new_index(source.shape[1], "float32")
    base.add_with_ids(vectors, np.arange(n, dtype=np.int64))
    del vectors
    started = time.perf_counter()
    graph = build_hnsw(convert(base, _GRAPH_FORMAT))
    print(f"[vector_formats] graph of {n:,} linked in {time.perf_counter() - started:.0f} s",
          file=sys.stderr, flush=True)
    graph_file = work / "graph.faiss"
    faiss.write_index(graph.hnsw, str(graph_file), faiss.IO_FLAG_SKIP_STORAGE)
    results, bare = {}, 0.0
    for vector_format in formats:
        exact = base if vector_format == "float32" else convert(base, vector_format)
        exact_file = work / f"{vector_format}.faiss"
        faiss.write_index(exact, str(exact_file))
        graph.hnsw.storage = faiss.downcast_index(exact.index)  # the same links over this format's codes
        graph.ids = np.arange(n, dtype=np.int64)
        truth = search(exact, queries, 10)[1]
        found = search_approximate(graph, queries, 10)[1]
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]))
        rss = json.loads(subprocess.run([sys.executable, "-c", _RSS, str(exact_file), str(graph_file),
                                         str(work / "queries.npy")], capture_output=True, text=True,
                                        check=True).stdout.strip().splitlines()[-1])
        bare = rss["before"]
        results[vector_format] = AtScale(
            exact_bytes=exact_file.stat().st_size, bytes_per_vector=round(exact_file.stat().st_size / n, 1),
            graph_bytes=graph_file.stat().st_size,
            exact_ms_p50=_p50_ms(lambda q, e=exact: search(e, q, 10), queries[:50]),
            hnsw_ms_p50=_p50_ms(lambda q: search_approximate(graph, q, 10), queries),
            hnsw_recall_10=round(recall, 4), peak_rss_mb=round(rss["peak"], 1))
        print(f"[vector_formats] {vector_format} at {n:,}: {results[vector_format]}", file=sys.stderr, flush=True)
        graph.hnsw.storage = faiss.downcast_index(base.index)
        if exact is not base:
            del exact
        exact_file.unlink()
    return results, round(bare, 1)


def per_million(scale: dict[str, AtScale], n: int, sentences_per_chunk: float,
                sqlite_per_chunk: float | None) -> dict[str, PerMillionChunks]:
    """Extrapolated bytes of a million chunks and their sentences, every vector with a graph."""
    out = {}
    vectors_per_million = 1e6 * (1 + sentences_per_chunk)
    for vector_format, s in scale.items():
        vectors_gb = s.bytes_per_vector * vectors_per_million / 1e9
        graph_gb = s.graph_bytes / n * vectors_per_million / 1e9
        sqlite_gb = sqlite_per_chunk * 1e6 / 1e9 if sqlite_per_chunk else None
        total = vectors_gb + graph_gb + sqlite_gb if sqlite_gb is not None else None
        out[vector_format] = PerMillionChunks(vectors_gb=round(vectors_gb, 2), graph_gb=round(graph_gb, 2),
                                              sqlite_gb=round(sqlite_gb, 2) if sqlite_gb else None,
                                              total_gb=round(total, 2) if total is not None else None)
    return out


def _bench_100x(path: Path | None) -> tuple[dict[str, Any] | None, float, float | None]:
    """The 100x entry of a bench report, its sentences per chunk and SQLite bytes per chunk."""
    if path is None:
        return None, 477_656 / 121_944, None  # the README's 100x bench
    report = json.loads(path.read_text(encoding="utf-8"))
    entry = report["scales"]["100"]
    ingest = entry["ingest"]
    sqlite = entry.get("sqlite_bytes")
    return ({"date": report["date"], "index_bytes": entry["index_bytes"],
             "peak_rss_mb": entry["startup"]["peak_rss_mb"],
             "hnsw_recall_10": entry["latency"].get("approximate_recall@10"),
             "answer_p50_ms": entry["latency"]["p50_ms"], "answer_p95_ms": entry["latency"]["p95_ms"]},
            ingest["sentences"] / ingest["chunks"], sqlite / ingest["chunks"] if sqlite else None)


# --------------------------------------------------------------------------------- main
def run(dataset: Path, cache: Path, out: Path, n: int, answers: int, bench: Path | None,
        sqlite_bytes_per_chunk: float | None, formats: Sequence[VectorFormat] = FORMATS,
        quality_formats: Sequence[VectorFormat] = FORMATS) -> VectorFormatsReport:
    settings = Settings.from_env()
    qualities, base = quality(dataset, cache, quality_formats, answers, settings)
    store = Store.open(base)
    source = store.sentence_vectors(store.row_ids("sentences"))  # (n_real, dim), float32
    with tempfile.TemporaryDirectory(prefix="qa-vector-formats-") as work:
        scale, bare = at_scale(source, n, formats, Path(work))
    bench_entry, sentences_per_chunk, sqlite_from_bench = _bench_100x(bench)
    sqlite_per_chunk = sqlite_bytes_per_chunk or sqlite_from_bench
    report = VectorFormatsReport(
        date=dt.date.today().isoformat(), machine=_machine(),
        method=(__doc__ or "").split("\n\n", 1)[1].strip(), quality=qualities, vectors=n,
        python_faiss_rss_mb=bare, scale=scale,
        per_million_chunks=per_million(scale, n, sentences_per_chunk, sqlite_per_chunk),
        sentences_per_chunk=round(sentences_per_chunk, 3),
        sqlite_bytes_per_chunk=round(sqlite_per_chunk, 1) if sqlite_per_chunk else None,
        bench_100x=bench_entry)
    write_json(report, out / "vector_formats.json")
    _plot(report, out / "vector_formats.png")
    return report


def _plot(report: VectorFormatsReport, path: Path) -> None:
    """Bytes per vector and HNSW / exact latency per format, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.scale)
    fig, (size, speed) = plt.subplots(1, 2, figsize=(10, 4))
    size.bar(names, [report.scale[f].bytes_per_vector for f in names])
    size.set_ylabel("bytes per vector (exact file, measured)")
    size.set_title(f"{report.vectors:,} sentence vectors")
    x = np.arange(len(names))
    speed.bar(x - 0.2, [report.scale[f].exact_ms_p50 for f in names], 0.4, label="exact scan")
    speed.bar(x + 0.2, [report.scale[f].hnsw_ms_p50 for f in names], 0.4, label="HNSW")
    speed.set_xticks(x, names)
    speed.set_yscale("log")
    speed.set_ylabel("ms per question, p50 (measured)")
    speed.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return f"{cpu}, {os.cpu_count()} cores"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_eval.vector_formats", description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=_DEFAULT_DATASET)
    parser.add_argument("--cache", type=Path, default=_DEFAULT_CACHE)
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    parser.add_argument("--vectors", type=int, default=1_000_000, help="sentence vectors at scale (1,000,000)")
    parser.add_argument("--answers", type=int, default=1500, help="questions answered per format (0: none)")
    parser.add_argument("--bench", type=Path, default=None, help="a bench.json with a 100x scale")
    parser.add_argument("--sqlite-bytes-per-chunk", type=float, default=None,
                        help="SQLite bytes per chunk for the per-million figures (default: from --bench)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="formats measured at scale (all)")
    parser.add_argument("--quality-formats", default=",".join(FORMATS),
                        help="formats whose dev-half quality is measured (all; float32 always, as the reference)")
    args = parser.parse_args(argv)
    formats = [f for f in FORMATS if f in args.formats.split(",")]
    quality_formats = [f for f in FORMATS if f in {"float32", *args.quality_formats.split(",")}]
    report = run(args.dataset, args.cache, args.out, args.vectors, args.answers, args.bench,
                 args.sqlite_bytes_per_chunk, formats, quality_formats)
    print(report.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
