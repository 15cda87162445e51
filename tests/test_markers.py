"""The test markers' contract (tests/conftest.py, pyproject.toml): unknown markers are errors, a
test that uses a model fixture without ``slow`` is refused, and a run without slow tests fails
when any test, or a process it starts, imports a model runtime, even if the test swallows the error.

Each case runs pytest on a probe file beside a copy of the real conftest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFTEST = Path(__file__).with_name("conftest.py")
RECORD_ENV = "QA_TEST_FAST_LANE_RECORD"  # conftest.FAST_LANE_RECORD


def _pytest(tmp_path: Path, probe: str, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(probe, encoding="utf-8")
    env = dict(os.environ)
    record = env.pop(RECORD_ENV, None)  # this run's own guard must not see the probe's imports
    if record is not None:
        guard = os.path.dirname(record)
        env["PYTHONPATH"] = os.pathsep.join(p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                            if p and p != guard)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "-q", str(tmp_path / "test_probe.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_unknown_marker_is_an_error(tmp_path: Path) -> None:
    probe = "import pytest\n\n\n@pytest.mark.slwo\ndef test_typo() -> None:\n    pass\n"
    run = _pytest(tmp_path, probe, "--collect-only")
    assert run.returncode != 0 and "slwo" in run.stdout + run.stderr, run.stdout + run.stderr


def test_model_fixture_without_slow_is_refused(tmp_path: Path) -> None:
    probe = "def test_uses_the_model(embedder: object) -> None:\n    pass\n"
    run = _pytest(tmp_path, probe, "--collect-only")
    assert run.returncode == 4, run.stdout + run.stderr  # pytest.ExitCode.USAGE_ERROR
    assert "test_probe.py::test_uses_the_model" in run.stderr and "slow" in run.stderr, run.stderr


def test_fast_lane_fails_when_a_test_loads_a_model(tmp_path: Path) -> None:
    probe = (
        "import subprocess\nimport sys\n\n\n"
        "def test_swallowed() -> None:\n"
        "    try:\n        import onnxruntime  # noqa: F401\n    except Exception:\n        pass\n\n\n"
        "def test_in_a_child_process() -> None:\n"
        "    subprocess.run([sys.executable, '-c', 'import torch'], capture_output=True)\n"
    )
    run = _pytest(tmp_path, probe, "-m", "not slow and not browser")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed" in run.stdout  # the tests themselves pass: the guard fails the run
    assert "test_probe.py::test_swallowed: imported onnxruntime" in run.stdout, run.stdout
    assert "test_probe.py::test_in_a_child_process: imported torch" in run.stdout, run.stdout
