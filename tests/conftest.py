"""Shared fixtures: the real bundled model (loaded once per session) and small real indexes,
and the guard that keeps models out of a run without slow tests."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.embedding import BundledEmbedder, Embedder
from qa.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "qa" / "data" / "sample" / "putin-and-the-ayatollah.md"
SQUAD_V1 = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
SQUAD_V2 = ROOT / "eval" / "data" / "squad-dev-v2.0-half.json"
SMALL_SQUAD_TITLES = ("Super_Bowl_50", "Nikola_Tesla")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2, loaded once for the whole session."""
    e = BundledEmbedder()
    e.warm_up()
    return e


@pytest.fixture(scope="session")
def seed_path() -> Path:
    return SEED


@pytest.fixture(scope="session")
def small_squad(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQuAD v1.1 file with two real articles (and their questions) of the shared dev split."""
    data = json.loads(SQUAD_V1.read_text(encoding="utf-8"))
    picked = [a for a in data["data"] if a["title"] in SMALL_SQUAD_TITLES]
    assert len(picked) == len(SMALL_SQUAD_TITLES)
    path = tmp_path_factory.mktemp("squad") / "small-squad.json"
    path.write_text(json.dumps({"version": "1.1", "data": picked}), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, seed_path: Path,
                small_squad: Path) -> Path:
    """An index of the seed article and two SQuAD articles, built once; copy before writing."""
    from qa.indexing import ingest_paths

    directory = tmp_path_factory.mktemp("index") / "built"
    store = Store.open(directory, create=True)
    report = ingest_paths(store, [seed_path, small_squad], embedder)
    assert not report.rejected
    return directory


@pytest.fixture
def index_copy(built_index: Path, tmp_path: Path) -> Iterator[Path]:
    """A private, writable copy of ``built_index``."""
    target = tmp_path / "index"
    shutil.copytree(built_index, target)
    yield target


# ------------------------------------------------------------------ the fast lane loads no model
# A run that deselects slow tests (``-m "not slow"``, as ``scripts/test.sh -m "not slow and not
# browser"`` does) must not load a model. No model loads without importing one of these runtimes
# (the package imports them lazily, where a model is loaded), so the run blocks their import, in
# this process and in every Python process it starts (through a ``sitecustomize`` on PYTHONPATH).
# A blocked import raises, failing the test that tried, and is written down, so the run fails at
# the end even when the exception was swallowed. Mark such a test ``@pytest.mark.slow``.
MODEL_RUNTIMES = ("torch", "onnxruntime", "onnx", "sentence_transformers", "transformers", "tokenizers")
FAST_LANE_RECORD = "QA_TEST_FAST_LANE_RECORD"
# Fixtures that load the real model: a test using one must be marked slow, in every run.
MODEL_FIXTURES = frozenset({"embedder", "built_index", "index_copy"})
_GUARD_DIR = pytest.StashKey[Path]()

GUARD = f'''"""Written by tests/conftest.py for a run without slow tests: no model may load."""
import importlib.util
import os
import sys

RUNTIMES = {MODEL_RUNTIMES!r}


class ModelLoadInFastLane(Exception):
    """Not an ImportError, so that no ``except ImportError`` fallback can hide it."""


class _Block:
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if top not in RUNTIMES:
            return None
        frame = sys._getframe(1)
        while frame is not None:  # importlib.util.find_spec("torch") only asks whether it is there
            if frame.f_code is importlib.util.find_spec.__code__:
                return None
            frame = frame.f_back
        who = os.environ.get("PYTEST_CURRENT_TEST", "collection").rsplit(" (", 1)[0]
        with open(os.environ["{FAST_LANE_RECORD}"], "a", encoding="utf-8") as record:
            record.write(f"{{who}}: imported {{fullname}} (pid {{os.getpid()}})\\n")
        raise ModelLoadInFastLane(
            f"{{who}} imports {{fullname}} (a model runtime) in a run without slow tests: "
            "mark it @pytest.mark.slow")


if os.environ.get("{FAST_LANE_RECORD}"):
    sys.meta_path.insert(0, _Block())
'''


def _fast_lane(config: pytest.Config) -> bool:
    return "not slow" in (config.option.markexpr or "")


def pytest_configure(config: pytest.Config) -> None:
    if not _fast_lane(config):
        return
    loaded = [m for m in MODEL_RUNTIMES if m in sys.modules]
    if loaded:
        raise pytest.UsageError(f"model runtimes imported before the tests were collected: {loaded}")
    directory = Path(tempfile.mkdtemp(prefix="qa-fast-lane-"))
    (directory / "sitecustomize.py").write_text(GUARD, encoding="utf-8")
    record = directory / "loaded.txt"
    record.touch()
    os.environ[FAST_LANE_RECORD] = str(record)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(directory), os.environ.get("PYTHONPATH")) if p)
    spec = importlib.util.spec_from_file_location("_qa_fast_lane_guard", directory / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    config.stash[_GUARD_DIR] = directory


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In every run: a test that uses a model fixture, or drives the browser, is marked slow."""
    unmarked = [i.nodeid for i in items if i.get_closest_marker("slow") is None and (
        MODEL_FIXTURES & set(getattr(i, "fixturenames", ())) or i.get_closest_marker("browser") is not None)]
    if unmarked:
        raise pytest.UsageError(
            f"these tests load the model (fixtures {', '.join(sorted(MODEL_FIXTURES))}) or drive the browser "
            "but are not marked @pytest.mark.slow:\n  " + "\n  ".join(unmarked))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    directory = session.config.stash.get(_GUARD_DIR, None)
    if directory is None:
        return
    lines = (directory / "loaded.txt").read_text(encoding="utf-8").splitlines()
    lines += [f"{m} is imported in the test process" for m in MODEL_RUNTIMES if m in sys.modules]
    shutil.rmtree(directory, ignore_errors=True)
    if lines:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "a run without slow tests loaded a model: mark these tests slow", red=True)
            for line in dict.fromkeys(lines):
                reporter.write_line(line, red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

