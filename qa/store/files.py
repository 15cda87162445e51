"""The files of an index directory: their names, the manifest, durable writes, the write lock.

Everything here is about the directory itself, not what the files hold: which names belong to
which generation (so a writer can remove the others), how a file is replaced without a reader
ever seeing half of it (temp file, fsync, rename, fsync of the directory), and the ``flock``
that lets one process write at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexBusyError, IndexMismatchError, IndexNotFoundError, rebuild_hint
from qa.models import SCHEMA_VERSION, IndexSettings

MANIFEST = "manifest.json"
DATABASE = "qa.sqlite3"
LOCK = ".lock"
_FAISS_FILE = re.compile(r"^(chunks|sentences)-(\d+)(?:\.hnsw)?\.faiss$")
_TEMP_SUFFIX = ".faiss.tmp"  # every FAISS file is written under such a name first


def index_files(directory: Path) -> list[Path]:
    """Files of an index in ``directory`` (database, vector files), whether or not a manifest is."""
    if not directory.is_dir():
        return []
    return sorted(f for f in directory.iterdir() if f.name.startswith(DATABASE) or _FAISS_FILE.match(f.name))


def vector_file(directory: Path, kind: str, generation: int) -> Path:
    """The exact FAISS index (IndexIDMap2) of ``kind`` ("chunks" or "sentences") in a generation."""
    return directory / f"{kind}-{generation}.faiss"


def graph_file(directory: Path, kind: str, generation: int) -> Path:
    """The HNSW graph derived from ``vector_file(directory, kind, generation)``."""
    return directory / f"{kind}-{generation}.hnsw.faiss"


def temp_file(target: Path, unique: str = "") -> Path:
    """Where ``target`` is written before its rename; a name ``stray_files`` recognises.

    ``unique`` tells apart writers that may run at once (readers saving an HNSW graph).
    """
    stem = target.name.removesuffix(".faiss")
    return target.with_name(f"{stem}.{unique}{_TEMP_SUFFIX}" if unique else f"{stem}{_TEMP_SUFFIX}")


def read_manifest(directory: str | os.PathLike[str]) -> IndexSettings:
    """The settings recorded in an index directory's manifest, read before anything else loads.

    Raises:
        IndexNotFoundError: the directory holds no manifest (no index was built there).
        IndexMismatchError: the manifest is unreadable or from another version of article-qa.
    """
    path = Path(directory)
    manifest = path / MANIFEST
    if not manifest.exists():
        raise IndexNotFoundError(f"No index in {path}: build one with `qa ingest PATH --index {path}`.")
    try:
        settings = IndexSettings.model_validate_json(manifest.read_bytes())
    except (OSError, ValueError) as e:
        raise IndexMismatchError(
            f"The manifest {manifest} is unreadable or from another version of article-qa "
            f"({str(e).splitlines()[0]}). {rebuild_hint(path)}"
        ) from e
    if settings.schema_version != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The manifest {manifest} is from another version of article-qa (schema "
            f"{settings.schema_version}, this version reads {SCHEMA_VERSION}). {rebuild_hint(path)}")
    return settings


def write_manifest(directory: Path, settings: IndexSettings) -> None:
    atomic_write(directory / MANIFEST, settings.model_dump_json(indent=2).encode())


def atomic_write(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` so that a crash leaves either the old or the new file."""
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    fsync_dir(target.parent)


def fsync_file(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make the renames in ``path`` durable (a rename lives in the directory, not the file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stray_files(directory: Path, keep: int) -> list[Path]:
    """FAISS files of generations other than ``keep``, and temp files."""
    strays = []
    for file in directory.iterdir():
        match = _FAISS_FILE.match(file.name)
        if (match and int(match.group(2)) != keep) or file.name.endswith(_TEMP_SUFFIX):
            strays.append(file)
    return strays


def remove_stray_files(directory: Path, keep: int) -> None:
    for file in stray_files(directory, keep):
        with contextlib.suppress(OSError):
            file.unlink()


class WriteLock:
    """The directory's write lock: one writer at a time, across threads and processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._threads = threading.Lock()  # flock does not exclude threads sharing a process

    @contextlib.contextmanager
    def held(self, wait_seconds: float = 30.0) -> Iterator[None]:
        """Hold the lock, waiting up to ``wait_seconds`` for another writer.

        Raises:
            IndexBusyError: another process still held it after ``wait_seconds``.
        """
        with self._threads:
            fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                deadline = time.monotonic() + wait_seconds
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise IndexBusyError(
                                f"The index in {self.directory} is busy: another process is "
                                "writing to it. Try again when it has finished."
                            ) from None
                        time.sleep(0.1)
                yield
            finally:
                os.close(fd)  # closing releases the flock
