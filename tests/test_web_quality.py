"""The Quality tab's page (``qa.web.quality``): headline figures and plots from a reports
directory, escaped, and one sentence when there are none. No gradio, no model."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

from qa.web.quality import render_quality

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")  # a 1x1 picture
HOSTILE = '<script>window.pwned=1</script><img src=x onerror="alert(1)"> ${x}'


def test_headline_figures_and_plots_from_the_reports(tmp_path: Path) -> None:
    (tmp_path / "answers.json").write_text(json.dumps({
        "dataset": f"eval/data/{HOSTILE}.json", "questions": 1500, "answer_accuracy": 0.8307,
        "citation_validity": 1.0, "answered": True, "abstention": {"auroc": 0.9903},
        "latency_ms_p50": 65.57}), encoding="utf-8")
    (tmp_path / "app.json").write_text(json.dumps({"date": "2026-11-26T09:39:46+00:00", "first_answer_s": 14.7,
                                                   "rss_mb_after_questions": 473.0}), encoding="utf-8")
    (tmp_path / "recall_at_k.png").write_bytes(PNG)
    (tmp_path / "extra <img src=x onerror=alert(2)> ${y}.png").write_bytes(PNG)  # no "/" in a name
    page = render_quality(tmp_path)

    for shown in ("83.1%", "Answer accuracy", "100.0%", "0.990", "66 ms", "14.7 s", "473 MB",
                  "1,500 questions", "measured 2026-11-26"):
        assert shown in page, shown
    assert "Answered</div>" not in page  # a boolean is not a figure
    assert "Retrieval" not in page.split("qa-plots")[0]  # an absent report has no section
    assert page.count('src="data:image/png;base64,') == 2
    # The harness's plots come first, captioned; any other is named by its file.
    assert page.index("among the k best") < page.index("extra &lt;img")
    assert "<script" not in page and "<img src=x" not in page and "${" not in page
    assert "&lt;img src=x" in page


def test_no_reports_is_one_sentence(tmp_path: Path) -> None:
    for reports in (None, tmp_path / "absent", tmp_path):
        page = render_quality(reports)
        assert "No evaluation reports were found" in page and "qa eval answers" in page
        assert "<img" not in page


def test_an_unreadable_report_is_named(tmp_path: Path) -> None:
    (tmp_path / "retrieval.json").write_text("{not json", encoding="utf-8")
    page = render_quality(tmp_path)
    assert "retrieval.json could not be read" in page


def test_importing_the_tab_does_not_import_the_harness() -> None:
    probe = "import sys, qa.web.quality\nassert 'qa_eval' not in sys.modules\nassert 'gradio' not in sys.modules"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
