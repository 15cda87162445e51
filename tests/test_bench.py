"""The bench (qa_eval.bench) on a tiny corpus, the synthetic encoder, and the ingest hooks the
bench relies on (injected encoder, commit size, stage timings). Everything is written to tmp."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from qa_eval.bench import run
from qa_eval.synthetic import NoisyCopies, perturb

from qa.embedding import Embedder
from qa.indexing import StageSeconds, ingest_paths
from qa.models import IndexSettings
from qa.store import Store

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"


class HashEncoder:
    """A model-free encoder: a seeded random unit vector per text (same text, same vector)."""

    dimension = 8

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.array([np.random.default_rng(zlib.crc32(t.encode())).normal(size=self.dimension)
                            for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_perturb_keeps_paragraphs_and_is_seeded() -> None:
    text = "one two three four five six\n\nseven eight nine ten"
    once = perturb(text, random.Random(1), rate=0.3)
    assert once == perturb(text, random.Random(1), rate=0.3)
    assert once.count("\n\n") == 1
    assert set(once.split()) <= set(text.split())


def test_noisy_copies_give_each_copy_its_source_vector_plus_noise() -> None:
    sources = ["Tesla was born in Smiljan in the Austrian Empire in 1856.",
               "The Broncos defeated the Panthers to win Super Bowl 50.",
               "Tesla was born in Smiljan. He studied engineering in Graz and worked in Budapest."]
    vectors = HashEncoder().encode_documents(sources)
    copies = NoisyCopies(sources, vectors, seed=0)
    rng = random.Random(3)
    copied = [perturb(s, rng, rate=0.1) for s in sources]
    assert [copies.source(c) for c in copied] == [0, 1, 2]
    encoded = copies.encode_documents(copied)
    cosine = (encoded * vectors).sum(axis=1)
    assert encoded.dtype == np.float32 and np.allclose(np.linalg.norm(encoded, axis=1), 1.0, atol=1e-5)
    assert (cosine > 0.85).all() and (cosine < 1.0).all()
    assert np.array_equal(NoisyCopies(sources, vectors, seed=0).encode_documents(copied), encoded)


def test_ingest_takes_an_encoder_a_commit_size_and_a_timings_hook(tmp_path: Path) -> None:
    files = tmp_path / "articles"
    files.mkdir()
    for i in range(3):
        (files / f"article-{i}.md").write_text(
            f"# Article {i}\n\nThe first sentence of article {i}. A second one follows.\n\nAnother paragraph.\n")
    stages = StageSeconds()
    store = Store.open(tmp_path / "index", IndexSettings(dimension=HashEncoder.dimension), create=True)
    before = store.generation()
    report = ingest_paths(store, [files], HashEncoder(), batch_vectors=1, timings=stages)
    assert len(report.added) == 3 and report.chunks_written == store.stats().chunks > 0
    assert store.generation() == before + 3  # one commit per article: each is over one vector
    assert all(seconds > 0 for seconds in stages.as_dict().values())
    (files / "article-3.md").write_text("# Article 3\n\nOne more.\n")
    (files / "article-4.md").write_text("# Article 4\n\nAnd another.\n")
    before = store.generation()
    report = ingest_paths(store, [files], HashEncoder())  # default commit size: 2,048 vectors
    assert len(report.added) == 2 and len(report.unchanged) == 3
    assert store.generation() == before + 1
    stored = store.sentence_vectors(store.row_ids("sentences")[:1])
    assert stored.shape == (1, HashEncoder.dimension)


@pytest.mark.slow
def test_quick_bench_writes_every_field(embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APPROXIMATE_ABOVE", "50")  # the 2x index goes approximate
    out = tmp_path / "reports"
    run([2], out, SQUAD, tmp_path / "cache", quick=True, embed_max=1, backend="torch", work=tmp_path / "work")

    report = json.loads((out / "bench.json").read_text())
    assert {"date", "machine", "backend", "scales", "embedding_backends", "questions"} <= set(report)
    assert list(report["scales"]) == ["1", "2"]  # 1x is always built: 2x derives from it
    for scale, entry in report["scales"].items():
        ingest = entry["ingest"]
        assert ingest["vectors"] == ("embedded" if scale == "1" else "synthetic")
        assert set(ingest["seconds"]) == {"parse", "chunk", "embed", "write"}
        assert ingest["articles"] == int(scale) and ingest["chunks"] > 0
        assert {"articles_per_s", "chunks_per_s", "stage_chunks_per_s"} <= set(ingest)
        assert {"p50_ms", "p95_ms", "p99_ms", "questions", "approximate"} <= set(entry["latency"])
        assert 0 < entry["latency"]["filtered_p50_ms"] <= entry["latency"]["filtered_p95_ms"]
        assert {"open_s", "model_s", "startup_s", "first_answer_s", "peak_rss_mb"} <= set(entry["startup"])
        assert entry["index_bytes"] > 0
    assert report["scales"]["2"]["ingest"]["chunks"] == 2 * report["scales"]["1"]["ingest"]["chunks"]
    assert report["scales"]["2"]["latency"]["approximate"]
    recall = report["scales"]["2"]["latency"]["approximate_recall@10"]
    assert set(recall) == {"chunks", "sentences"} and all(0.0 <= r <= 1.0 for r in recall.values())
    backends = report["embedding_backends"]["backends"]
    assert "torch" in backends and backends["torch"]["speedup"] == 1.0
    assert {"chunks_per_s", "cosine_min", "cosine_mean"} <= set(backends["torch"])
    for name in ("bench.md", "bench_latency.png", "bench_throughput.png"):
        assert (out / name).stat().st_size > 0
    assert "synthetic" in (out / "bench.md").read_text()


def test_qa_bench_is_a_cli_command(capsys: pytest.CaptureFixture[str]) -> None:
    from qa.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--scales" in out and "--quick" in out and "--dataset" in out and "synthetic" in out


@pytest.mark.parametrize("command", [["-m", "qa.cli", "eval", "--help"], ["-m", "qa.cli", "bench", "--help"],
                                     ["-m", "qa_eval.bench", "--help"], ["-m", "qa_eval.tune_reader", "--help"]])
def test_harness_commands_run_from_outside_the_checkout(command: list[str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--out" in done.stdout
