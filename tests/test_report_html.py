"""The evaluation page (``qa_eval.report_html``): reports rendered, plots embedded, text escaped."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from qa_eval.report_html import render

PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
                       "AAAABJRU5ErkJggg==")  # a 1x1 picture


def test_reports_become_one_page_with_tables_plots_and_escaped_text(tmp_path: Path) -> None:
    (tmp_path / "retrieval.md").write_text(
        "# Retrieval\n\n| mode | R@5 |\n|---|---|\n| fused | 0.965 |\n\nAsked <script>alert(1)</script>\n",
        encoding="utf-8")
    (tmp_path / "recall_at_k.png").write_bytes(PNG)
    (tmp_path / "app.json").write_text(json.dumps({"first_answer_s": 14.7, "note": "<b>x</b>",
                                                   "rows": [{"a": 1}]}), encoding="utf-8")
    page = render(tmp_path)
    assert "<td>0.965</td>" in page and "<h1>Retrieval</h1>" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'src="data:image/png;base64,' in page
    assert "<th>first_answer_s</th><td>14.7</td>" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "rows" not in page.split("first_answer_s")[1].split("</table>")[0]  # records are left out
    assert "No answers.md yet." in page
