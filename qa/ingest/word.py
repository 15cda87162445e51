"""Word (.docx): paragraphs and table rows in document order (python-docx), title and author
from the document's properties.

A .docx has no pages of its own (Word lays them out when it shows the file), so its articles
have none; a citation names its characters only.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from qa.errors import IngestError
from qa.ingest.decode import clean_chars
from qa.ingest.formats import document_article
from qa.models import Article

CELL_GAP = " | "  # between the cells of a table row, which becomes one paragraph
# python-docx's own template names this author; a document that still says so names nobody.
_TEMPLATE_AUTHOR = "python-docx"


def docx_article(raw: bytes, path: Path) -> Article:
    """A .docx file's bytes as an article: one paragraph per non-empty paragraph or table row.

    Raises:
        IngestError: the file is not a readable .docx (an old .doc, encrypted, damaged) or
            holds no text.
    """
    import docx
    from docx.opc.exceptions import OpcError

    name = str(path)
    try:
        document = docx.Document(io.BytesIO(raw))
        blocks = [_block(item) for item in document.iter_inner_content()]
        properties = document.core_properties
        title, author = properties.title, properties.author
    except (zipfile.BadZipFile, OpcError, KeyError, ValueError) as e:
        kind = "an encrypted or old-format (.doc) file" if raw.startswith(b"\xd0\xcf\x11\xe0") else "damaged"
        raise IngestError(name, f"is not a readable .docx: it is {kind}; save it again as .docx "
                                f"from Word ({type(e).__name__})") from e
    text = "\n\n".join(block for block in blocks if block)
    if not text:
        raise IngestError(name, "is a Word document with no text")
    author = None if author == _TEMPLATE_AUTHOR else author
    return document_article(path, text, _one_line(title), _one_line(author))


def _block(item: object) -> str:
    """A paragraph's text, or a table's rows (one line each, cells joined by ``CELL_GAP``)."""
    from docx.table import Table

    if isinstance(item, Table):
        rows = (CELL_GAP.join(_merged([_one_line(cell.text) or "" for cell in row.cells])) for row in item.rows)
        return "\n\n".join(row for row in rows if row.strip(CELL_GAP))
    return _one_line(getattr(item, "text", "")) or ""


def _merged(cells: list[str]) -> list[str]:
    """Cells less the repeats of a merged cell (python-docx lists it once per grid column)."""
    return [cell for i, cell in enumerate(cells) if i == 0 or cell != cells[i - 1]]


def _one_line(value: str | None) -> str | None:
    text = " ".join(clean_chars(value).split()) if value else ""
    return text or None
