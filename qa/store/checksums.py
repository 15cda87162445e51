"""Checksums of the vector files: a record per generation, written with the files it describes.

FAISS reads a vector file whose bytes were overwritten without complaint (the floats are just
other floats), so nothing but a checksum notices such damage. Each generation's two files are
hashed while they are written (one pass, through a Python writer, so no file is read back) and
their sizes and SHA-256 digests go to ``vectors-<gen>.json`` (``files.record_file``)::

    {"format": 1, "generation": 7, "algorithm": "sha256",
     "files": {"chunks-7.faiss": {"size": 190234, "sha256": "9f2c..."},
               "sentences-7.faiss": {"size": 761234, "sha256": "41aa..."}}}

The record is written (temp file, fsync, rename) after the two files and before the SQLite commit
that puts the generation in force, so it is as crash-safe as they are. Opening an index compares
only sizes (a stat per file); ``qa check`` hashes the files. An index written before records
existed has none: "not recorded" is a note, not a problem, and ``qa rebuild`` writes one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import IndexCorruptError, rebuild_hint
from qa.store import failures
from qa.store.files import atomic_write, record_file, temp_file, vector_file, vectors_hint

FORMAT = 1
ALGORITHM = "sha256"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class FileSum:
    """Size in bytes and SHA-256 (hex) of one file."""

    size: int
    sha256: str


def write_index(index: Any, target: Path) -> FileSum:
    """Write a FAISS index to ``target`` (temp file, fsync, rename), hashing the bytes on the way.

    Writing through a Python callback keeps the operating system's error (``OSError`` with its
    errno: no space, read-only) where FAISS's own writer would fold it into a sentence.
    """
    import faiss as faiss_module

    faiss: Any = faiss_module  # its SWIG stubs lack the callback writer
    tmp = temp_file(target)
    digest = hashlib.sha256()
    size = 0

    def write(data: bytes) -> None:
        nonlocal size
        digest.update(data)
        size += len(data)
        f.write(data)

    try:
        with failures.writing(target, target.parent):
            with tmp.open("wb") as f:
                faiss.write_index(index, faiss.PyCallbackIOWriter(write, _BLOCK))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):  # a half-written file would hold on to the space
            tmp.unlink()
        raise
    return FileSum(size, digest.hexdigest())


def file_sum(path: Path) -> FileSum:
    """Hash a file as it is on disk."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return FileSum(size, digest.hexdigest())


def save_record(directory: Path, generation: int, sums: dict[str, FileSum]) -> None:
    """Write the record of ``generation`` durably (its files are already written)."""
    record = {"format": FORMAT, "generation": generation, "algorithm": ALGORITHM,
              "files": {name: {"size": s.size, "sha256": s.sha256} for name, s in sorted(sums.items())}}
    target = record_file(directory, generation)
    with failures.writing(target, directory):
        atomic_write(target, json.dumps(record, indent=2).encode())


def load_record(directory: Path, generation: int) -> dict[str, FileSum] | None:
    """The recorded sums of a generation's files by file name; None when none was recorded.

    Raises:
        IndexCorruptError: the record exists but cannot be read as one.
    """
    path = record_file(directory, generation)
    try:
        raw = json.loads(path.read_bytes())
        if raw["format"] != FORMAT or raw["algorithm"] != ALGORITHM or raw["generation"] != generation:
            raise ValueError(f"format {raw['format']}, {raw['algorithm']}, generation {raw['generation']}")
        return {str(name): FileSum(int(v["size"]), str(v["sha256"])) for name, v in raw["files"].items()}
    except FileNotFoundError:
        return None
    except PermissionError as e:
        raise failures.denied_reading(path) from e
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexCorruptError(
            f"The checksum record {path} is damaged ({type(e).__name__}: {e}). {vectors_hint(directory)} "
            f"{rebuild_hint(directory)}") from e


def check_sizes(directory: Path, generation: int, kinds: tuple[str, ...]) -> None:
    """Compare each vector file's size with its record: a stat per file, cheap enough for every open.

    Raises:
        IndexCorruptError: a file's size differs from the recorded one (names the file).
    """
    record = load_record(directory, generation)
    if record is None:
        return
    for kind in kinds:
        file = vector_file(directory, kind, generation)
        recorded = record.get(file.name)
        if recorded is None:
            raise IndexCorruptError(f"The checksum record {record_file(directory, generation)} does not "
                                    f"name {file.name}. {vectors_hint(directory)} {rebuild_hint(directory)}")
        try:
            size = file.stat().st_size
        except FileNotFoundError:
            continue  # loading the file reports it missing
        if size != recorded.size:
            raise IndexCorruptError(
                f"The vector file {file} is damaged: {size:,} bytes where {recorded.size:,} were written. "
                f"{vectors_hint(directory)} {rebuild_hint(directory)}")


def verify(directory: Path, generation: int, kinds: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Hash each vector file of ``generation`` against its record: (problems, notes)."""
    record = load_record(directory, generation)
    if record is None:
        return [], [f"checksums of the vector files of generation {generation} were not recorded (the "
                    f"index was written before article-qa recorded them); `qa rebuild --index "
                    f"{directory}` records them"]
    problems = []
    for kind in kinds:
        file = vector_file(directory, kind, generation)
        recorded = record.get(file.name)
        try:
            actual = file_sum(file)
        except OSError as e:
            problems.append(f"{file}: cannot be read ({e.strerror or e})")
            continue
        if recorded is None:
            problems.append(f"{file}: its checksum record {record_file(directory, generation).name} "
                            "does not name it")
        elif actual != recorded:
            problems.append(f"{file}: its SHA-256 checksum differs from the one recorded when it was "
                            "written (its bytes were changed since)")
    return problems, []
