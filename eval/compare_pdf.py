"""Compare two PDF text extractors (pypdf, pdfminer.six) on PDFs made here from known text.

Three PDFs of the seed article and the SQuAD "Oxygen" article, each made by a real producer:
Chromium (Skia) in one and in two justified columns, with ligatures (DejaVu Serif: "ﬁ", "ﬀ");
and fpdf2 (DejaVu Sans) with lines broken here and long words hyphenated at line ends, as TeX
does (Chromium on Linux has no hyphenation dictionary, and its soft hyphens split words in two
for both libraries alike). Each page is extracted by both libraries and rebuilt into paragraphs
by the same code ingest uses (``qa.ingest.pdf.pdf_text``), then measured against the source:

- sentences intact: source sentences found verbatim in the rebuilt text;
- in order: of those, the share in their source order (a longest increasing run);
- ligature glyphs and line-end hyphens in the raw output (what the rebuilding must undo);
- ms per page: median of three extractions.

Usage: python -m qa_eval.compare_pdf [--out DIR] (needs chromium for the first two PDFs and
pdfminer.six, an eval dependency; a missing producer is skipped and said so).
"""

from __future__ import annotations

import argparse
import bisect
import html
import io
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qa import sample_corpus
from qa.chunking import split_sentences
from qa.ingest import read_file
from qa.ingest.pdf import pdf_text

SEED = sample_corpus() / "putin-and-the-ayatollah.md"
SQUAD = sample_corpus() / "squad-wikipedia-articles.json"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
_LONG_WORD = re.compile(r"\b([^\W\d_]{10,})\b")


def source_paragraphs() -> list[str]:
    """The paragraphs of the seed article and of SQuAD's "Oxygen", as ingest reads them."""
    seed = read_file(SEED)[0].text
    squad = {a["title"]: a for a in json.loads(SQUAD.read_text(encoding="utf-8"))["data"]}
    oxygen = [p["context"] for p in squad["Oxygen"]["paragraphs"]]
    return [p for p in seed.split("\n\n") if p] + oxygen


def chromium_pdf(paragraphs: list[str], out: Path, columns: int) -> Path | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    page = (f'<html lang="en"><head><meta charset="utf-8"><title>Comparison</title><style>'
            f'body{{font-family:"DejaVu Serif";font-size:10.5pt;text-align:justify;'
            f"font-variant-ligatures:common-ligatures}} div{{columns:{columns};column-gap:2em}}</style></head>"
            f"<body><div>{body}</div></body></html>")
    source = out / f"chromium-{columns}.html"
    source.write_text(page, encoding="utf-8")
    target = out / f"chromium-{columns}col.pdf"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={target}", source.as_uri()], check=True, capture_output=True, timeout=120)
    return target


def fpdf2_pdf(paragraphs: list[str], out: Path) -> Path | None:
    """Lines broken here, hyphenating a long word that does not fit (as TeX does), one per cell."""
    from fpdf import FPDF

    font = FONTS / "DejaVuSans.ttf"
    if not font.exists():
        return None
    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(font))
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    width = pdf.epw
    for paragraph in paragraphs:
        for line in _hyphenated_lines(paragraph, lambda text: pdf.get_string_width(text) <= width):
            pdf.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    target = out / "fpdf2.pdf"
    pdf.output(str(target))
    return target


def _hyphenated_lines(paragraph: str, fits: Callable[[str], bool]) -> list[str]:
    """Greedy line breaking; a word of 8+ letters that does not fit is split with a hyphen,
    keeping at least 3 letters on each line."""
    lines: list[str] = []
    line = ""
    for word in paragraph.split():
        trial = f"{line} {word}" if line else word
        if fits(trial):
            line = trial
            continue
        if len(word) >= 8 and word.isalpha():
            cut = next((i for i in range(len(word) - 3, 2, -1) if fits(f"{line} {word[:i]}-")), 0)
            if cut:
                lines.append(f"{line} {word[:cut]}-")
                line = word[cut:]
                continue
        lines.append(line)
        line = word
    return [*lines, line] if line else lines


def pypdf_pages(raw: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(raw)).pages]


def pdfminer_pages(raw: bytes) -> list[str]:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(raw)).split("\f")[:-1]  # a form feed ends every page


def measure(pages: list[str], sentences: list[str]) -> dict[str, float]:
    raw = "\n".join(pages)
    text = " ".join(pdf_text(pages)[0].split())
    found = [text.find(s) for s in sentences]
    positions = [p for p in found if p >= 0]
    run: list[int] = []  # the longest increasing run of positions (patience sorting)
    for p in positions:
        i = bisect.bisect_left(run, p)
        run[i : i + 1] = [p]
    return {
        "intact": len(positions) / len(sentences),
        "in_order": len(run) / len(positions) if positions else 0.0,
        "ligatures": sum(1 for c in raw if 0xFB00 <= ord(c) <= 0xFB06),
        "hyphens": len(re.findall(r"[-\u00ad\u2010]\n", raw)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="keep the PDFs here (default: a temporary folder)")
    out = parser.parse_args().out or Path(tempfile.mkdtemp(prefix="compare-pdf-"))
    out.mkdir(parents=True, exist_ok=True)
    paragraphs = source_paragraphs()
    sentences = [" ".join(p[s.start : s.end].split()) for p in paragraphs for s in split_sentences(p)]
    producers: dict[str, Callable[[], Path | None]] = {
        "chromium, 1 column": lambda: chromium_pdf(paragraphs, out, 1),
        "chromium, 2 columns": lambda: chromium_pdf(paragraphs, out, 2),
        "fpdf2, hyphenated": lambda: fpdf2_pdf(paragraphs, out),
    }
    extractors = {"pypdf": pypdf_pages, "pdfminer.six": pdfminer_pages}
    print(f"{len(sentences)} source sentences; PDFs in {out}")
    print("| PDF | pages | library | sentences intact | in order | ligature glyphs | line-end hyphens | ms/page |")
    print("|---|---|---|---|---|---|---|---|")
    for label, make in producers.items():
        path = make()
        if path is None:
            print(f"| {label} | skipped: its producer is not installed | | | | | | |")
            continue
        raw = path.read_bytes()
        for name, extract in extractors.items():
            times = []
            for _ in range(3):
                started = time.perf_counter()
                pages = extract(raw)
                times.append(time.perf_counter() - started)
            m = measure(pages, sentences)
            print(f"| {label} | {len(pages)} | {name} | {m['intact']:.3f} | {m['in_order']:.3f} | "
                  f"{m['ligatures']:.0f} | {m['hyphens']:.0f} | {statistics.median(times) / len(pages) * 1000:.1f} |")


if __name__ == "__main__":
    main()
