"""What ``qa bench`` reports (``bench.json``, ``bench.md``, two plots), as pydantic models.

The JSON keys are those of the committed ``eval/reports/bench.json`` the README's performance
tables come from; keys that are not identifiers (``approximate_recall@10``) are aliases, as in ``reports``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from qa.settings import Backend

from . import plots
from .reports import Report, write_json


class Machine(Report):
    """Where the bench ran; the load average says how busy the machine was by the end."""

    cpu: str
    cores: int | None
    python: str
    load_average_1min_at_end: float | None


class Ingest(Report):
    """One index build, stage by stage (``qa.indexing.StageSeconds``)."""

    articles: int
    chunks: int
    sentences: int
    vectors: Literal["embedded", "synthetic"]
    seconds: dict[str, float]
    articles_per_s: float
    chunks_per_s: float
    stage_chunks_per_s: dict[str, float | None]


class ApproximateRecall(Report):
    """Mean share of the exact top 10 that the HNSW search also returns."""

    chunks: float
    sentences: float


class Latency(Report):
    """``answer()`` over the fixed questions in one process, after a warm-up."""

    questions: int
    warm_up_seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    approximate: bool
    stage_p50_ms: dict[str, float]  # the median of each of ``Answer.timings_ms``
    # The same questions asked only of every tenth article (``bench.filtered_times``); absent in
    # reports from before it was measured.
    filtered_p50_ms: float | None = None
    filtered_p95_ms: float | None = None
    approximate_recall_10: ApproximateRecall | None = Field(
        default=None, serialization_alias="approximate_recall@10", validation_alias="approximate_recall@10")


class Startup(Report):
    """A fresh process: open the index, load the model, first encode; its peak memory."""

    open_s: float
    model_s: float
    startup_s: float
    first_answer_s: float
    peak_rss_mb: float


class Scale(Report):
    """Everything measured at one corpus size."""

    ingest: Ingest
    latency: Latency
    startup: Startup
    index_bytes: int


class BackendFigures(Report):
    """One embedding backend: speed and agreement with torch; dev-split recall when asked for."""

    chunks_per_s: float
    speedup: float
    cosine_min: float
    cosine_mean: float
    questions: int | None = None
    build_seconds: float | None = None
    dense_recall_5: float | None = Field(
        default=None, serialization_alias="dense_recall@5", validation_alias="dense_recall@5")
    fused_recall_5: float | None = Field(
        default=None, serialization_alias="fused_recall@5", validation_alias="fused_recall@5")


class Backends(Report):
    """The embedding backends compared on the same texts."""

    texts: int
    rounds: int
    backends: dict[Backend, BackendFigures]


class BenchReport(Report):
    """``bench.json``."""

    date: str
    machine: Machine
    backend: str
    extractor_backend: str = "onnx"  # not recorded before the int8 extractor existed
    model_load_seconds: float
    quick: bool
    base_articles: int
    questions: int
    scales: dict[str, Scale]
    embedding_backends: Backends

    def markdown(self) -> str:
        """``bench.md``: ingest, queries and backends as tables, with how to read them."""
        return "\n".join([*self._head(), *self._ingest(), *self._queries(), *self._backends()]) + "\n"

    def _head(self) -> list[str]:
        m = self.machine
        return [
            f"# Benchmark ({self.date})", "",
            f"Machine: {m.cpu}, {m.cores} cores, Python {m.python} (1-minute load average at "
            f"the end: {m.load_average_1min_at_end}). Embedding backend: `{self.backend}`; span "
            f"extractor: `{self.extractor_backend}`. "
            f"Base corpus: {self.base_articles} articles (the sample corpus); scale s adds s - 1 "
            "**synthetic** copies (titles marked, words dropped and swapped at 3%).", "",
        ]

    def _ingest(self) -> list[str]:
        lines = [
            "## Ingest", "",
            "| scale | articles | chunks | sentences | vectors | parse s | chunk s | embed s | write s "
            "| articles/s | chunks/s |", "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for scale, e in self.scales.items():
            i, s = e.ingest, e.ingest.seconds
            lines.append(f"| {scale}x | {i.articles} | {i.chunks} | {i.sentences} | {i.vectors} | "
                         f"{s['parse']} | {s['chunk']} | {s['embed']} | {s['write']} | {i.articles_per_s} | "
                         f"{i.chunks_per_s} |")
        return [*lines, "",
                "Synthetic-vector rows time parse and chunk for real; their embed column is the time to "
                "derive noisy copies of real vectors and their write is one commit, so their rates are not "
                "ingest rates.", ""]

    def _queries(self) -> list[str]:
        lines = [
            "## Queries, start-up, size, memory", "",
            f"`answer()` over {self.questions} fixed questions (SQuAD dev questions about the sample "
            "articles and seed-article questions), in one process after a warm-up; filtered: the same "
            "questions asked only of every tenth article (a filter by article id). Start-up = open the "
            "index + load the model + first encode, in a fresh process; peak RSS is that process's "
            "after answering 20 questions.", "",
            "| scale | chunks | p50 ms | p95 ms | p99 ms | filtered p50 / p95 ms | approximate "
            "| recall@10 (chunks / sentences) | start-up s | first answer s | index MB | peak RSS MB "
            "| p50 split (ms) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for scale, e in self.scales.items():
            q, st, recall = e.latency, e.startup, e.latency.approximate_recall_10
            shown = f"{recall.chunks} / {recall.sentences}" if recall else "exact"
            split = ", ".join(f"{k.removesuffix('_ms')} {v}" for k, v in q.stage_p50_ms.items())
            filtered = f"{q.filtered_p50_ms} / {q.filtered_p95_ms}" if q.filtered_p95_ms is not None else "-"
            lines.append(f"| {scale}x | {e.ingest.chunks} | {q.p50_ms} | {q.p95_ms} | {q.p99_ms} | {filtered} | "
                         f"{q.approximate} | {shown} | {st.startup_s} | {st.first_answer_s} | "
                         f"{e.index_bytes / 1e6:.0f} | {st.peak_rss_mb:.0f} | {split} |")
        return lines

    def _backends(self) -> list[str]:
        b = self.embedding_backends
        lines = ["", "## Embedding backends", "",
                 f"Same {b.texts} sample chunks for every backend, {b.rounds} interleaved rounds "
                 "(median); cosine against the torch vectors.", "",
                 "| backend | chunks/s | speed-up | cosine min | cosine mean | dense R@5 | fused R@5 |",
                 "|---|---|---|---|---|---|---|"]
        for name, v in b.backends.items():
            dense = "-" if v.dense_recall_5 is None else v.dense_recall_5
            fused = "-" if v.fused_recall_5 is None else v.fused_recall_5
            lines.append(f"| {name} | {v.chunks_per_s} | {v.speedup}x | {v.cosine_min} | "
                         f"{v.cosine_mean} | {dense} | {fused} |")
        asked = [v.questions for v in b.backends.values() if v.questions is not None]
        if asked:
            lines.append(f"\nR@5: `qa_eval.harness.evaluate_retrieval` on {asked[0]} questions of the "
                         "dev split, each with an index built by that backend.")
        return lines


def write_reports(report: BenchReport, out: Path) -> None:
    """bench.json, bench.md and the two PNG plots under ``out``."""
    write_json(report, out / "bench.json")
    (out / "bench.md").write_text(report.markdown(), encoding="utf-8")
    plots.bench_latency(report, out / "bench_latency.png")
    plots.bench_throughput(report, out / "bench_throughput.png")
