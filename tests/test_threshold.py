"""``qa_eval.threshold``: grading records at any threshold, choosing it by article folds, and its
command's reports and errors (records written here; the harness's own are tested in
test_evaluation)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from qa_eval.threshold import FOLDS, Record, best_threshold, by_folds, load, main, rates


def record(part: str, title: str, confidence: float, right: bool = True, oof: bool = True,
           threshold: float = 0.0) -> Record:
    return Record(part=part, oof=oof, threshold=threshold, id=f"{title}-{confidence}", title=title,
                  question="Who?", found=True, confidence=confidence, contains=right, em=right,
                  f1=1.0 if right else 0.0, quote="Someone did.", key="Someone")


def separable(titles: int = 10) -> list[Record]:
    """Every answerable question confident and right, every other one unsure: a clean cut at 0.5."""
    rows = []
    for i in range(titles):
        t = f"Article {i}"
        rows += [record("v1", t, 0.8), record("v1", t, 0.7), record("v2_answerable", t, 0.75),
                 record("v2_unanswerable", t, 0.3, right=False), record("in_corpus", t, 0.9),
                 record("out_of_corpus", t, 0.2, right=False)]
    return rows


def write(path: Path, rows: list[Record]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(r.model_dump_json() + "\n" for r in rows)
    return path


def test_rates_grade_an_answer_as_given_only_at_or_above_the_threshold() -> None:
    rows = [record("v1", "A", 0.4), record("v1", "A", 0.6, right=False), record("v2_unanswerable", "A", 0.5),
            record("out_of_corpus", "A", 0.45)]
    got = rates(rows, 0.5)
    assert got["answer_accuracy"] == 0.0  # the right answer is below the threshold, the given one wrong
    assert got["v2_declined_unanswerable"] == 0.0 and got["declined_out_of_corpus"] == 1.0
    assert rates(rows, 0.3)["answer_accuracy"] == 0.5
    # Each row at its own threshold, as the folds grade them.
    assert rates(rows, [0.3, 0.3, 0.6, 0.6])["v2_declined_unanswerable"] == 1.0


def test_the_threshold_falls_between_what_should_be_answered_and_what_should_not() -> None:
    rows = separable()
    assert 0.3 < best_threshold(rows) <= 0.7
    pooled, chosen = by_folds(rows)
    assert len(chosen) == FOLDS and all(0.3 < t <= 0.7 for t in chosen)
    assert pooled["answer_accuracy"] == 1.0 and pooled["v2_declined_unanswerable"] == 1.0
    assert pooled["declined_out_of_corpus"] == 1.0 and pooled["answered_in_corpus"] == 1.0


def test_a_fold_is_graded_at_the_threshold_its_other_articles_chose() -> None:
    # Only one article has sure unanswerable questions: the threshold chosen on all rises above
    # them, but the fold holding that article chose on the others, cut low and answers them.
    rows = separable() + [record("v2_unanswerable", "Article 0", 0.65, right=False) for _ in range(30)]
    assert best_threshold(rows) > 0.65
    pooled, chosen = by_folds(rows)
    assert sorted(chosen)[0] < 0.65 < sorted(chosen)[-1]
    assert pooled["v2_declined_unanswerable"] == 10 / 40
    assert rates(rows, best_threshold(rows))["v2_declined_unanswerable"] == 1.0


def test_the_command_writes_its_reports_from_out_of_fold_records_only(tmp_path: Path) -> None:
    rows = separable() + [record("v1", "Seen", 0.05, right=False, oof=False)]
    assert main([str(write(tmp_path / "a.jsonl.gz", rows)), "--out", str(tmp_path / "out")]) == 0
    written = json.loads((tmp_path / "out" / "threshold.json").read_text())
    assert written["questions"]["v1"] == 20  # the record of a fold model's own article is left out
    assert 0.3 < written["chosen_on_all"] <= 0.7 and written["out_of_fold"]["answer_accuracy"] == 1.0
    assert "chosen on all" in (tmp_path / "out" / "threshold.md").read_text()


def test_a_run_that_declined_by_its_own_threshold_cannot_be_regraded(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "b.jsonl.gz", [record("v1", "A", 0.5, threshold=0.2)])
    with pytest.raises(ValueError, match="--threshold 0"):
        load([path])
    assert main([str(path), "--out", str(tmp_path)]) == 1
    assert main([str(tmp_path / "missing.jsonl.gz")]) == 1
    assert "no records at" in capsys.readouterr().err
