"""Build the prebuilt sample index that ships in the package (``qa/data/sample_index``).

A first run copies it instead of indexing the sample corpus, which takes minutes on two cores
(README, Quick start). It is built here exactly as ``QA`` would build it, with the default model,
chunking and the ``onnx`` backend (the same vectors as ``torch``), from the package's sample
files given by a relative path, so its articles' sources read ``qa/data/sample/...`` on every
machine; the audit log names this command. ``tests/test_sample_index.py`` fails when the shipped
index no longer matches the corpus, the chunking or the model: run this again then. Usage:
    python -m qa_eval.sample_index
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from qa import QA
from qa.pipeline import prebuilt_sample, sample_corpus
from qa.settings import Settings
from qa.store.files import DATABASE, LOCK

ACTOR = "python -m qa_eval.sample_index (the prebuilt sample index)"


def build(target: Path) -> None:
    """Index the sample corpus into a new folder, check it, and put it in ``target``'s place."""
    package = sample_corpus().parents[2]  # the folder holding qa/
    work = target.with_name(f"{target.name}.new")
    shutil.rmtree(work, ignore_errors=True)
    qa = QA(work, sample=False, settings=Settings.from_env(embedding_backend="onnx"))
    here = Path.cwd()
    os.chdir(package)
    try:
        report = qa.ingest([sample_corpus().relative_to(package)], progress=True, actor=ACTOR)
    finally:
        os.chdir(here)
    if report.rejected:
        raise RuntimeError(f"sample files were rejected: {report.rejected}")
    problems = qa.store.inspect(qa.embedder, sample=20).problems
    if problems:
        raise RuntimeError(f"the new index fails its check: {problems}")
    qa.store.close()
    with sqlite3.connect(work / DATABASE) as conn:  # one file, nothing left in a write-ahead log
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for leftover in [*work.glob(f"{DATABASE}-*"), work / LOCK]:
        leftover.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(work, target)


def main() -> None:
    target = prebuilt_sample()
    build(target)
    print(f"wrote {target} ({sum(f.stat().st_size for f in target.iterdir()) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
