"""Reliability: crashes (SIGKILL mid-ingest and mid-delete), concurrent readers and writers, and
damaged index files.

The crash tests drive the real ``qa`` command in a subprocess with the real model over small
articles cut from SQuAD paragraphs, with commits lowered to a few articles each
(``QA_BATCH_VECTORS``) so one ingest makes many crash-safe steps to be killed in. Counts go to
the reliability record only when asked (``eval/reliability.py`` writes the README's
``eval/reports/reliability.json``; a plain test run writes nothing).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from reliability_report import record

from qa import QA
from qa.chunking import chunk_article, split_sentences
from qa.cli import main
from qa.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, QAError
from qa.ingest import iter_paths, read_articles
from qa.models import Answer, IndexSettings, Passage
from qa.store import DATABASE, MANIFEST, Store
from qa.store.files import CREATING, index_files, vector_file
from qa.store.vectors import index_ids

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
SEED = 20240611
ARTICLES = 40
BATCH_VECTORS = 12  # four small articles per commit: ten commits for the whole batch


# ----------------------------------------------------------------------------- data
def squad_paragraphs() -> list[tuple[str, str, list[str]]]:
    """(title, context, questions) of the SQuAD paragraphs not in the shared ``built_index``."""
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    return [(a["title"].replace("_", " "), p["context"], [q["question"] for q in p["qas"]])
            for a in data["data"] if a["title"] not in ("Super_Bowl_50", "Nikola_Tesla")
            for p in a["paragraphs"]]


def make_articles(directory: Path, count: int, skip: int = 0) -> list[str]:
    """Write ``count`` small Markdown articles (two sentences of a SQuAD paragraph each).

    Returns the SQuAD questions of their paragraphs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    questions = []
    for n, (title, context, qs) in enumerate(squad_paragraphs()[skip:skip + count], start=skip):
        sentences = split_sentences(context)[:2]
        text = context[sentences[0].start:sentences[-1].end]
        (directory / f"article-{n:03d}.md").write_text(f"# {title} {n}\n\n{text}\n", encoding="utf-8")
        questions.extend(qs)
    return questions


def expected_shapes(directory: Path) -> dict[str, tuple[int, int]]:
    """Article id -> (chunks, sentences) that a complete ingest of ``directory`` writes."""
    articles, rejected = read_articles(iter_paths([directory]))
    assert not rejected
    settings = IndexSettings()
    shapes = {}
    for a in articles:
        sentences = split_sentences(a.text)
        shapes[a.id] = (len(chunk_article(a, sentences, settings)), len(sentences))
    return shapes


def verify_consistent(directory: Path, expected: dict[str, tuple[int, int]]) -> dict[str, int]:
    """The index opens, checks clean, SQLite and FAISS hold the same ids, and every article is
    either wholly there or wholly absent. Returns counts for the report."""
    if not (directory / MANIFEST).exists():  # killed while creating: not yet an index
        assert (directory / CREATING).exists() or not index_files(directory), "index files, no marker"
        return {"articles": 0, "generation": -1}
    store = Store.open(directory)
    assert store.check() == []
    import faiss

    for kind in ("chunks", "sentences"):
        index = faiss.read_index(str(vector_file(directory, kind, store.generation())))
        assert store.row_ids(kind) == sorted(index_ids(index).tolist()), kind
    sentences = {a: len(ids) for a, ids in store.ids_by_article("sentences").items()}
    for info in store.articles():
        assert info.id in expected, info.id
        assert (info.chunks, sentences.get(info.id, 0)) == expected[info.id], f"{info.id} is half written"
    return {"articles": len(store.articles()), "generation": store.generation()}


def newer_vector_files(directory: Path, since: float = 0.0) -> bool:
    """Whether FAISS files of a generation later than the committed one (written after
    ``since``) are on disk: a crash came after new vectors were saved, before SQLite committed."""
    if not (directory / DATABASE).exists():
        return False
    with sqlite3.connect(directory / DATABASE) as conn:
        rows = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchall()
    committed = int(rows[0][0]) if rows else -1
    newer = []
    for f in directory.glob("*-*.faiss*"):
        with contextlib.suppress(OSError):
            if int(f.name.split("-")[1].split(".")[0]) > committed and f.stat().st_mtime >= since:
                newer.append(f)
    return bool(newer)


# ----------------------------------------------------------------------------- processes
def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Run ``qa ARGS`` with its output (the progress bar included) in ``log``, a new file."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "QA_BATCH_VECTORS": str(BATCH_VECTORS)}
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "qa.cli", *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def holds_lock(pid: int, directory: Path) -> bool:
    """Whether process ``pid`` holds the index's write lock (per /proc/locks): it is writing."""
    try:
        inode = (directory / ".lock").stat().st_ino
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        parts = line.split()  # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"; waiters have "->"
        if len(parts) >= 6 and parts[1] == "FLOCK" and parts[4] == str(pid) and \
                parts[5].endswith(f":{inode}"):
            return True
    return False


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float,
             poll: float = 0.0002) -> bool:
    """Poll until ``condition`` holds; False if the process ended or time ran out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return False
        time.sleep(poll)
    return False


def kill(process: subprocess.Popen[bytes]) -> bool:
    """SIGKILL; True if it was still running (a real crash, not a finished run)."""
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    return process.wait(30) == -signal.SIGKILL


def kill_during(phase: str, process: subprocess.Popen[bytes], directory: Path, log: Path,
                rng: random.Random, commits_first: int = 0) -> str | None:
    """Kill ``process`` in ``phase`` (after letting ``commits_first`` commits through); returns
    the phase it was killed in, None if it finished first."""
    pid = process.pid
    since = time.time()
    if phase in ("writing", "saved"):
        for _commit in range(commits_first):
            if not (wait_for(lambda: holds_lock(pid, directory), process, 120)
                    and wait_for(lambda: not holds_lock(pid, directory), process, 120)):
                return None
    if phase == "writing":  # inside Store.write: FAISS files being saved, SQLite being committed
        if not wait_for(lambda: holds_lock(pid, directory), process, 120):
            return None
        time.sleep(rng.uniform(0.0, 0.002))  # a small write (a delete) commits within ms
    elif phase == "saved":  # the new generation's FAISS files are on disk, SQLite not committed
        if not wait_for(lambda: holds_lock(pid, directory) and newer_vector_files(directory, since),
                        process, 120):
            return None
    elif phase == "embedding":  # between commits, while the model encodes the next batch
        if not wait_for(lambda: b"Embedding" in log.read_bytes(), process, 120, poll=0.05):
            return None
        time.sleep(rng.uniform(0.2, 2.5))
        if not wait_for(lambda: not holds_lock(pid, directory), process, 10):
            return None
    else:  # "timed": wherever a random moment falls, start-up included
        if wait_for(lambda: False, process, rng.uniform(0.3, 6.0), poll=0.01) is False and \
                process.poll() is not None:
            return None
    if process.poll() is not None:
        return None
    if holds_lock(pid, directory):
        seen = "writing"
    elif b"Embedding" in log.read_bytes():
        seen = "embedding"
    else:
        seen = "start-up" if phase != "writing" else "just-after-writing"
    return seen if kill(process) else None


# ----------------------------------------------------------------------------- crash safety
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sigkill_during_ingest_and_delete_leaves_a_consistent_index(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    corpus = tmp_path / "articles"
    make_articles(corpus, ARTICLES)
    expected = expected_shapes(corpus)
    assert len(expected) == ARTICLES
    index = tmp_path / "index"
    logs = (tmp_path / f"qa-{n}.log" for n in range(1000))
    ingest = ["ingest", str(corpus), "--index", str(index)]

    kills: Counter[str] = Counter()
    between_save_and_commit = 0
    rounds = []
    for phase in ["embedding", "writing", "saved", "timed", "writing"]:
        for _attempt in range(3):  # a run may finish before the moment comes: try again
            state = verify_consistent(index, expected)
            if state["articles"] == ARTICLES:
                shutil.rmtree(index)  # all in: start over, so there is work left to crash in
            log = next(logs)
            started = time.time()
            seen = kill_during(phase, spawn(ingest, log), index, log, rng, commits_first=rng.randint(0, 2))
            if seen is not None:
                break
        assert seen is not None, f"could not kill an ingest while {phase}"
        kills[seen] += 1
        torn = newer_vector_files(index, since=started)
        seen = "writing" if torn else seen  # the lock was taken just after it was looked at
        between_save_and_commit += torn
        state = verify_consistent(index, expected)
        rounds.append({"asked": phase, "killed_while": seen, "articles_after": state["articles"],
                       "vectors_saved_not_committed": torn, "seconds": round(time.time() - started, 1)})

    assert sum(kills.values()) >= 5
    assert kills["writing"] >= 2 and kills["embedding"] >= 1, kills
    assert between_save_and_commit >= 1

    # Re-running the same ingest completes the batch: what was committed is skipped.
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "qa.cli", *ingest], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1",
                                                       "QA_BATCH_VECTORS": str(BATCH_VECTORS)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert verify_consistent(index, expected)["articles"] == ARTICLES
    rounds.append({"asked": "complete", "seconds": round(time.time() - started, 1)})
    generation = Store.open(index).generation()
    assert sorted(f.name for f in index.glob("*.faiss*")) == [
        f"chunks-{generation}.faiss", f"sentences-{generation}.faiss"], "stray files left"

    # Deletes: killed while writing or at a random moment; the article is there or gone, whole.
    delete_kills: Counter[str] = Counter()
    deleted = []
    for phase in ["writing", "timed", "writing", "writing"]:
        victim = rng.choice(sorted(set(expected) - set(deleted)))
        for _attempt in range(4):
            log = next(logs)
            started = time.time()
            process = spawn(["delete", victim, "--index", str(index)], log)
            if phase == "timed":
                time.sleep(rng.uniform(0.05, 0.35))
                seen = ("writing" if holds_lock(process.pid, index) else "start-up") if kill(process) else None
            else:
                seen = kill_during("writing", process, index, log, rng)
            if seen is not None or Store.open(index).article(victim) is None:
                break
        state = verify_consistent(index, expected)
        still_there = Store.open(index).article(victim) is not None
        torn = seen is not None and newer_vector_files(index, since=started)
        if torn:
            seen = "writing"  # the lock was taken just after it was looked at
        if seen is not None and not still_there:
            seen = f"{seen}, after its commit"
        if seen is not None:
            delete_kills[seen] += 1
            between_save_and_commit += torn
        rounds.append({"asked": f"delete/{phase}", "killed_while": seen, "articles_after": state["articles"],
                       "article_survived_kill": still_there})
        rerun = subprocess.run([sys.executable, "-m", "qa.cli", "delete", victim, "--index", str(index)],
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == (0 if still_there else 1), rerun.stderr
        deleted.append(victim)
        remaining = {k: v for k, v in expected.items() if k not in deleted}
        assert verify_consistent(index, remaining)["articles"] == ARTICLES - len(deleted)
    assert delete_kills["writing"] >= 1, delete_kills  # killed before its commit: rolled back

    record("crash_safety", {
        "seed": SEED, "articles": ARTICLES, "vectors_per_commit": BATCH_VECTORS,
        "ingest_kills": sum(kills.values()), "ingest_kills_by_phase": dict(kills),
        "delete_kills": sum(delete_kills.values()), "delete_kills_by_phase": dict(delete_kills),
        "kills_survived": sum(kills.values()) + sum(delete_kills.values()),
        "killed_after_faiss_save_before_sqlite_commit": between_save_and_commit,
        "rounds": rounds,
    })


# ----------------------------------------------------------------------------- concurrency
def check_citations(qa: QA, result: Answer | list[Passage]) -> None:
    """Every quote and passage is the article's text at its offsets."""
    if isinstance(result, Answer):
        for c in result.citations:
            article = qa.store.article(c.article_id)
            assert article is not None and article.text[c.start:c.end] == c.quote, c
        passages = result.passages
    else:
        passages = result
    for p in passages:
        article = qa.store.article(p.article_id)
        assert article is not None and article.text[p.start:p.end] == p.text, p


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_readers_keep_answering_while_a_writer_ingests(
        index_copy: Path, embedder: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_BATCH_VECTORS", "4")  # a commit per article: many generation swaps
    new = tmp_path / "new"
    questions = make_articles(new, 8, skip=200)
    questions += ["Who won Super Bowl 50?", "Where was Nikola Tesla born?", "Who built Bushehr?",
                  "What did Tesla study?", "Which team lost?"]
    qa = QA(index_copy, sample=False)
    before = qa.store.stats().articles
    stop = threading.Event()
    errors: list[str] = []
    reads: Counter[int] = Counter()
    writes = 0

    def reader(number: int) -> None:
        rng = random.Random(SEED + number)
        while not stop.is_set() or reads[number] < 3:
            question = rng.choice(questions)
            try:
                if rng.random() < 0.5:
                    check_citations(qa, qa.answer(question))
                else:
                    check_citations(qa, qa.search(question, k=5, mode=rng.choice(["fused", "dense", "lexical"])))
                reads[number] += 1
            except BaseException:
                errors.append(traceback.format_exc())
                return

    def writer() -> None:
        nonlocal writes
        try:
            for path in sorted(new.iterdir()):
                report = qa.ingest([path])
                assert len(report.added) == 1, report
                writes += 1
        except BaseException:
            errors.append(traceback.format_exc())
        finally:
            stop.set()

    readers = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(3)]
    for t in [*readers, threading.Thread(target=writer, daemon=True)]:
        t.start()
    stop.wait(240)
    for t in readers:
        t.join(60)
    assert not errors, errors[0]
    assert writes == 8 and all(reads[n] >= 3 for n in range(3)), (writes, reads)
    assert qa.store.check() == []
    assert qa.store.stats().articles == before + 8
    record("concurrency", {"reader_threads": len(readers), "reads_during_writes": sum(reads.values()),
                           "commits_during_reads": writes, "errors": 0})


WRITER = """
import os
import sys

import numpy as np

from qa.models import Article, Chunk, Sentence, content_hash
from qa.store import Prepared, Store


def write_many(store, count, tag, stop=None):
    # Commit `count` one-article writes (deleting every third article again), or until the file
    # `stop` appears; returns how many articles were written.
    rng = np.random.default_rng(tag)
    for i in range(count):
        if stop is not None and os.path.exists(stop):
            return i
        text = f"Sentence number {i} of writer {tag}. Another sentence follows."
        title = f"Writer {tag} {i}"
        article = Article(id=f"w{tag}-{i}", title=title, source="w", text=text,
                          content_hash=content_hash(title, None, None, None, text))
        chunk = Chunk(article_id=article.id, ordinal=0, start=0, end=len(text), text=text, token_count=14)
        vectors = rng.random((2, 384), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        store.write([Prepared(article, [chunk], [Sentence(start=0, end=len(text), paragraph=0)],
                              vectors[:1], vectors[1:])])
        if i % 3 == 2:
            store.delete(f"w{tag}-{i - 1}")
    return count


if __name__ == "__main__":
    print(write_many(Store.open(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]))
"""


_WRITER: dict[str, Any] = {}
exec(compile(WRITER, "writer", "exec"), _WRITER)
write_many: Callable[..., int] = _WRITER["write_many"]


def writer_survivors(tag: int, count: int) -> set[str]:
    """Ids that ``write_many(..., count, tag)`` leaves in the index."""
    return {f"w{tag}-{i}" for i in range(count)} - {f"w{tag}-{i - 1}" for i in range(count) if i % 3 == 2}


@pytest.fixture
def vector_index(tmp_path: Path) -> Path:
    """A small index of articles with random unit vectors: quick to build, and no model needed."""
    directory = tmp_path / "vectors"
    store = Store.open(directory, create=True)
    write_many(store, 12, 7)
    store.close()  # as if the writer had exited: damage must not hide behind a live handle
    return directory


def test_store_reads_never_fail_while_generations_swap(vector_index: Path) -> None:
    """Many small commits (each a new FAISS generation, the old files removed) under readers in
    this process and in the writer's: no read may fail or see a half-swapped index."""
    store = Store.open(vector_index)
    query = store.chunk_vectors([store.chunk_ids_where()[0]])
    stop = threading.Event()
    errors: list[str] = []
    reads: Counter[int] = Counter()

    def reader(number: int) -> None:
        while not stop.is_set():
            try:
                scores, ids = store.dense_chunks(query, 5)
                rows = store.chunks([int(i) for i in ids[0] if i >= 0])
                assert all(r.text for r in rows.values())
                store.dense_sentences(query, 5)
                reads[number] += 1
            except BaseException:
                errors.append(traceback.format_exc())
                return

    readers = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(3)]
    for t in readers:
        t.start()
    try:
        # Another process commits 60 times while this one reads ...
        other = subprocess.run([sys.executable, "-c", WRITER, str(vector_index), "60", "1"], cwd=ROOT,
                               capture_output=True, text=True, timeout=240)
        assert other.returncode == 0, other.stderr[-2000:]
        # ... then this process commits 60 times more through the Store its readers share.
        subprocess_reads = sum(reads.values())
        write_many(store, 60, 2)
    finally:
        stop.set()
        for t in readers:
            t.join(30)
    assert not errors, errors[0]
    assert subprocess_reads > 0 and sum(reads.values()) > subprocess_reads
    assert store.check() == []
    record("generation_swaps", {"commits": 120, "reader_threads": len(readers),
                                "reads": sum(reads.values()), "errors": 0})


HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_lock(directory: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that holds the index's write lock for ``seconds``."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(directory / ".lock"), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_second_writer_gets_busy_error_or_waits(vector_index: Path) -> None:
    store = Store.open(vector_index)
    victim = store.articles()[0].id
    holder = hold_lock(vector_index, 60)
    try:
        started = time.monotonic()
        with pytest.raises(IndexBusyError) as busy:
            store.write([], [victim], wait_seconds=0.3)
        assert 0.3 <= time.monotonic() - started < 5
        message = str(busy.value)
        assert str(vector_index) in message and "busy" in message and "another process" in message
        assert "Try again" in message
        assert store.article(victim) is not None and store.check() == []
    finally:
        holder.kill()
        holder.wait()

    holder = hold_lock(vector_index, 1.0)  # released after a second: the writer waits, then writes
    try:
        started = time.monotonic()
        assert store.delete(victim)
        assert time.monotonic() - started >= 0.5
    finally:
        holder.wait(30)
    assert store.article(victim) is None and store.check() == []


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_writer_processes_never_interleave(
        index_copy: Path, embedder: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process commits over and over while this one ingests (a commit per article) and
    answers questions: every commit is whole, none is lost, and the reads never fail."""
    monkeypatch.setenv("QA_BATCH_VECTORS", "4")
    ours = tmp_path / "ours"
    questions = make_articles(ours, 4, skip=300) + ["Who won Super Bowl 50?", "Where was Tesla born?"]
    stop_file = tmp_path / "stop"
    other = subprocess.Popen([sys.executable, "-c", WRITER, str(index_copy), "1000", "3", str(stop_file)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    qa = QA(index_copy, sample=False)
    before = qa.store.stats().articles
    errors: list[str] = []
    stop = threading.Event()
    reads = 0

    def read() -> None:
        nonlocal reads
        rng = random.Random(SEED)
        while not stop.is_set():
            try:
                check_citations(qa, qa.answer(rng.choice(questions)))
                reads += 1
            except BaseException:
                errors.append(traceback.format_exc())
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: holds_lock(other.pid, index_copy), other, 60), "the other writer never wrote"
        report = qa.ingest([ours])
        assert len(report.added) == 4 and other.poll() is None, "the writers did not overlap"
        stop_file.touch()
        output, _ = other.communicate(timeout=120)
        assert other.returncode == 0, output[-2000:]
    finally:
        stop.set()
        reader.join(60)
        if other.poll() is None:
            other.kill()
    theirs = int(output.split()[-1])
    assert not errors, errors[0]
    assert qa.store.check() == []
    ids = {a.id for a in qa.store.articles()}
    assert {i for i in ids if i.startswith("w3-")} == writer_survivors(3, theirs)
    assert len(ids) == before + 4 + len(writer_survivors(3, theirs))
    by_id = {a.id: a.chunks for a in qa.store.articles()}
    assert all(by_id[k] == v[0] for k, v in expected_shapes(ours).items())
    record("two_writers", {"processes": 2, "their_commits": theirs + theirs // 3, "our_commits": 4,
                           "reads_meanwhile": reads})


# ----------------------------------------------------------------------------- damage
def _truncate_faiss(index: Path) -> str:
    generation = Store.open(index).generation()
    target = index / f"chunks-{generation}.faiss"
    with target.open("r+b") as f:
        f.truncate(target.stat().st_size // 2)
    return "vector file"


def _delete_faiss(index: Path) -> str:
    generation = Store.open(index).generation()
    (index / f"sentences-{generation}.faiss").unlink()
    return "vector file"


def _delete_sqlite(index: Path) -> str:
    for f in index.glob(f"{DATABASE}*"):
        f.unlink()
    return "database"


def _garbage_sqlite(index: Path) -> str:
    for f in index.glob(f"{DATABASE}-*"):
        f.unlink()
    (index / DATABASE).write_bytes(os.urandom(8192))
    return "database"


def _manifest_edit(change: Callable[[dict[str, object]], object]) -> Callable[[Path], str]:
    def damage(index: Path) -> str:
        manifest = json.loads((index / MANIFEST).read_text(encoding="utf-8"))
        change(manifest)
        (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
        return "manifest"
    return damage


def _garbage_manifest(index: Path) -> str:
    (index / MANIFEST).write_bytes(b"{not json at all\x00\xff")
    return "manifest"


DAMAGE = {
    "truncated-faiss": _truncate_faiss,
    "deleted-faiss": _delete_faiss,
    "deleted-sqlite": _delete_sqlite,
    "garbage-sqlite": _garbage_sqlite,
    "manifest-newer-schema": _manifest_edit(lambda m: m.update(schema_version=99)),
    "manifest-older-schema": _manifest_edit(lambda m: m.update(schema_version=0)),
    "manifest-unknown-field": _manifest_edit(lambda m: m.update(vector_store="hnsw")),
    "manifest-wrong-type": _manifest_edit(lambda m: m.update(dimension="many")),
    "manifest-garbage": _garbage_manifest,
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_index_fails_with_a_rebuild_hint(
        vector_index: Path, damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    problem = DAMAGE[damage](vector_index)

    with pytest.raises(QAError) as opened:
        Store.open(vector_index)
    message = str(opened.value)
    assert isinstance(opened.value, IndexCorruptError | IndexMismatchError)
    assert problem in message and "--rebuild" in message and str(vector_index) in message, message

    with pytest.raises(QAError) as asked:
        QA(vector_index, sample=False)
    assert "--rebuild" in str(asked.value)

    capsys.readouterr()
    assert main(["check", "--index", str(vector_index)]) == 1
    out = capsys.readouterr()
    shown = out.out + out.err
    assert "Traceback" not in shown and "--rebuild" in shown and problem in shown, shown
    assert len(shown.splitlines()) <= 5


def test_check_reports_tampered_rows_without_a_traceback(vector_index: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(vector_index / DATABASE) as conn:
        conn.execute("UPDATE chunks SET text = 'tampered' WHERE id = (SELECT min(id) FROM chunks)")
        conn.execute("DELETE FROM sentence_fts WHERE rowid = (SELECT max(rowid) FROM sentence_fts)")
    problems = Store.open(vector_index).check()
    assert len(problems) == 2, problems
    capsys.readouterr()
    assert main(["check", "--index", str(vector_index)]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s)" in out and "no longer matches its article" in out and "--rebuild" in out
    assert "Traceback" not in out


@pytest.mark.slow
def test_rebuild_recovers_a_damaged_index(vector_index: Path, embedder: object, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    _truncate_faiss(vector_index)
    corpus = tmp_path / "articles"
    make_articles(corpus, 2)
    assert main(["ingest", str(corpus), "--index", str(vector_index), "--rebuild"]) == 0
    assert main(["check", "--index", str(vector_index)]) == 0
    assert "OK" in capsys.readouterr().out
    assert Store.open(vector_index).stats().articles == 2
