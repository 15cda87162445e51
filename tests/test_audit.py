"""The audit log: a row per add, replace and delete (who, when, source, old and new hash), in the
write's own transaction; append-only; added to older indexes on open; listed by ``qa log``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from embedders import HashingEmbedder

from qa import QA
from qa.cli import main
from qa.store import DATABASE, Store

ARTICLE = "# Alpha\n\nAlpha is the first letter. It comes before beta.\n"
CHANGED = "# Alpha\n\nAlpha is the first letter. It comes before beta and gamma.\n"


def _qa(directory: Path) -> QA:
    return QA(directory, sample=False, embedder=HashingEmbedder())


def test_add_replace_delete_each_leave_one_row(tmp_path: Path) -> None:
    qa = _qa(tmp_path / "idx")
    source = tmp_path / "alpha.md"
    source.write_text(ARTICLE, encoding="utf-8")
    added = qa.ingest([source], actor="tester").added[0]
    first = qa.article(added.id)
    qa.ingest([source], actor="tester")  # unchanged: no write, no row
    source.write_text(CHANGED, encoding="utf-8")
    qa.ingest([source])  # the CLI's path: replaces by id, as by this process's user
    second = qa.article(added.id)
    assert qa.delete(added.id, actor="admin") and not qa.delete(added.id, actor="admin")
    assert first is not None and second is not None

    log = qa.audit_log()
    assert [e.action for e in log] == ["delete", "replace", "add"]  # newest first
    delete, replace, add = log
    assert (add.actor, add.old_hash, add.new_hash, add.source) == ("tester", None, first.content_hash, str(source))
    assert replace.actor.startswith("cli:")
    assert (replace.old_hash, replace.new_hash) == (first.content_hash, second.content_hash)
    assert (delete.actor, delete.old_hash, delete.new_hash, delete.source) == (
        "admin", second.content_hash, None, str(source))
    assert all(e.article_id == added.id and e.title == "Alpha" and e.at.tzinfo is not None for e in log)
    assert add.at <= replace.at <= delete.at and [e.id for e in log] == [3, 2, 1]
    assert [e.id for e in qa.audit_log(limit=1)] == [3]


def test_the_log_is_append_only_to_any_sqlite_client(tmp_path: Path) -> None:
    qa = _qa(tmp_path / "idx")
    (tmp_path / "a.md").write_text(ARTICLE, encoding="utf-8")
    qa.ingest([tmp_path / "a.md"])
    conn = sqlite3.connect(tmp_path / "idx" / DATABASE)
    for statement in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    conn.close()
    assert [e.actor for e in qa.audit_log()] == [qa.audit_log()[0].actor] and len(qa.audit_log()) == 1


def test_a_failed_write_leaves_no_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qa = _qa(tmp_path / "idx")
    (tmp_path / "a.md").write_text(ARTICLE, encoding="utf-8")
    from qa.store.vectors import Generation

    def fail(self: Generation) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Generation, "save", fail)
    with pytest.raises(Exception, match="space"):
        qa.ingest([tmp_path / "a.md"])
    monkeypatch.undo()
    assert qa.audit_log() == [] and qa.articles() == []


def test_an_index_without_the_table_gets_it_on_open_and_keeps_everything(tmp_path: Path) -> None:
    qa = _qa(tmp_path / "idx")
    (tmp_path / "a.md").write_text(ARTICLE, encoding="utf-8")
    qa.ingest([tmp_path / "a.md"])
    before = qa.articles()
    qa.store.close()
    conn = sqlite3.connect(tmp_path / "idx" / DATABASE)
    conn.execute("DROP TABLE audit")  # as made by a version without the log
    conn.commit()
    conn.close()
    assert Store.open(tmp_path / "idx").audit_log() == []
    reopened = _qa(tmp_path / "idx")
    assert reopened.articles() == before and reopened.check() == []
    reopened.delete(before[0].id, actor="admin")
    assert [e.action for e in reopened.audit_log()] == ["delete"]


def test_ingest_can_hold_replacements_for_confirmation(tmp_path: Path) -> None:
    qa = _qa(tmp_path / "idx")
    source = tmp_path / "alpha.md"
    source.write_text(ARTICLE, encoding="utf-8")
    (tmp_path / "beta.md").write_text("# Beta\n\nBeta is the second letter.\n", encoding="utf-8")
    article = qa.ingest([source]).added[0]
    stored = qa.article(article.id)
    source.write_text(CHANGED, encoding="utf-8")
    report = qa.ingest([source, tmp_path / "beta.md"], replace=False)
    assert [a.title for a in report.added] == ["Beta"] and not report.updated  # new ones go in
    held = report.held[0]
    assert stored is not None and qa.article(article.id) == stored  # the replacement did not
    assert (held.id, held.old_title, held.new_title, held.old_hash) == (article.id, "Alpha", "Alpha",
                                                                          stored.content_hash)
    assert (held.old_chars, held.new_chars) == (len(stored.text), len(stored.text) + len(" and gamma"))
    assert held.new_hash != held.old_hash
    assert qa.ingest([source], replace=False).held == [held]  # still held until confirmed
    assert [a.id for a in qa.ingest([source]).updated] == [article.id]


def test_qa_log_lists_newest_first_and_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qa = _qa(tmp_path / "idx")
    (tmp_path / "a.md").write_text(ARTICLE, encoding="utf-8")
    article = qa.ingest([tmp_path / "a.md"], actor="tester").added[0]
    qa.delete(article.id, actor="admin")
    assert main(["log", "--index", str(tmp_path / "idx")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "delete" in lines[0] and "by admin" in lines[0] and "add" in lines[1]
    assert main(["log", "--index", str(tmp_path / "idx"), "--json", "-n", "1"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [(e["action"], e["actor"], e["new_hash"]) for e in entries] == [("delete", "admin", None)]
