"""Index store: SQLite (articles, chunks, sentences, FTS5) beside FAISS vector files.

Layout of an index directory::

    manifest.json            IndexSettings that shaped the index (checked on open)
    qa.sqlite3               articles, chunks, sentences, chunk_fts, sentence_fts, meta
    chunks-<gen>.faiss       IndexIDMap2 of chunk vectors, ids = chunks.id, stored in the manifest's
                             vector format (float32, float16, sq8 or pq; ``formats.py``)
    sentences-<gen>.faiss    IndexIDMap2 of sentence vectors, ids = sentences.id, likewise
    vectors-<gen>.json       size and SHA-256 of the two vector files of <gen> (``checksums.py``)
    <kind>-<gen>.hnsw.faiss  HNSW links over a large <kind>-<gen>.faiss, without vectors: it searches
                             that file's own stored codes (a rebuildable cache)
    .lock                    flock held by the one writer
    .creating                present only while a new index is made (before the database, removed
                             after the manifest): a creation killed half way is cleared and made
                             again; index files with neither it nor a manifest are refused

Crash safety comes from generations: a write builds new FAISS files and their checksum record
under the next generation number (temp file, fsync, rename), then commits the SQLite transaction
that records that number. A crash before the commit leaves the old generation in force (the new
files are strays, removed by the next writer); a crash after it leaves the new one complete.
SQLite and FAISS therefore always agree on the generation SQLite names.

Above ``approximate_above`` vectors (``Settings.approximate_above``, default 100,000) unfiltered
searches go through an HNSW graph derived from the exact index (see ``qa.store.vectors``).

The parts, each behind the ``Store`` facade (``qa.store.store``):

    files.py    file names, the manifest, durable writes, the write lock, stray-file tidying
    rows.py     the SQLite schema, per-thread connections, the SQL of articles/chunks/sentences
    vectors.py  FAISS generations: load, save, exact and HNSW search, stored vectors
    formats.py  the vector formats: their FAISS storage, training, conversion between them
    lexical.py  FTS5 BM25 queries and term statistics (FTS5's own stemming)
    check.py      the integrity check behind ``qa check`` (database, checksums, a re-embedded sample)
    checksums.py  sizes and SHA-256 of each generation's vector files, written with them
    rebuild.py    re-embedding every vector from the stored text (``qa rebuild``)
    failures.py   full disk, read-only media, denied permissions: one-line errors, not damage

A directory this process cannot write (read-only mount, permissions) opens read-only: reads work
and writes raise ``IndexReadOnlyError``. Opening compares the vector files' sizes with their
record; only ``qa check`` reads every byte.
"""

from __future__ import annotations

from qa.store.check import CheckReport
from qa.store.files import DATABASE, MANIFEST, read_manifest
from qa.store.rebuild import RebuildReport
from qa.store.rows import Kind, Prepared, SentenceRow
from qa.store.store import DEFAULT_APPROXIMATE_ABOVE, Store

__all__ = ["DATABASE", "DEFAULT_APPROXIMATE_ABOVE", "MANIFEST", "CheckReport", "Kind", "Prepared",
           "RebuildReport", "SentenceRow", "Store", "read_manifest"]
