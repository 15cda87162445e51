"""PDF and Word files written by the tests (fpdf2, python-docx), with the text each page holds.

Every document is made here from known sentences, so a test can say which page each one is on
and check the ingested text against it; nothing binary is committed.
"""

from __future__ import annotations

import io
from pathlib import Path

PAGES = (
    ("The Bushehr Accord",
     "Russia agreed in 1991 to finish the nuclear reactor at Bushehr for Iran.",
     "The first engineers arrived from Moscow in the spring of 1995."),
    ("Fuel and Finance",
     "The reactor's fuel was delivered by Rosatom in December 2007.",
     "Iran paid for the work in oil and in hard currency over many years."),
    ("Opening",
     "The plant was connected to the national grid in September 2011.",
     "Officials from both countries attended the ceremony at the coast."),
)
TITLE = "Bushehr: A History"
AUTHOR = "Maria Petrova"


def pdf_bytes(pages: tuple[tuple[str, ...], ...] = PAGES, title: str | None = TITLE,
              author: str | None = AUTHOR, owner_password: str | None = None,
              user_password: str | None = None) -> bytes:
    """A PDF with one page per entry of ``pages``: a heading line, then each sentence as a
    paragraph; encrypted when a password is given."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    for heading, *sentences in pages:
        pdf.add_page()
        pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        for sentence in sentences:
            pdf.multi_cell(0, 6, sentence, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    if owner_password is not None:
        pdf.set_encryption(owner_password=owner_password, user_password=user_password or "")
    return bytes(pdf.output())


def scanned_pdf_bytes() -> bytes:
    """A PDF whose only page is a picture (as a scanner makes it): no text layer at all."""
    from fpdf import FPDF
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(image).text((20, 80), "Scanned words are pixels", fill="black")
    pdf = FPDF()
    pdf.add_page()
    pdf.image(image, x=10, y=10, w=180)
    return bytes(pdf.output())


def docx_bytes(paragraphs: tuple[str, ...], title: str | None = TITLE, author: str | None = AUTHOR,
               table: tuple[tuple[str, ...], ...] = ()) -> bytes:
    """A Word document of these paragraphs, then a table of these rows."""
    import docx

    document = docx.Document()
    document.core_properties.title = title or ""
    document.core_properties.author = author or ""
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                grid.cell(r, c).text = cell
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
