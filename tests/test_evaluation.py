"""The evaluation harness (qa_eval): gold-span mapping, tuning samples, report models, the
``qa eval`` command's checks and defaults, and small end-to-end evaluations (written to tmp)."""

from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from qa_eval import defaults
from qa_eval.bench_report import BenchReport
from qa_eval.harness import evaluate_answers, evaluate_retrieval
from qa_eval.reports import AnswersReport, Report, RetrievalReport
from qa_eval.squad import load_questions, squad_title
from qa_eval.threshold import Record, rates
from qa_eval.tuning import extractor_card, reader_tuned_titles, reader_tuning

from qa.cli import main
from qa.ingest import read_file

ROOT = Path(__file__).resolve().parents[1]
SQUAD = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
REPORTS = ROOT / "eval" / "reports"


def test_gold_spans_map_to_article_offsets(small_squad: Path) -> None:
    articles = {a.id: a for a in read_file(small_squad)}
    questions = load_questions(small_squad)
    assert len(questions) > 100
    for q in questions:
        text = articles[q.article_id].text  # the id ingest gives the article
        for start, end, answer in q.answers:
            assert text[start:end] == answer


def test_reader_tuning_fits_and_measures_on_the_first_folds_unseen_articles_only() -> None:
    tuning = reader_tuning(SQUAD)
    assert len(tuning.fit) == len(tuning.held_out) == 1000
    assert len(tuning.calibration) == 2000
    assert not {q.id for q in tuning.fit} & {q.id for q in tuning.held_out}
    tuned = reader_tuned_titles(SQUAD)
    first_fold = next(f for f in extractor_card()["folds"] if f["half"] == 0)
    assert tuned == {squad_title(t) for t in first_fold["held_out_titles"]}
    assert all(q.title in tuned and not q.impossible for q in tuning.fit + tuning.held_out)
    assert {q.title for q in tuning.calibration} - tuned, "calibration also asks about training articles"
    assert tuning.fitted_ids == {q.id for q in tuning.fit + tuning.calibration}
    assert [q.id for q in reader_tuning(SQUAD).fit] == [q.id for q in tuning.fit]


@pytest.mark.parametrize(("name", "model"), [
    ("retrieval.json", RetrievalReport), ("answers.json", AnswersReport), ("bench.json", BenchReport)])
def test_report_models_write_the_committed_reports_keys(name: str, model: type[Report]) -> None:
    """The README's figures come from these files: a report model reads each and writes it back
    with the same keys and values, so runs before and after a change compare key by key."""
    committed = json.loads((REPORTS / name).read_text(encoding="utf-8"))
    assert json.loads(model.model_validate(committed).to_json()) == committed


def test_defaults_are_the_checkout_files_or_the_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert defaults.in_checkout()
    assert defaults.cache_dir() == ROOT / "eval" / ".cache"  # absolute: never the working directory's
    assert defaults.reports_dir() == REPORTS
    assert defaults.DEV_SET == SQUAD
    monkeypatch.setattr(defaults, "DATA", tmp_path / "no-data")  # as in an installed copy
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    assert not defaults.in_checkout()
    assert defaults.cache_dir() == tmp_path / "cache" / "eval"
    assert defaults.reports_dir() == Path("qa-reports")


def test_eval_says_in_one_sentence_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = ["--out", str(tmp_path / "reports"), "--cache", str(tmp_path / "cache")]
    assert main(["eval", "retrieval", str(tmp_path / "none.json"), *out]) == 1
    assert capsys.readouterr().err == f"error: no dataset at {tmp_path / 'none.json'}\n"
    assert main(["eval", "answers", str(SQUAD), "--v2", str(tmp_path / "v2.json"), *out]) == 1
    assert capsys.readouterr().err == f"error: no SQuAD v2.0 file at {tmp_path / 'v2.json'}\n"
    assert main(["eval", "answers", str(SQUAD), "--threshold", "1.5", *out]) == 1
    assert capsys.readouterr().err == "error: --threshold is 1.5: a confidence threshold is between 0 and 1\n"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert main(["eval", "retrieval", str(SQUAD), *out]) == 1
    assert capsys.readouterr().err == "error: the plots need matplotlib: pip install 'article-qa[eval]'\n"
    assert not (tmp_path / "reports").exists() and not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_small_end_to_end_retrieval_eval(small_squad: Path, tmp_path: Path, embedder: object) -> None:
    out = tmp_path / "reports"
    report = evaluate_retrieval(small_squad, tmp_path / "cache", out=out, limit=40)
    written = json.loads((out / "retrieval.json").read_text())
    assert written == json.loads(report.to_json())
    assert written["questions"] == 40
    assert set(written["modes"]) == {"fused", "dense", "lexical"}
    for values in written["modes"].values():
        assert {"recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10", "latency_ms_p50",
                "latency_ms_p95"} == set(values)
        assert 0.0 <= values["recall@1"] <= values["recall@5"] <= values["recall@20"] <= 1.0
    assert written["index"]["articles"] == 2 and written["index"]["mean_chunk_tokens"] > 0
    assert (out / "retrieval.md").read_text().count("| fused |") == 1
    assert (out / "recall_at_k.png").stat().st_size > 1000
    # On two articles the fused mode finds the gold passage in its top 5 for most questions.
    assert report.modes["fused"].recall_5 >= 0.85


@pytest.mark.slow
def test_small_end_to_end_answer_eval(small_squad: Path, tmp_path: Path, embedder: object) -> None:
    out = tmp_path / "reports"
    records = tmp_path / "records.jsonl.gz"
    report = evaluate_answers(small_squad, tmp_path / "cache", out=out, limit=30, tuning_set=SQUAD, records=records)
    written = json.loads((out / "answers.json").read_text())
    assert written == json.loads(report.to_json())
    assert written["questions"] == 30
    assert written["citation_validity"] == 1.0
    assert {"answer_accuracy", "span_em", "span_f1", "latency_ms_p50", "latency_ms_p95"} <= set(written)
    assert {"auroc", "answered_in_corpus", "declined_out_of_corpus"} <= set(written["abstention"])
    assert "squad_v2" not in written  # none was given
    # The shipped extractor trained on every dev article, so no subset is unseen by it (a fold's
    # model, through $QA_EXTRACTOR_WEIGHTS, gives those figures).
    assert written["extractor"] == "shipped (trained on 24 articles)"
    assert "extractor_unseen_articles" not in written and "fitted_on_nothing" not in written
    assert "None: it trained on every article here" in (out / "answers.md").read_text()
    # Two articles, questions about them: most answers hold a gold answer.
    assert written["answer_accuracy"] >= 0.6
    # Every graded answer is in the records, which grade back to the report's figures.
    with gzip.open(records, "rt", encoding="utf-8") as f:
        rows = [Record.model_validate_json(line) for line in f]
    assert Counter(r.part for r in rows) == {"v1": 30, "in_corpus": report.abstention.in_corpus_questions,
                                             "out_of_corpus": report.abstention.out_of_corpus_questions}
    assert not any(r.oof for r in rows)  # the shipped extractor trained on both articles
    regraded = rates(rows, report.abstention.threshold)
    assert round(regraded["answer_accuracy"], 4) == report.answer_accuracy
    assert round(regraded["span_f1"], 4) == report.span_f1
    assert round(regraded["answered_in_corpus"], 4) == report.abstention.answered_in_corpus
