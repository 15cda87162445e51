"""One page to look at instead of JSON: the last evaluation reports and plots as HTML.

Renders the Markdown reports the commands write (``answers.md``, ``retrieval.md``,
``regression.md``, ``bench.md``) with their plots embedded, and the figures of the JSON-only
reports (the app's first run, reliability, writes during questions, the reader experiment) as
tables, into one self-contained file, ``eval/reports/index.html``: open it in a browser. The
Markdown is rendered with raw HTML off (markdown-it-py), so text from articles or questions in a
report is shown, never run. Usage:
    python -m qa_eval.report_html [--reports DIR]
"""

from __future__ import annotations

import argparse
import base64
import html
import json
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from . import defaults

# (report, plots shown under it)
MARKDOWN = (("answers.md", ()), ("retrieval.md", ("recall_at_k.png",)), ("regression.md", ()),
            ("bench.md", ("bench_latency.png", "bench_throughput.png")), ("ray_bench.md", ("ray_bench.png",)))
# (report, its title, plots shown under it)
FIGURES = (("app.json", "The app's first run", ()), ("reliability.json", "Reliability", ()),
           ("write_latency.json", "Questions during an upload", ()),
           ("vector_formats.json", "Vector formats", ("vector_formats.png",)),
           ("shards.json", "Shards against one index", ()),
           ("reader-oof.json", "The in-context reader experiment (not shipped)", ()))
STYLE = ("body{font:15px system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
         "table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
         "text-align:left;vertical-align:top}img{max-width:100%}nav a{margin-right:1rem}"
         "section{border-top:2px solid #eee;padding-top:1rem;margin-top:2rem}")


def flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, value) rows of a JSON value's scalars; lists of records are left out."""
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in flat(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [] if any(isinstance(v, (dict, list)) for v in value) else [(prefix.rstrip("."), json.dumps(value))]
    return [(prefix.rstrip("."), str(value))]


def figure_table(data: Any) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in flat(data))
    return f"<table>{rows}</table>"


def image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(path.name)}" src="data:image/png;base64,{encoded}"></p>'


def render(reports: Path) -> str:
    """The page for the reports in ``reports`` (a report that is absent is named as missing)."""
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    sections = []
    for name, plots in MARKDOWN:
        file = reports / name
        body = (md.render(file.read_text(encoding="utf-8")) + "".join(image(reports / p) for p in plots
                                                                       if (reports / p).exists())
                if file.exists() else f"<p>No {html.escape(name)} yet.</p>")
        sections.append((name.removesuffix(".md"), body))
    for name, title, plots in FIGURES:
        file = reports / name
        body = (f"<h2>{html.escape(title)}</h2>"
                + (figure_table(json.loads(file.read_text(encoding="utf-8"))) if file.exists()
                   else f"<p>No {html.escape(name)} yet.</p>")
                + "".join(image(reports / p) for p in plots if (reports / p).exists()))
        sections.append((name.removesuffix(".json"), body))
    nav = "".join(f'<a href="#{html.escape(key)}">{html.escape(key)}</a>' for key, _ in sections)
    parts = "".join(f'<section id="{html.escape(key)}">{body}</section>' for key, body in sections)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>article-qa: evaluation</title>"
            f"<style>{STYLE}</style></head><body><h1>article-qa: the last evaluation</h1>"
            f"<p>From the reports in {html.escape(str(reports))}; each section says how it was measured.</p>"
            f"<nav>{nav}</nav>{parts}</body></html>")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=defaults.reports_dir())
    args = parser.parse_args(argv)
    out = args.reports / "index.html"
    out.write_text(render(args.reports), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
