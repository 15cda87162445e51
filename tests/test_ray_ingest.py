"""Distributed ingest on a real local Ray cluster (``qa.distributed``), against the local ingest.

The cluster is started here, on loopback with 2 CPUs, once for the module. The corpus is two
articles of the shared SQuAD dev half (``small_squad``: 693 vectors); the whole dev-half file
(24 articles) takes minutes a run on two cores, so ``python -m qa_eval.ray_bench`` compares it
end to end instead. The indexes store float32 vectors, so that "within 1e-5 cosine" compares
what the model computed, not what a quantiser rounded.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from qa.embedding import BundledEmbedder
from qa.errors import ConfigError
from qa.indexing import ingest_paths
from qa.models import IndexSettings
from qa.settings import Settings
from qa.store import DATABASE, Store

ROOT = Path(__file__).resolve().parent.parent
FLOAT32 = IndexSettings(vector_format="float32")
SETTINGS = Settings.from_env()
EMBED_ROWS = 48  # texts per embedding call: many calls, so there is a mid-run to kill in


def ray_options(**changes: Any) -> Any:
    from qa.distributed import RayOptions

    return RayOptions(**{"batch_size": EMBED_ROWS, "actors": 2, **changes})


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs on loopback, this process its first driver; yields its address."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level=logging.WARNING)
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, small_squad: Path) -> Path:
    """``small_squad`` ingested locally, with the backend the Ray actors run."""
    directory = tmp_path_factory.mktemp("local") / "index"
    encoder = BundledEmbedder(SETTINGS.embedding_backend, SETTINGS.model_cache() / "onnx")
    report = ingest_paths(Store.open(directory, FLOAT32, create=True), [small_squad], encoder)
    assert len(report.added) == 2 and not report.rejected
    return directory


def contents(directory: Path) -> dict[str, tuple[Any, ...]]:
    """Per article: its text and hash, its chunks' and sentences' spans and texts, their vectors."""
    store = Store.open(directory)
    chunk_ids, sentence_ids = store.ids_by_article("chunks"), store.ids_by_article("sentences")
    out = {}
    for info in store.articles():
        article = store.article(info.id)
        assert article is not None
        rows = store.chunks(chunk_ids[info.id])
        chunks = [(rows[i].start, rows[i].end, rows[i].text) for i in chunk_ids[info.id]]
        sentences = [(s.start, s.end, s.text) for s in store.sentences_in(info.id, 0, len(article.text))]
        out[info.id] = (article.text, article.source, article.content_hash, chunks, sentences,
                        store.chunk_vectors(chunk_ids[info.id]), store.sentence_vectors(sentence_ids[info.id]))
    store.close()
    return out


def assert_same_index(directory: Path, reference: Path) -> None:
    got, want = contents(directory), contents(reference)
    assert sorted(got) == sorted(want)
    for article_id, (text, source, digest, chunks, sentences, chunk_vectors, sentence_vectors) in want.items():
        assert got[article_id][:5] == (text, source, digest, chunks, sentences), article_id
        for mine, theirs in ((got[article_id][5], chunk_vectors), (got[article_id][6], sentence_vectors)):
            assert mine.shape == theirs.shape
            cosine = np.sum(mine * theirs, axis=1) / (np.linalg.norm(mine, axis=1) * np.linalg.norm(theirs, axis=1))
            assert float(cosine.min()) >= 1 - 1e-5, (article_id, float(cosine.min()))


def embedding_actors() -> list[int]:
    """Process ids of the live embedding actors (Ray titles them after the class they run)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"ray::" in title and b"_Embed" in title:
                pids.append(int(entry.name))
    return pids


# ----------------------------------------------------------------------------- Ray stays optional
def test_importing_qa_and_its_command_line_does_not_import_ray() -> None:
    code = ("import sys, qa, qa.cli, qa.distributed, qa.indexing, qa.pipeline; "
            "print('ray' in sys.modules or any(m.startswith('ray.') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"


def test_no_cluster_at_an_address_is_a_sentence(tmp_path: Path) -> None:
    from qa.distributed import RayOptions, ingest_ray

    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed")
    store = Store.open(tmp_path / "index", FLOAT32, create=True)
    with pytest.raises(ConfigError, match=r"No Ray cluster answers at 127\.0\.0\.1:9 .*ray start --head"):
        ingest_ray(store, [tmp_path], RayOptions(address="127.0.0.1:9"), settings=SETTINGS)


def test_without_ray_installed_the_error_says_how_to_install_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.distributed import RayOptions, ingest_ray

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    store = Store.open(tmp_path / "index", FLOAT32, create=True)
    with pytest.raises(ConfigError, match=r"pip install '\.\[ray\]'"):
        ingest_ray(store, [tmp_path], RayOptions(), settings=SETTINGS)


# ---------------------------------------------------------------- equal to local (a cluster from here on)
@pytest.mark.slow
def test_ray_ingest_builds_the_index_a_local_ingest_builds(cluster: str, small_squad: Path, reference: Path,
                                                            tmp_path: Path) -> None:
    from qa.distributed import ingest_ray

    store = Store.open(tmp_path / "ray", FLOAT32, create=True)
    report = ingest_ray(store, [small_squad], ray_options(), settings=SETTINGS)
    assert [a.title for a in report.added] == ["Nikola Tesla", "Super Bowl 50"] and not report.rejected
    assert_same_index(tmp_path / "ray", reference)
    again = ingest_ray(store, [small_squad], ray_options(), settings=SETTINGS)
    assert (len(again.unchanged), again.chunks_written, again.added) == (2, 0, [])


@pytest.mark.slow
def test_shipped_files_and_rejections_match_a_local_ingest(cluster: str, tmp_path: Path) -> None:
    """Bytes shipped from here parse as the workers would read them; bad files are rejected alike."""
    from qa.distributed import ingest_ray

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "note.md").write_text("# A note\n\nOne sentence here. And another one.\n")
    (tmp_path / "docs" / "empty.txt").write_text("  \n")
    (tmp_path / "docs" / "data.bin").write_bytes(b"\0\1")
    targets = [tmp_path / "docs", tmp_path / "missing.md"]
    local = ingest_paths(Store.open(tmp_path / "local", FLOAT32, create=True), targets,
                         BundledEmbedder(SETTINGS.embedding_backend, SETTINGS.model_cache() / "onnx"))
    for ship in (True, False):
        store = Store.open(tmp_path / f"ray-{ship}", FLOAT32, create=True)
        report = ingest_ray(store, targets, ray_options(ship_files=ship), settings=SETTINGS)
        assert (report.added, report.rejected) == (local.added, local.rejected)
        assert_same_index(tmp_path / f"ray-{ship}", tmp_path / "local")


# ----------------------------------------------------------------------------- failures
@pytest.mark.slow
def test_a_killed_embedding_actor_is_restarted_and_nothing_is_lost_or_doubled(
        cluster: str, small_squad: Path, reference: Path, tmp_path: Path) -> None:
    from qa.distributed import ingest_ray

    killed: list[int] = []

    def kill_an_actor(done: int, total: int) -> None:
        if not killed and done < total:  # the first article is back; the second is being embedded
            pids = embedding_actors()
            assert pids, "no embedding actor was alive mid-run"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    store = Store.open(tmp_path / "ray", FLOAT32, create=True)
    report = ingest_ray(store, [small_squad], ray_options(), settings=SETTINGS, progress=kill_an_actor)
    assert killed and len(report.added) == 2
    assert killed[0] not in embedding_actors()
    assert_same_index(tmp_path / "ray", reference)


@pytest.mark.slow
def test_a_driver_killed_after_its_first_commit_leaves_a_checked_index_and_a_rerun_completes(
        cluster: str, small_squad: Path, reference: Path, tmp_path: Path) -> None:
    from qa.distributed import ingest_ray

    directory = tmp_path / "ray"
    Store.open(directory, FLOAT32, create=True).close()
    env = {**os.environ, "QA_BATCH_VECTORS": "64"}  # a commit per article: the first lands mid-run
    log = (tmp_path / "driver.log").open("wb")
    driver = subprocess.Popen(
        [sys.executable, "-m", "qa.cli", "ingest", str(small_squad), "--index", str(directory),
         "--ray", cluster, "--ray-batch", str(EMBED_ROWS)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        while committed_articles(directory) == 0 and driver.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        assert driver.wait(30) == -signal.SIGKILL, (tmp_path / "driver.log").read_text()[-2000:]
    finally:
        if driver.poll() is None:
            driver.kill()
        log.close()
    assert committed_articles(directory) == 1  # killed between its two commits
    check = subprocess.run([sys.executable, "-m", "qa.cli", "check", "--index", str(directory)], cwd=ROOT,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    report = ingest_ray(Store.open(directory), [small_squad], ray_options(), settings=SETTINGS)
    assert (len(report.unchanged), len(report.added)) == (1, 1)
    assert_same_index(directory, reference)


def committed_articles(directory: Path) -> int:
    """Articles committed to the index's database, read from another process as a reader would."""
    with sqlite3.connect(f"file:{directory / DATABASE}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])


@pytest.mark.slow
def test_a_local_qa_ingest_does_not_import_ray(tmp_path: Path, seed_path: Path) -> None:
    code = ("import sys; from qa.cli import main; status = main(sys.argv[1:]); "
            "print(status, 'ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, "ingest", str(seed_path), "--index", str(tmp_path / "i")],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip().splitlines()[-1] == "0 False", done.stderr[-2000:]
