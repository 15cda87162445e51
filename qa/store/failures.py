"""What the machine did to a read or write: one-line ``QAError`` messages that say what to do.

A full disk, a read-only mount or a missing permission is not damage, and its message must not
suggest rebuilding the index (which would fail the same way, or destroy a good index). Errors
reach here as ``OSError`` (errno set: Python file I/O, including FAISS files written through a
Python callback), as ``sqlite3.Error`` (SQLite reports only a sentence, no errno) or as FAISS's
``RuntimeError`` (its message ends with the C library's ``strerror`` text).
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexBusyError, IndexReadOnlyError, IndexUnusableError, QAError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# A write that fails within this many bytes of a limit (free space, file size) ran into it.
_MARGIN = 64 << 20
_READ_ONLY = (errno.EROFS,)
_DENIED = (errno.EACCES, errno.EPERM)


def unchanged(directory: Path) -> str:
    """What a failed write leaves: the generation in force, untouched (see ``qa.store``)."""
    return f"the index in {directory} is as it was before this write"


def no_space(path: Path, directory: Path) -> IndexUnusableError:
    return IndexUnusableError(
        f"No space left on the disk to write {path}: free space there (or move the index to a "
        f"larger disk) and run the command again; {unchanged(directory)}.")


def read_only(directory: Path, why: str) -> IndexReadOnlyError:
    return IndexReadOnlyError(
        f"The index in {directory} is read-only ({why}): it answers questions but cannot be "
        f"changed. Copy it to a writable place (`cp -r {directory} NEW`) to change it there.")


def denied_reading(path: Path) -> IndexUnusableError:
    return IndexUnusableError(
        f"Permission denied reading {path}: run as a user who may read it, or give this user "
        "read permission on the index directory and its files.")


def cannot_create(directory: Path, why: str) -> IndexUnusableError:
    """No index can be made in ``directory`` (read-only media, no permission)."""
    return IndexUnusableError(f"Cannot make an index in {directory} ({why}): choose a place this user "
                              "may write with --index (or $QA_INDEX).")


def os_error(error: OSError, path: Path, directory: Path, writing: bool) -> QAError:
    """``error`` from reading or writing ``path`` of the index in ``directory`` as a ``QAError``."""
    code = error.errno
    if writing and code in _NO_SPACE:
        return no_space(path, directory)
    if writing and code == errno.EFBIG:
        return IndexUnusableError(
            f"Writing {path} went past the largest file this process may write (`ulimit -f`, or "
            f"the filesystem's limit): raise the limit or move the index, and run the command "
            f"again; {unchanged(directory)}.")
    if writing and code in _READ_ONLY:
        return read_only(directory, f"{path} is on a read-only filesystem")
    if writing and code in _DENIED:
        return read_only(directory, f"this user may not write {path}")
    if code in _DENIED:
        return denied_reading(path)
    doing = "writing" if writing else "reading"
    reason = error.strerror or str(error)
    return IndexUnusableError(f"{reason} while {doing} {path}: check the disk, then run the command again.")


def faiss_error(error: RuntimeError, path: Path, directory: Path) -> QAError | None:
    """A FAISS ``RuntimeError`` from writing ``path``, if the operating system caused it."""
    text = str(error)
    for code in (*_NO_SPACE, errno.EFBIG, *_READ_ONLY, *_DENIED):
        if os.strerror(code) in text:
            return os_error(OSError(code, os.strerror(code)), path, directory, writing=True)
    return None


def sqlite_error(error: sqlite3.Error, database: Path, writing: bool) -> QAError | None:
    """An ``sqlite3`` error that the environment caused (full disk, read-only, busy, denied),
    else None: the caller decides whether the database is damaged."""
    text = str(error).lower()
    directory = database.parent
    if "disk is full" in text:
        return no_space(database, directory)
    if writing and (getattr(error, "sqlite_errorname", "") or "").startswith("SQLITE_IOERR"):
        return _failed_write(database, directory, str(error))
    if "readonly" in text or "read-only" in text:
        return read_only(directory, f"{database} cannot be written")
    if "locked" in text or "busy" in text:
        return IndexBusyError(f"The index in {directory} is busy: another process holds its database. "
                              "Try again when it has finished.")
    if "unable to open" in text and not os.access(database, os.W_OK if writing else os.R_OK):
        # Asked with os.access, never by opening the file (see probe_read_only).
        code = errno.ENOENT if not database.exists() else errno.EACCES
        return os_error(OSError(code, os.strerror(code)), database, directory, writing)
    return None


def _failed_write(path: Path, directory: Path, reason: str) -> QAError:
    """SQLite says only "disk I/O error" when its log cannot grow (no errno reaches Python), so
    the likely causes are looked for: a file-size limit the index's files have reached, or a
    nearly full disk (the failed write's new vector files still take their space)."""
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        with contextlib.suppress(OSError):
            if max((f.stat().st_size for f in directory.iterdir()), default=0) + _MARGIN >= limit:
                return os_error(OSError(errno.EFBIG, os.strerror(errno.EFBIG)), path, directory, writing=True)
    with contextlib.suppress(OSError):
        free = os.statvfs(directory)
        if free.f_bavail * free.f_frsize < _MARGIN:
            return no_space(path, directory)
    return IndexUnusableError(f"Writing {path} failed ({reason}): check the disk, then run the command "
                              f"again; {unchanged(directory)}.")


@contextlib.contextmanager
def writing(path: Path, directory: Path) -> Iterator[None]:
    """Translate the operating system's refusals while ``path`` is written into ``QAError``s;
    anything else (a bug, a wrong vector size) passes through unchanged."""
    try:
        yield
    except OSError as e:
        raise os_error(e, path, directory, writing=True) from e
    except RuntimeError as e:
        translated = faiss_error(e, path, directory)
        if translated is None:
            raise
        raise translated from e
    except sqlite3.OperationalError as e:
        translated = sqlite_error(e, path, writing=True)
        if translated is None:
            raise
        raise translated from e


def probe_read_only(directory: Path, database: Path, lock: Path) -> str | None:
    """Why this process cannot write the index in ``directory``, or None when it can.

    Asks the filesystem (``ST_RDONLY``: a read-only mount), then creates and removes a file of
    its own in the directory, as every write does (temp files, renames): a read-only mount,
    missing permissions or an immutable directory refuse it whoever runs the process
    (``os.access`` says yes to root on a directory it may not write). Existing files are only
    asked about with ``os.access``, never opened: closing a descriptor of the database drops
    every POSIX lock SQLite holds on it in this process (which corrupts it under concurrent
    writers), and on some filesystems the same is true of the lock file's ``flock``.
    """
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return f"{directory} is on a read-only filesystem"
    except OSError:
        pass
    probe = directory / f".probe-{os.getpid()}-{threading.get_ident()}.tmp"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        probe.unlink()
    except OSError as e:
        if e.errno in _READ_ONLY:
            return f"{directory} is on a read-only filesystem"
        if e.errno in _DENIED:
            return f"this user may not write {directory}"
    for path in (lock, database):
        if path.exists() and not os.access(path, os.W_OK):
            return f"this user may not write {path}"
    return None
