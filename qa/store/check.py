"""The integrity check behind ``qa check``: does every part of the index agree with the others?

It reads everything (every id, every chunk's text, every article's hash), so it is a command to
run on demand, not something ``Store.open`` does.
"""

from __future__ import annotations

from qa.models import content_hash
from qa.store.rows import Rows, stored_date
from qa.store.vectors import KINDS, Generation, index_ids


def find_problems(rows: Rows, vectors: Generation) -> list[str]:
    """What is wrong with the database and the generation it names; empty when healthy.

    Checks SQLite's own integrity, that SQLite, FTS5 and FAISS hold the same ids, that each
    chunk's text is still its article's text at its offsets, and that each article's content
    hash matches its stored metadata and text (a row edited outside article-qa does not).
    """
    found: list[str] = []
    integrity = rows.query("PRAGMA integrity_check")[0][0]
    if integrity != "ok":
        found.append(f"SQLite integrity check failed: {integrity}")
    for kind in KINDS:
        stored = set(rows.row_ids(kind))
        in_faiss = set(index_ids(vectors.index(kind)).tolist())
        if stored != in_faiss:
            found.append(
                f"{kind}: {len(stored - in_faiss)} ids in SQLite lack a vector and "
                f"{len(in_faiss - stored)} vectors have no row")
        fts = {int(r[0]) for r in rows.query(f"SELECT rowid FROM {kind[:-1]}_fts")}
        if fts != stored:
            found.append(f"{kind}: the full-text table disagrees with the {kind} table")
    for r in rows.query('SELECT c.id, c.start, c."end", c.text, a.text FROM chunks c '
                        "JOIN articles a ON a.id = c.article_id"):
        if r[4][r[1]:r[2]] != r[3]:
            found.append(f"chunk {r[0]}: its text no longer matches its article at its offsets")
    for r in rows.query("SELECT id, title, author, published, url, text, content_hash FROM articles"):
        try:
            digest = content_hash(r[1], r[2], stored_date(r[3]), r[4], r[5])
        except ValueError:  # not an ISO date: ingest never stored it, so the row was edited
            digest = None
        if digest != r[6]:
            found.append(f"article {r[0]}: its content hash does not match its text")
    return found
