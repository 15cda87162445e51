"""Shared fixtures: the real bundled model (loaded once per session) and small real indexes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.embedding import Embedder
from qa.store import Store

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "qa" / "data" / "sample" / "putin-and-the-ayatollah.md"
SQUAD_V1 = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
SQUAD_V2 = ROOT / "eval" / "data" / "squad-dev-v2.0-half.json"
SMALL_SQUAD_TITLES = ("Super_Bowl_50", "Nikola_Tesla")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2, loaded once for the whole session."""
    e = Embedder()
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
