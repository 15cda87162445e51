"""The Quality tab: the last evaluation's headline figures and plots, as escaped HTML.

``qa eval`` and ``qa bench`` write their reports (JSON figures, PNG plots) to one directory,
``eval/reports`` in a checkout. This module picks the few figures a user asks about first (does
the answer hold, are citations exact, does it decline when it should, how fast, how much memory)
and embeds the plots, so the tab shows how good the index is without anyone reading JSON.
``python -m qa_eval.report_html`` renders every report in full as a page of its own; that page
carries its own global styles, so the tab does not embed it.

No gradio import here (``render_quality`` is a pure function of a directory, tested without a
browser), and ``qa_eval`` is imported only by ``default_reports`` when the tab is drawn: the
runtime package never needs the harness.

Example:
    >>> "No evaluation reports" in render_quality(None)
    True
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qa.web.render import escape

Unit = Literal["share", "score", "ms", "s", "MB"]


@dataclass(frozen=True)
class Figure:
    """One headline figure: its keys in a report's JSON, its name, unit and what it means."""

    keys: tuple[str, ...]
    label: str
    unit: Unit
    meaning: str


@dataclass(frozen=True)
class Section:
    """The headline figures of one JSON report (file name in the reports directory)."""

    report: str
    title: str
    figures: tuple[Figure, ...]


SECTIONS = (
    Section("answers.json", "Answers", (
        Figure(("answer_accuracy",), "Answer accuracy", "share", "the quote holds a correct answer"),
        Figure(("citation_validity",), "Citation validity", "share",
               "quotes found word for word at their cited offsets"),
        Figure(("answered",), "Answered", "share", "questions answered rather than declined"),
        Figure(("abstention", "auroc"), "Knows when to decline", "score",
               "AUROC of confidence, answerable against unanswerable questions (1 is perfect)"),
        Figure(("latency_ms_p50",), "Time to answer", "ms", "median time of one answer"),
    )),
    Section("retrieval.json", "Retrieval", (
        Figure(("modes", "fused", "recall@5"), "Recall@5", "share",
               "a passage holding the answer is among the five best (fused search)"),
        Figure(("modes", "fused", "mrr@10"), "MRR@10", "score",
               "how high the first passage with the answer ranks (1 is always first)"),
    )),
    Section("regression.json", "Hand-written questions", (
        Figure(("correct",), "Handled as expected", "share",
               "answered with the right quote, or declined when the articles don't say"),
        Figure(("declines", "correct"), "Declined when they should", "share",
               "off-topic and near-miss questions that were declined"),
    )),
    Section("app.json", "The app", (
        Figure(("first_answer_s",), "First answer", "s", "from starting the app to the first answer"),
        Figure(("rss_mb_after_questions",), "Memory", "MB", "the app's memory after 200 questions"),
    )),
)
# Captions of the plots the harness draws; any other PNG in the directory is shown by its name.
PLOTS = {
    "recall_at_k.png": "How often a passage with the answer is among the k best, per search mode",
    "bench_latency.png": "Time to answer as the index grows",
    "bench_throughput.png": "Indexing speed by stage as the index grows",
}
MAX_PLOT_BYTES = 2_000_000  # a plot is ~50 kB; anything far larger is not one of ours


def default_reports() -> Path | None:
    """Where ``qa eval`` writes its reports (``eval/reports`` in a checkout), or None when the
    harness is not installed. Imported here, when the tab is drawn, so ``qa`` never needs it."""
    try:
        from qa_eval.defaults import reports_dir
    except ImportError:
        return None
    return Path(reports_dir())


def _format(value: float, unit: Unit) -> str:
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "score":
        return f"{value:.3f}"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.1f} s"
    return f"{value:,.0f} MB"


def _lookup(data: Any, keys: Sequence[str]) -> float | None:
    """The number at ``keys`` in a report's JSON, or None when it is absent or not a number."""
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return float(data) if isinstance(data, int | float) and not isinstance(data, bool) else None


def _measured_on(data: dict[str, Any], report: str) -> str:
    """What a report was measured on, in words: data set, questions, the date where it records one
    (a file's time would be the checkout's, not the measurement's), and the report's file."""
    parts = []
    if isinstance(data.get("dataset"), str):
        parts.append(Path(data["dataset"]).name)
    if isinstance(data.get("questions"), int):
        parts.append(f"{data['questions']:,} questions")
    if isinstance(data.get("date"), str):
        parts.append(f"measured {data['date'][:10]}")
    return f"{', '.join(parts)} ({report})" if parts else report


def _section(reports: Path, section: Section) -> str:
    """A report's headline figures as cards ("" when the report is absent)."""
    file = reports / section.report
    if not file.is_file():
        return ""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return (f'<section class="qa-quality-section"><h3>{escape(section.title)}</h3>'
                f'<p class="qa-quality-note">{escape(section.report)} could not be read ({escape(str(e))}).</p>'
                "</section>")
    if not isinstance(data, dict):
        return ""
    cards = []
    for figure in section.figures:
        value = _lookup(data, figure.keys)
        if value is not None:
            cards.append(f'<div class="qa-figure"><div class="qa-figure-value">{escape(_format(value, figure.unit))}'
                         f'</div><div class="qa-figure-label">{escape(figure.label)}</div>'
                         f'<div class="qa-figure-meaning">{escape(figure.meaning)}</div></div>')
    if not cards:
        return ""
    return (f'<section class="qa-quality-section"><h3>{escape(section.title)}</h3>'
            f'<p class="qa-quality-note">{escape(_measured_on(data, section.report))}</p>'
            f'<div class="qa-figures">{"".join(cards)}</div></section>')


def _plot(file: Path) -> str:
    """A PNG embedded in the page (no file route needed), captioned; one too large or unreadable
    is named instead."""
    caption = PLOTS.get(file.name, file.name)
    try:
        size = file.stat().st_size
        if size > MAX_PLOT_BYTES:
            return (f'<p class="qa-quality-note">{escape(file.name)} is not shown: {size:,} bytes is over '
                    f"the {MAX_PLOT_BYTES:,} a plot may have.</p>")
        encoded = base64.b64encode(file.read_bytes()).decode("ascii")
    except OSError as e:
        return f'<p class="qa-quality-note">{escape(file.name)} could not be read ({escape(str(e))}).</p>'
    return (f'<figure class="qa-plot"><img alt="{escape(caption)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _plot_files(reports: Path) -> list[Path]:
    """The PNGs in ``reports``: the harness's own plots first, in ``PLOTS`` order, then the rest."""
    found = sorted(p for p in reports.glob("*.png") if p.is_file())
    order = list(PLOTS)
    return sorted(found, key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))


def _no_reports(reports: Path | None) -> str:
    """The sentence the tab shows when there is nothing to show."""
    where = f" in {reports}" if reports is not None else ""
    return ('<div class="qa-quality"><p class="qa-quality-empty">No evaluation reports were found'
            f"{escape(where)}: run <code>qa eval answers</code> (or <code>qa eval retrieval</code>, "
            "<code>qa bench</code>) to measure, and open this tab again.</p></div>")


def render_quality(reports: Path | None) -> str:
    """The Quality tab for the reports in ``reports``: headline figures, then the plots.

    A directory with no reports (or None, where the harness is not installed) gives one sentence
    that says so and how to make them.
    """
    if reports is None or not reports.is_dir():
        return _no_reports(reports)
    sections = "".join(_section(reports, s) for s in SECTIONS)
    plots = "".join(_plot(p) for p in _plot_files(reports))
    if not sections and not plots:
        return _no_reports(reports)
    intro = ('<p class="qa-quality-intro">How well article-qa answers, from the last evaluation '
             "(<code>qa eval</code>, <code>qa bench</code>), measured on public question sets and the "
             "sample corpus, not on the articles indexed here. Every report in full: "
             f"<code>python -m qa_eval.report_html</code> writes {escape(str(reports / 'index.html'))}.</p>")
    plot_block = f'<div class="qa-plots">{plots}</div>' if plots else ""
    return f'<div class="qa-quality">{intro}{sections}{plot_block}</div>'
