"""Operations: damaged vectors (checksums, `qa check`, `qa rebuild`), a full disk, read-only media,
missing permissions and a damaged database page, each as the issue found them (F5, F6, F7).

Most tests need no model: the index holds vectors of the tests' hashing embedder under the
bundled model's name, so the command line opens it (its embedder loads only to embed, and
`qa check --sample 0` embeds nothing). A full disk is a tiny tmpfs and read-only media a
read-only bind mount, both inside a private mount namespace (``unshare -m``) where the machine
allows one, else those tests skip; a file-size limit (``RLIMIT_FSIZE``) stands in for a full disk
everywhere, and a process that drops to ``nobody`` (or a ``chmod``, run as another user) for
missing permissions: root ignores file modes, so only another user sees them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from damage import overwrite_inside
from embedders import HashingEmbedder

from qa import QA, Guess
from qa.cli import main
from qa.errors import IndexReadOnlyError, IndexUnusableError
from qa.indexing import ingest_paths
from qa.models import DEFAULT_MODEL, IndexSettings
from qa.store import DATABASE, Store
from qa.store.formats import KEEPS

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


class NamedHashing(HashingEmbedder):
    """Hashing vectors under the bundled model's name and width: the command line opens such an
    index without loading a model."""

    def __init__(self) -> None:
        super().__init__(384)

    @property
    def name(self) -> str:
        return DEFAULT_MODEL


class FirstWords:
    """An extractor that needs no model: the first words of each sentence, half sure."""

    def warm_up(self) -> None:
        pass

    def spans(self, question: str, texts: list[str], hints: Sequence[tuple[int, int] | None] = (),
              margin: float = 0.0, titles: Sequence[str] = ()) -> list[Guess]:
        return [Guess(start=0, end=min(len(t), 12), has_answer=0.5) for t in texts]


def squad_questions(squad: Path, count: int) -> list[str]:
    data = json.loads(squad.read_text(encoding="utf-8"))
    questions = [q["question"] for a in data["data"] for p in a["paragraphs"] for q in p["qas"]]
    return random.Random(15).sample(questions, count)


@pytest.fixture
def hashed_index(tmp_path: Path, seed_path: Path, small_squad: Path) -> Path:
    """The seed and two SQuAD articles with hashing vectors under the bundled model's name."""
    directory = tmp_path / "index"
    store = Store.open(directory, IndexSettings(), create=True)
    assert not ingest_paths(store, [seed_path, small_squad], NamedHashing(), batch_vectors=500).rejected
    store.close()
    return directory


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def assert_answers_are_sound(qa: QA, questions: list[str]) -> None:
    """Every question gets an answer (no exception), with a real confidence, and every quote is
    its article's text at the cited offsets."""
    for question in questions:
        a = qa.answer(question)
        assert 0.0 <= a.confidence <= 1.0, question
        assert all(np.isfinite([p.score for p in a.passages])), question
        for c in a.citations:
            article = qa.article(c.article_id)
            assert article is not None and article.text[c.start:c.end] == c.quote == a.text


# ----------------------------------------------------------------------------- F6: damaged vectors
def test_an_overwritten_vector_file_fails_check_and_questions_never_crash(
        hashed_index: Path, small_squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generation = Store.open(hashed_index).generation()
    file = hashed_index / f"chunks-{generation}.faiss"
    overwrite_inside(file)

    status, out, err = run_cli(capsys, "check", "--index", str(hashed_index), "--sample", "0")
    assert status == 1, out
    assert f"  - {file}: its SHA-256 checksum differs" in out
    assert out.strip().endswith(f"`qa rebuild --index {hashed_index}`.") and "Traceback" not in out + err

    qa = QA(hashed_index, embedder=NamedHashing(), extractor=FirstWords(), create=False)
    assert_answers_are_sound(qa, squad_questions(small_squad, 40))

    store = Store.open(hashed_index, vectors=False)
    store.rebuild(NamedHashing())
    status, out, _ = run_cli(capsys, "check", "--index", str(hashed_index), "--sample", "0")
    assert (status, out.strip()) == (0, f"{hashed_index}: OK (no vectors re-embedded: --sample 0)")


def test_check_notes_an_index_written_before_checksums(
        hashed_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for record in hashed_index.glob("vectors-*.json"):
        record.unlink()
    status, out, _ = run_cli(capsys, "check", "--index", str(hashed_index), "--sample", "0")
    assert status == 0
    head, note = out.strip().splitlines()
    assert head.endswith(": OK (no vectors re-embedded: --sample 0)")
    assert note.startswith("  note: checksums of the vector files") and "not recorded" in note
    assert f"qa rebuild --index {hashed_index}" in note


@pytest.mark.slow
def test_check_and_rebuild_with_the_bundled_model(
        index_copy: Path, built_index: Path, small_squad: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The finding end to end, with the real model: 40 KB overwritten inside chunks-N.faiss."""
    original = Store.open(built_index)
    ids = original.row_ids("chunks")
    before = original.chunk_vectors(ids)
    file = index_copy / f"chunks-{original.generation()}.faiss"
    overwrite_inside(file)

    status, out, err = run_cli(capsys, "check", "--index", str(index_copy))
    assert status == 1 and str(file) in out and f"qa rebuild --index {index_copy}" in out, out + err

    assert_answers_are_sound(QA(index_copy, create=False), squad_questions(small_squad, 40))

    status, out, err = run_cli(capsys, "rebuild", "--index", str(index_copy))
    assert status == 0, err
    assert f"{index_copy}: re-embedded {len(ids)} chunks" in out and "Re-embedding" in err  # the bar
    rebuilt = Store.open(index_copy)
    after = rebuilt.chunk_vectors(ids)
    # Both sides rounded by the index's format: their angle is at most twice one rounding's.
    floor = min(0.999, math.cos(2 * math.acos(KEEPS[rebuilt.settings.vector_format])))
    assert np.einsum("ij,ij->i", before, after).min() > floor
    status, out, _ = run_cli(capsys, "check", "--index", str(index_copy))  # 20 + 20 re-embedded
    assert (status, out.strip()) == (0, f"{index_copy}: OK")


# ----------------------------------------------------------------------------- a damaged database
def test_a_damaged_database_page_is_reported_with_how_to_rebuild(
        hashed_index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = hashed_index / DATABASE
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = database.stat().st_size // 4096
    with database.open("r+b") as f:
        f.seek(pages // 2 * 4096)
        f.write(random.Random(2).randbytes(4096))
    status, out, err = run_cli(capsys, "check", "--index", str(hashed_index), "--sample", "0")
    shown = out + err
    assert status == 1 and "Traceback" not in shown
    assert f"qa ingest PATH --index {hashed_index} --rebuild" in shown and "Check it with" not in shown, shown


# ----------------------------------------------------------------------------- F5: a full disk
# Runs `qa ingest` in a process of its own (a file-size limit, or an index on a tiny tmpfs), with
# the hashing embedder in place of the bundled one, then checks the index it left.
INGEST = f"""
import contextlib, io, json, os, resource, signal, sys
sys.path.insert(0, {str(TESTS)!r})
import qa.embedding, qa.pipeline
from qa.cli import main
from qa.models import IndexSettings
from qa.store import Store
from test_operations import NamedHashing

qa.pipeline.BundledEmbedder = lambda *args, **kwargs: NamedHashing()
index, corpus, first, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store.open(index, IndexSettings(), create=True)
assert main(["ingest", first, "--index", index]) == 0
generation = store.generation()
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails with EFBIG
    size = max(f.stat().st_size for f in os.scandir(index))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + limit, resource.RLIM_INFINITY))
err = io.StringIO()
with contextlib.redirect_stderr(err):
    status = main(["ingest", corpus, "--index", index])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
with contextlib.redirect_stdout(io.StringIO()) as out:
    checked = main(["check", "--index", index, "--sample", "0"])
store = Store.open(index)
print(json.dumps({{"status": status, "stderr": err.getvalue(), "check": checked, "check_out": out.getvalue(),
                  "before": generation, "after": store.generation(), "articles": store.stats().articles,
                  "files": sorted(os.listdir(index))}}))
"""


@functools.cache
def namespaces() -> bool:
    """Whether this process may make a private mount namespace and mount in it."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def run_script(script: str, args: list[str], tmp: Path, wrap: list[str] | None = None) -> dict[str, Any]:
    path = tmp / "script.py"
    path.write_text(script, encoding="utf-8")
    command = [*(wrap or []), sys.executable, str(path), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("limit", ["file-size", "tmpfs"])
def test_a_full_disk_during_ingest_is_one_line_and_the_index_stays_consistent(
        limit: str, tmp_path: Path, seed_path: Path, small_squad: Path) -> None:
    if limit == "file-size":
        index = tmp_path / "index"
        result = run_script(INGEST, [str(index), str(small_squad), str(seed_path), str(64 << 10)], tmp_path)
    else:
        if not namespaces():
            pytest.skip("no private mount namespace here (unshare -m) for a tiny tmpfs")
        mount = tmp_path / "disk"
        mount.mkdir()
        index = mount / "index"
        wrap = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o size=1m tmpfs "{mount}" && exec "$@"', "sh"]
        result = run_script(INGEST, [str(index), str(small_squad), str(seed_path), "0"], tmp_path, wrap)

    assert result["status"] == 1
    stderr = result["stderr"]
    # The progress bar shares stderr (and, left open by the failure, the error's line).
    errors = [line[line.index("error: "):] for line in stderr.replace("\r", "\n").splitlines() if "error: " in line]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    message = errors[0]
    assert str(index) in message and "run the command again" in message
    assert ("No space left" in message and "free space" in message) if limit == "tmpfs" else "ulimit -f" in message
    assert f"the index in {index} is as it was before this write" in message
    # Consistent and unchanged: `qa check` passes, the failed write left no files behind.
    assert result["check"] == 0 and result["check_out"].startswith(f"{index}: OK"), result["check_out"]
    assert result["after"] == result["before"] and result["articles"] == 1
    assert not [f for f in result["files"] if f.endswith(".tmp")]
    assert {f for f in result["files"] if f.endswith((".faiss", ".json"))} == {
        f"chunks-{result['after']}.faiss", f"sentences-{result['after']}.faiss", f"vectors-{result['after']}.json",
        "manifest.json"}


# ----------------------------------------------------------------------------- F7: read-only, permissions
# Reads and refused writes on an index this process cannot write, each command's output captured.
READ_ONLY = f"""
import contextlib, io, json, os, shutil, sys
sys.path.insert(0, {str(TESTS)!r})
import faiss, numpy, tqdm
import qa.embedding, qa.pipeline
from qa import QA
from qa.cli import main
from qa.errors import QAError
from qa.store import Store
from test_operations import FirstWords, NamedHashing, assert_answers_are_sound

qa.pipeline.BundledEmbedder = qa.embedding.BundledEmbedder = lambda *args, **kwargs: NamedHashing()
index, questions, user = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
if user == "nobody":  # everything is imported first: nobody may not read root's Python
    os.setgid(65534)
    os.setuid(65534)
results = {{}}
article = None
for name, argv in [("stats", ["stats", "--articles"]), ("check", ["check", "--sample", "0"]),
                   ("search", ["search", "Who won Super Bowl 50?"]), ("delete", ["delete", "ARTICLE"]),
                   ("rebuild", ["rebuild"])]:
    argv = [a.replace("ARTICLE", article or "") for a in argv]
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
        status = main([*argv, "--index", index])
    results[name] = [status, out.getvalue(), err.getvalue()]
    if name == "stats":
        article = out.getvalue().splitlines()[2].split()[0]
qa = QA(index, embedder=NamedHashing(), extractor=FirstWords(), create=False)
assert_answers_are_sound(qa, questions)
results["found"] = sum(qa.answer(q).found for q in questions)
try:
    qa.store.write([], [article])
    results["write"] = "written"
except QAError as e:
    results["write"] = type(e).__name__
results["read_only"] = qa.store.read_only
try:
    Store.open(os.path.join(index, "new"), create=True)
except QAError as e:
    results["create"] = str(e)
print(json.dumps(results))
"""


@contextlib.contextmanager
def shared_copy(index: Path) -> Iterator[Path]:
    """A copy of ``index`` in a directory another user may enter (pytest's is root's alone)."""
    parent = Path(tempfile.mkdtemp(prefix="qa-operations-"))
    try:
        parent.chmod(0o755)
        yield Path(shutil.copytree(index, parent / "index"))
    finally:
        for path in (parent, *parent.rglob("*")):
            with contextlib.suppress(OSError):
                path.chmod(0o755 if path.is_dir() else 0o644)
        shutil.rmtree(parent, ignore_errors=True)


def assert_read_only(result: dict[str, Any], index: Path, why: str) -> None:
    for name in ("stats", "check", "search"):
        status, out, err = result[name]
        assert status == 0 and err == "", (name, out, err)
    assert result["stats"][1].startswith(f"index {index}: 3 articles")
    assert result["check"][1].startswith(f"{index}: OK")
    for name in ("delete", "rebuild"):
        status, out, err = result[name]
        assert status == 1 and out == "" and err.count("\n") == 1 and "Traceback" not in err, (name, err)
        assert err.startswith(f"error: The index in {index} is read-only ({why}") and "cp -r" in err, err
    assert result["write"] == "IndexReadOnlyError" and result["read_only"].startswith(why)
    assert result["found"] > 0
    assert result["create"].startswith(f"Cannot make an index in {index}/new (") and "--index" in result["create"]


def test_an_index_on_read_only_media_answers_and_refuses_writes(
        hashed_index: Path, small_squad: Path, tmp_path: Path) -> None:
    if not namespaces():
        pytest.skip("no private mount namespace here (unshare -m) for a read-only bind mount")
    before = {f.name: f.stat().st_mtime_ns for f in hashed_index.iterdir()}
    wrap = ["unshare", "-m", "sh", "-c",
            f'mount --bind "{hashed_index}" "{hashed_index}" && mount -o remount,bind,ro "{hashed_index}" '
            '&& exec "$@"', "sh"]
    questions = json.dumps(squad_questions(small_squad, 10))
    result = run_script(READ_ONLY, [str(hashed_index), questions, "self"], tmp_path, wrap)
    assert_read_only(result, hashed_index, f"{hashed_index} is on a read-only filesystem")
    assert {f.name: f.stat().st_mtime_ns for f in hashed_index.iterdir()} == before


def test_a_user_who_may_not_write_the_index_reads_it_and_is_refused_writes(
        hashed_index: Path, small_squad: Path, tmp_path: Path) -> None:
    questions = json.dumps(squad_questions(small_squad, 10))
    with shared_copy(hashed_index) as index:
        if os.geteuid() == 0:
            user = "nobody"  # root may write anything: the reader is another user
        else:
            user = "self"
            for path in (index, *index.iterdir()):
                path.chmod(0o555 if path.is_dir() else 0o444)
        result = run_script(READ_ONLY, [str(index), questions, user], tmp_path)
        assert_read_only(result, index, "this user may not write")


def test_an_index_this_user_may_not_read_is_a_one_line_refusal(hashed_index: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to read as another user")  # as another user, chmod 0 is enough
    with shared_copy(hashed_index) as index:
        index.chmod(0o700)
        script = ("import os, sys\nfrom qa.store import Store\nfrom qa.errors import QAError\n"
                  "os.setgid(65534)\nos.setuid(65534)\n"
                  "try:\n    Store.open(sys.argv[1])\nexcept QAError as e:\n    print(type(e).__name__, e)\n")
        done = subprocess.run([sys.executable, "-c", script, str(index)], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith(f"IndexUnusableError Permission denied reading {index}/manifest.json")
    assert done.stdout.count("\n") == 1


# ----------------------------------------------------------------------------- refused early
def test_a_read_only_store_refuses_a_write_before_touching_anything(hashed_index: Path) -> None:
    store = Store.open(hashed_index)
    store.read_only = "as a test says"  # what Store.open finds on read-only media
    with pytest.raises(IndexReadOnlyError, match="read-only \\(as a test says\\)"):
        store.delete(store.articles()[0].id)
    with pytest.raises(IndexReadOnlyError):
        store.rebuild(NamedHashing())
    assert isinstance(IndexReadOnlyError("x"), IndexUnusableError)


def test_opening_and_checking_never_open_the_database_file_beside_sqlite(
        hashed_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing any descriptor of the database drops every POSIX lock SQLite holds on it in this
    process; a probe that opened it corrupted the index under the SIGKILL test's writers."""
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, *args, **kwargs)

    real_path_open = Path.open

    def path_spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(self))
        return real_path_open(self, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr(Path, "open", path_spy)
    store = Store.open(hashed_index)
    store.inspect(NamedHashing())
    store.delete(store.articles()[0].id)
    Store.open(hashed_index).stats()
    assert opened and not [p for p in opened if Path(p).name.startswith(DATABASE)], opened
