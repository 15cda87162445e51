"""eval/bench.py on a tiny corpus: every field is there and the reports are written (no timings checked)."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

import pytest

from qa.embedding import Embedder

ROOT = Path(__file__).resolve().parent.parent


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench", ROOT / "eval" / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_perturb_keeps_paragraphs_and_is_seeded() -> None:
    bench = _bench()
    text = "one two three four five six\n\nseven eight nine ten"
    once = bench.perturb(text, random.Random(1), rate=0.3)
    assert once == bench.perturb(text, random.Random(1), rate=0.3)
    assert once.count("\n\n") == 1
    assert set(once.split()) <= set(text.split())


@pytest.mark.slow
def test_quick_bench_writes_every_field(embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_APPROXIMATE_ABOVE", "50")  # the 2x index goes approximate
    out = tmp_path / "reports"
    _bench().run([2], out, quick=True, embed_max=1, backend="torch", work=tmp_path / "work")

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
        assert {"open_s", "model_s", "startup_s", "first_answer_s", "peak_rss_mb"} <= set(entry["startup"])
        assert entry["index_bytes"] > 0
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
    assert "--scales" in out and "--quick" in out and "synthetic" in out
