"""The audit log: one append-only row per article added, replaced or deleted, in the index's SQLite.

A row is written inside the same transaction as the change it records, so the log and the
articles can never disagree: a write that rolls back leaves no row, and no write commits without
one. Triggers refuse ``UPDATE`` and ``DELETE`` on the table, so the log is append-only to every
SQLite client, not just to this code. Indexes made before the log existed get the table (empty)
the first time a writable process opens them (``ensure``); nothing else in them changes.
"""

from __future__ import annotations

import datetime as dt
import getpass
import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

from qa.models import AuditAction, AuditEntry

STATEMENTS = (
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('add', 'replace', 'delete')),
        article_id TEXT NOT NULL,
        title TEXT NOT NULL,
        source TEXT,
        old_hash TEXT,
        new_hash TEXT
    )""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END""",
)


def local_actor() -> str:
    """Who a write from this process is by default: the operating-system user, as ``cli:<user>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli:unknown"


def present(conn: sqlite3.Connection) -> bool:
    """Whether the database has the audit table (an index made before it existed has not)."""
    return bool(conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchall())


def ensure(conn: sqlite3.Connection) -> None:
    """Add the audit table and its triggers where they are missing, in one transaction."""
    if present(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        create(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def create(conn: sqlite3.Connection) -> None:
    """Make the table and its triggers (inside the caller's transaction; safe to repeat)."""
    for statement in STATEMENTS:
        conn.execute(statement)


class Stored(NamedTuple):
    """What the log needs of an article as stored before a write changes it."""

    title: str
    source: str
    content_hash: str


def previous(conn: sqlite3.Connection, article_ids: Sequence[str]) -> dict[str, Stored]:
    """The given articles as stored now, by id (unknown ids left out)."""
    if not article_ids:
        return {}
    marks = ",".join("?" * len(article_ids))
    rows = conn.execute(f"SELECT id, title, source, content_hash FROM articles WHERE id IN ({marks})",
                        list(article_ids))
    return {r[0]: Stored(r[1], r[2], r[3]) for r in rows}


def record(conn: sqlite3.Connection, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` (inside the caller's write transaction); their ``id`` is ignored."""
    conn.executemany(
        "INSERT INTO audit (at, actor, action, article_id, title, source, old_hash, new_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(e.at.isoformat(timespec="seconds"), e.actor, e.action, e.article_id, e.title, e.source,
          e.old_hash, e.new_hash) for e in entries])


def entry(actor: str, action: AuditAction, article_id: str, title: str, source: str | None,
          old_hash: str | None, new_hash: str | None) -> AuditEntry:
    """An entry stamped now (UTC)."""
    return AuditEntry(id=0, at=dt.datetime.now(dt.UTC), actor=actor, action=action, article_id=article_id,
                      title=title, source=source, old_hash=old_hash, new_hash=new_hash)


def read(conn: sqlite3.Connection, limit: int | None = None) -> list[AuditEntry]:
    """The log newest first (at most ``limit`` entries); empty for an index without the table."""
    if not present(conn):
        return []
    rows = conn.execute(
        "SELECT id, at, actor, action, article_id, title, source, old_hash, new_hash FROM audit "
        "ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,))
    return [AuditEntry(id=r[0], at=dt.datetime.fromisoformat(r[1]), actor=r[2], action=r[3],
                       article_id=r[4], title=r[5], source=r[6], old_hash=r[7], new_hash=r[8])
            for r in rows]
