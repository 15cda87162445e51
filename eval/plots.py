"""The reports' PNG plots (matplotlib, the ``[eval]`` extra).

``pyplot()`` is the one place matplotlib is imported; ``qa eval`` and ``qa bench`` call
``require_matplotlib()`` before a run so a missing extra is said at once, not after an hour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bench_report import BenchReport

INSTALL_HINT = "the plots need matplotlib: pip install 'article-qa[eval]'"


def require_matplotlib() -> str | None:
    """None when matplotlib can be imported, else one sentence saying how to install it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return INSTALL_HINT
    return None


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend (no display is needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, ax: Any, path: Path, **legend: Any) -> None:
    """Grid, legend, tight layout: the finish every plot here shares; then write and close."""
    ax.grid(alpha=0.3)
    ax.legend(**legend)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def recall_curves(curves: Mapping[str, Sequence[float]], questions: int, path: Path) -> None:
    """recall@k for k = 1..len(curve), one line per retrieval mode."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, curve in curves.items():
        ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=mode)
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_title(f"Retrieval recall@k ({questions} questions)")
    ax.set_xticks(range(1, max(len(c) for c in curves.values()) + 1, 2))
    _save(plt, fig, ax, path)


def bench_latency(report: BenchReport, path: Path) -> None:
    """answer() p50/p95/p99 against the number of chunks, with the latency targets."""
    plt = pyplot()
    scales = report.scales
    chunks = [e.ingest.chunks for e in scales.values()]
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in ("p50", "p95", "p99"):
        ax.plot(chunks, [getattr(e.latency, f"{p}_ms") for e in scales.values()], marker="o", label=p)
    for target, label in ((50, "p95 target at 1x"), (100, "p95 target at 100x")):
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (chunks[0], target), textcoords="offset points", xytext=(0, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the index (log)")
    ax.set_ylabel("answer() latency, ms")
    ax.set_title("answer() latency against corpus size")
    for x, scale in zip(chunks, scales, strict=True):
        ax.annotate(f"{scale}x", (x, 0), textcoords="offset points", xytext=(0, 4), ha="center")
    _save(plt, fig, ax, path)


def bench_throughput(report: BenchReport, path: Path) -> None:
    """Ingest chunks/s, all stages and each stage, of the scales embedded for real."""
    plt = pyplot()
    real = [e.ingest for e in report.scales.values() if e.ingest.vectors == "embedded"]
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [i.chunks for i in real]
    ax.plot(x, [i.chunks_per_s for i in real], marker="o", label="all stages")
    for stage in ("parse", "chunk", "embed", "write"):
        ax.plot(x, [i.stage_chunks_per_s[stage] for i in real], marker=".", linestyle="--", label=stage)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks ingested (log)")
    ax.set_ylabel("chunks/s (log)")
    ax.set_title(f"Ingest throughput by stage ({report.backend} embedding)")
    _save(plt, fig, ax, path, loc="center right", fontsize=8)
