"""The files of an index directory: their names, the manifest, durable writes, the write lock.

Everything here is about the directory itself, not what the files hold: which names belong to
which generation (so a writer can remove the others), how a file is replaced without a reader
ever seeing half of it (temp file, fsync, rename, fsync of the directory), and the ``flock``
that lets one process write at a time.

Besides its two FAISS files, each generation has a small record, ``vectors-<gen>.json``, of their
sizes and SHA-256 checksums (``qa.store.checksums``); it is written with them, before the commit.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, rebuild_hint
from qa.models import SCHEMA_VERSION, IndexSettings
from qa.store import failures

MANIFEST = "manifest.json"
# What an index holds whose manifest predates ``IndexSettings.vector_format``, ``sentence_context``.
LEGACY_VECTOR_FORMAT = "float32"
LEGACY_SENTENCE_CONTEXT = "sentence"
DATABASE = "qa.sqlite3"
LOCK = ".lock"
# Present while a new index is being made (written first, removed after the manifest): what
# tells a creation that was killed, safe to clear and start again, from a lost manifest.
CREATING = ".creating"
_FAISS_FILE = re.compile(r"^(chunks|sentences)-(\d+)(?:\.hnsw)?\.faiss$")
_RECORD_FILE = re.compile(r"^vectors-(\d+)\.json(?:\.tmp)?$")  # a generation's checksums (or its temp file)
_TEMP_SUFFIX = ".faiss.tmp"  # every FAISS file is written under such a name first


def index_files(directory: Path) -> list[Path]:
    """Files of an index in ``directory`` (database, vector files and their checksum records,
    the marker of an unfinished creation), whether or not a manifest is."""
    if not directory.is_dir():
        return []
    return sorted(f for f in directory.iterdir()
                  if f.name.startswith(DATABASE) or _FAISS_FILE.match(f.name) or _RECORD_FILE.match(f.name)
                  or f.name == CREATING)


def refuse_lost_manifest(directory: Path) -> None:
    """Refuse a directory of index files with no manifest and no ``CREATING`` marker: its
    manifest was lost, and nothing may be written over what it holds.

    Raises:
        IndexCorruptError: naming the files and how to recover.
    """
    if present(directory / MANIFEST) or present(directory / CREATING):
        return
    # Asked again last: another process may have finished making the index meanwhile.
    if (found := index_files(directory)) and not present(directory / MANIFEST):
        raise IndexCorruptError(
            f"{directory} holds index files ({', '.join(f.name for f in found[:3])}) but no "
            f"{MANIFEST}, so article-qa cannot tell how they were made. If it is your index, "
            f"restore its manifest from a backup. {rebuild_hint(directory)}")


def vectors_hint(directory: str | Path) -> str:
    """How to repair the vector files alone: the database holds every text they were made from."""
    return (f"`qa rebuild --index {directory}` re-embeds them from the text the database holds "
            "(no original files needed).")


def vector_file(directory: Path, kind: str, generation: int) -> Path:
    """The exact FAISS index (IndexIDMap2) of ``kind`` ("chunks" or "sentences") in a generation."""
    return directory / f"{kind}-{generation}.faiss"


def graph_file(directory: Path, kind: str, generation: int) -> Path:
    """The HNSW graph derived from ``vector_file(directory, kind, generation)``."""
    return directory / f"{kind}-{generation}.hnsw.faiss"


def record_file(directory: Path, generation: int) -> Path:
    """The sizes and checksums of a generation's two vector files (``qa.store.checksums``)."""
    return directory / f"vectors-{generation}.json"


def temp_file(target: Path, unique: str = "") -> Path:
    """Where ``target`` is written before its rename; a name ``stray_files`` recognises.

    ``unique`` tells apart writers that may run at once (readers saving an HNSW graph).
    """
    stem = target.name.removesuffix(".faiss")
    return target.with_name(f"{stem}.{unique}{_TEMP_SUFFIX}" if unique else f"{stem}{_TEMP_SUFFIX}")


def present(path: Path) -> bool:
    """Whether ``path`` exists; in a directory this user may not search, a one-line refusal
    (``Path.exists`` raises a bare ``PermissionError`` there)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except PermissionError as e:
        raise failures.denied_reading(path) from e
    return True


def copy_index(source: Path, target: Path) -> None:
    """Copy the index in ``source`` to ``target`` (absent or empty), so that ``target`` never holds
    part of it: the files go to a new sibling directory that then takes ``target``'s name.

    Contents only (``shutil.copyfile``): a copy from a read-only installed package is writable.
    Copies that killed processes left beside ``target`` are removed first.
    """
    for stale in target.parent.glob(f".{glob.escape(target.name)}.*.copying"):
        pid = stale.name[len(target.name) + 2: -len(".copying")]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.copying")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for f in sorted(source.iterdir()):
            if f.is_file() and f.name != LOCK:
                shutil.copyfile(f, tmp / f.name)
        if target.is_dir():
            target.rmdir()  # empty: a new index's folder, made by the user or an earlier try
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (one of another user's counts: it may not be signalled)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it runs as another user
    return True


def read_manifest(directory: str | os.PathLike[str]) -> IndexSettings:
    """The settings recorded in an index directory's manifest, read before anything else loads.

    Raises:
        IndexNotFoundError: the directory holds no manifest (no index was built there).
        IndexMismatchError: the manifest is unreadable or from another version of article-qa.
    """
    path = Path(directory)
    manifest = path / MANIFEST
    try:
        raw = json.loads(manifest.read_bytes())
        if isinstance(raw, dict):
            raw.setdefault("vector_format", LEGACY_VECTOR_FORMAT)
            raw.setdefault("sentence_context", LEGACY_SENTENCE_CONTEXT)
        settings = IndexSettings.model_validate(raw)
    except (FileNotFoundError, NotADirectoryError):
        raise IndexNotFoundError(f"No index in {path}: build one with `qa ingest PATH --index {path}`.") from None
    except PermissionError as e:
        raise failures.denied_reading(manifest) from e
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


def _generation_of(name: str) -> int | None:
    """The generation a vector file, graph or checksum record (or its temp file) belongs to."""
    match = _FAISS_FILE.match(name)
    if match:
        return int(match.group(2))
    match = _RECORD_FILE.match(name)
    return int(match.group(1)) if match else None


def stray_files(directory: Path, keep: int) -> list[Path]:
    """FAISS files and checksum records of generations other than ``keep``, and temp files."""
    strays = []
    for file in directory.iterdir():
        generation = _generation_of(file.name)
        if (generation is not None and generation != keep) or file.name.endswith((_TEMP_SUFFIX, ".json.tmp")):
            strays.append(file)
    return strays


def remove_stray_files(directory: Path, keep: int) -> None:
    for file in stray_files(directory, keep):
        with contextlib.suppress(OSError):
            file.unlink()


def remove_generation(directory: Path, number: int) -> None:
    """Remove what a failed write left of generation ``number`` before its commit (its files
    are strays anyway; on a full disk they would go on holding the space)."""
    with contextlib.suppress(OSError):
        for file in directory.iterdir():
            if _generation_of(file.name) == number or file.name.endswith(_TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    file.unlink()


# A waiting writer tries the lock again after 1 ms, then ever less often up to every 16 ms: a
# writer committing in a loop frees the lock for well under a millisecond between its commits,
# and a waiter that slept 100 ms between tries missed those gaps for the whole loop.
_FIRST_PAUSE = 0.001
_LAST_PAUSE = 0.016


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
            try:
                fd = os.open(self.directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:  # a read-only mount or directory: a clear refusal, not a traceback
                raise failures.os_error(e, self.directory / LOCK, self.directory, writing=True) from e
            try:
                deadline = time.monotonic() + wait_seconds
                pause = _FIRST_PAUSE
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
                        time.sleep(pause)
                        pause = min(pause * 2, _LAST_PAUSE)
                yield
            finally:
                os.close(fd)  # closing releases the flock
