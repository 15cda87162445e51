"""The integrity check behind ``qa check``: does every part of the index agree with the others?

It reads everything (every id, every chunk's text, every article's hash, every byte of the vector
files), so it is a command to run on demand, not something ``Store.open`` does. Three kinds of
damage need three kinds of evidence:

- the database against itself: SQLite's ``PRAGMA integrity_check``, FTS5 and the tables holding
  the same ids, chunk text equal to the article text at its offsets, content hashes;
- the vector files against what was written: their SHA-256 checksums (``qa.store.checksums``);
  an index written before checksums were recorded gets a note instead; and their storage
  against the vector format the manifest records (``qa.store.formats``);
- the vectors against their text: a seeded sample of chunks and sentences embedded afresh with
  the index's embedder must point where the stored vectors do (cosine >= ``MIN_COSINE``, or
  ``formats.PQ_MIN_COSINE`` for pq, whose codes keep less of each vector). This
  catches vectors made by another model or damaged before a checksum was recorded. It runs only
  when everything else passed: it costs a model load, and a damaged index needs repair anyway.

A problem that only the vectors have (checksum, sample, FAISS ids) is repaired by ``qa rebuild``,
which re-embeds the text the database holds; the others need the original files.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qa.errors import IndexCorruptError
from qa.models import IndexSettings, VectorFormat, content_hash
from qa.store import checksums, formats
from qa.store.files import vector_file
from qa.store.rebuild import DocumentEncoder
from qa.store.rows import Rows, stored_date
from qa.store.vectors import KINDS, Generation, index_ids, stored

# Fresh and stored vectors of one text agree to ~1.0 with the same backend; onnx-int8 against
# torch gave a minimum of 0.991 over 500 chunks (README), so 0.98 leaves backends room while a
# damaged or foreign vector (cosine near 0, or NaN) is far below.
MIN_COSINE = 0.98
DEFAULT_SAMPLE = 20


@dataclass
class CheckReport:
    """What ``qa check`` found: ``problems`` (the index is not sound), ``notes`` (it is, but
    something was not verified), and whether ``qa rebuild`` repairs every problem."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rebuild_repairs: bool = True

    def problem(self, message: str, rebuild_repairs: bool) -> None:
        self.problems.append(message)
        self.rebuild_repairs = self.rebuild_repairs and rebuild_repairs


def inspect(rows: Rows, load: Callable[[], Generation], settings: IndexSettings,
            encoder: DocumentEncoder | None = None, sample: int = DEFAULT_SAMPLE, seed: int = 0) -> CheckReport:
    """Check the database, then the vector files of the generation ``load`` returns (against the
    manifest's ``settings``) and (given an ``encoder``) ``sample`` chunks and ``sample`` sentences
    re-embedded as ``settings`` embeds them; see the module docstring. Nothing raises for damage:
    it is all in the report."""
    report = CheckReport()
    failed = database_problems(rows, "integrity_check")
    if failed:
        report.problem(failed, False)
        return report  # the other checks would read a damaged file; rebuilding is the way on
    try:
        vectors = load()
    except IndexCorruptError as e:  # a missing or damaged vector file: re-embedding replaces it
        report.problem(str(e), True)
        return report
    problems, notes = checksums.verify(vectors.directory, vectors.number, KINDS)
    for p in problems:
        report.problem(p, True)
    report.notes.extend(notes)
    _format(vectors, settings.vector_format, report)
    _rows_and_vectors(rows, vectors, report)
    if encoder is None or sample <= 0:
        return report
    if report.problems:  # the index needs repair anyway; the sample would load a model to say so again
        report.notes.append("no vectors were re-embedded: repair the problems above first")
        return report
    for kind in KINDS:
        _sample(rows, vectors, kind, encoder, sample, seed, settings, report)
    return report


def database_problems(rows: Rows, pragma: str = "quick_check") -> str | None:
    """SQLite's own verdict on the database file as one line, or None when it is sound.

    ``quick_check`` reads every page but skips matching indexes to their tables, so it costs
    about a read of the file; ``integrity_check`` does both.
    """
    try:
        found = [line for r in rows.query(f"PRAGMA {pragma}(5)") for line in str(r[0]).splitlines()]
    except IndexCorruptError as e:  # so damaged that SQLite refuses to check it
        found = [str(e.__cause__ or e)]
    found = [line for line in found if not line.startswith("***")]
    if found == ["ok"]:
        return None
    return f"SQLite {pragma} of {rows.path} failed: {'; '.join(found[:3])}"


def _format(vectors: Generation, vector_format: VectorFormat, report: CheckReport) -> None:
    """Each vector file holds the storage of the manifest's vector format (a crash while
    ``qa rebuild --vector-format`` committed can leave the manifest ahead of the files)."""
    for kind in KINDS:
        found = formats.format_of(vectors.index(kind))
        if found != vector_format:
            file = vector_file(vectors.directory, kind, vectors.number)
            report.problem(f"{file}: holds {found or 'an unknown storage'} vectors where the manifest records "
                           f"the vector format {vector_format}", True)


def _rows_and_vectors(rows: Rows, vectors: Generation, report: CheckReport) -> None:
    """SQLite, FTS5 and FAISS hold the same ids, chunk texts and hashes match."""
    for kind in KINDS:
        in_rows = set(rows.row_ids(kind))
        in_faiss = set(index_ids(vectors.index(kind)).tolist())
        if in_rows != in_faiss:
            report.problem(f"{kind}: {len(in_rows - in_faiss)} ids in SQLite lack a vector and "
                           f"{len(in_faiss - in_rows)} vectors have no row", True)
        fts = {int(r[0]) for r in rows.query(f"SELECT rowid FROM {kind[:-1]}_fts")}
        if fts != in_rows:
            report.problem(f"{kind}: the full-text table disagrees with the {kind} table", False)
    for r in rows.query('SELECT c.id, c.start, c."end", c.text, a.text FROM chunks c '
                        "JOIN articles a ON a.id = c.article_id"):
        if r[4][r[1]:r[2]] != r[3]:
            report.problem(f"chunk {r[0]}: its text no longer matches its article at its offsets", False)
    for r in rows.query("SELECT id, title, author, published, url, text, content_hash FROM articles"):
        try:
            digest = content_hash(r[1], r[2], stored_date(r[3]), r[4], r[5])
        except ValueError:  # not an ISO date: ingest never stored it, so the row was edited
            digest = None
        if digest != r[6]:
            report.problem(f"article {r[0]}: its content hash does not match its text", False)


def _sample(rows: Rows, vectors: Generation, kind: str, encoder: DocumentEncoder, size: int,
            seed: int, settings: IndexSettings, report: CheckReport) -> None:
    """Re-embed ``size`` seeded rows of ``kind`` and compare with their stored vectors."""
    ids = rows.row_ids(kind)
    picked = sorted(random.Random(f"{seed}:{kind}").sample(ids, min(size, len(ids))))
    if not picked:
        return
    texts = rows.texts(kind, picked, settings)
    fresh = np.asarray(encoder.encode_documents([texts[i] for i in picked]), dtype=np.float32)
    kept = stored(vectors.index(kind), picked, fresh.shape[1])
    least = formats.PQ_MIN_COSINE if formats.format_of(vectors.index(kind)) == "pq" else MIN_COSINE
    with np.errstate(all="ignore"):
        norms = np.linalg.norm(fresh, axis=1) * np.linalg.norm(kept, axis=1)
        cosine = np.einsum("ij,ij->i", fresh, kept) / np.where(norms == 0, 1.0, norms)
        both_empty = (np.abs(fresh).sum(axis=1) == 0) & (np.abs(kept).sum(axis=1) == 0)
    cosine[both_empty] = 1.0  # a text with nothing to embed (an embedder may give it zeros)
    bad = [i for i, c in zip(picked, cosine.tolist(), strict=True) if not c >= least]  # NaN too
    if bad:
        file = vector_file(vectors.directory, kind, vectors.number)
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        report.problem(f"{file}: {len(bad)} of {len(picked)} sampled {kind[:-1]} vectors differ from a fresh "
                       f"embedding of their text (cosine below {least}; ids {shown})", True)
