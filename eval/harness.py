"""Retrieval and end-to-end answer evaluation on SQuAD-format data (``qa eval``).

A retrieved chunk is a **hit** when its character span in the article contains a gold answer's
span, mapped from paragraph offsets to article offsets (``qa_eval.squad``). That stays fair
whatever the chunking. Indexes are built once per dataset and settings (``qa_eval.indexes``).
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from qa import QA
from qa.metrics import auroc, exact_match, f1_score, mrr_at, ndcg_at, normalize_answer, percentile, recall_at
from qa.models import RetrievalMode
from qa.settings import Settings

from . import plots
from .indexes import build_index
from .regression import citation_valid, evaluate_regression
from .reports import (
    Abstention,
    Answering,
    AnswersReport,
    IndexSummary,
    ModeMetrics,
    Quality,
    RetrievalReport,
    SquadV2,
    Subset,
    V2Rates,
    write_json,
)
from .squad import Question, answerable, load_questions, read_squad, sample, squad_title
from .tuning import extractor_label, reader_tuning, unseen_titles

MODES: tuple[RetrievalMode, ...] = ("lexical", "dense", "fused")
DEPTH = 20  # passages retrieved per question: recall@20 and the recall curve's last point


# --------------------------------------------------------------------------------- retrieval
def evaluate_retrieval(dataset: Path, cache: Path | None, out: Path | None = None, limit: int | None = None,
                       settings: Settings | None = None,
                       modes: Sequence[RetrievalMode] = MODES) -> RetrievalReport:
    """Recall@1/5/20, MRR@10, nDCG@10 and latency per mode; with ``out``, writes
    ``retrieval.json``, ``retrieval.md`` and ``recall_at_k.png`` there."""
    settings = settings or Settings.from_env()
    directory, build_seconds = build_index(dataset, cache, settings=settings)
    qa = QA(directory, sample=False, create=False, settings=settings)
    qa.embedder.warm_up()
    questions = sample(answerable(load_questions(dataset)), limit)
    spans = qa.store.chunk_spans()
    stats = qa.stats()
    metrics: dict[RetrievalMode, ModeMetrics] = {}
    curves: dict[str, list[float]] = {}
    for mode in modes:
        ranks: list[int | None] = []
        relevance: list[list[bool]] = []
        n_relevant: list[int] = []
        latencies: list[float] = []
        for q in tqdm(questions, desc=f"Querying ({mode})", unit="q", dynamic_ncols=True):
            started = time.perf_counter()
            passages = qa.search(q.text, k=DEPTH, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
            rel = [p.article_id == q.article_id and _contains(p.start, p.end, q.answers) for p in passages]
            relevance.append(rel)
            ranks.append(next((i + 1 for i, r in enumerate(rel) if r), None))
            n_relevant.append(sum(1 for s, e in spans.get(q.article_id, []) if _contains(s, e, q.answers)))
        curves[mode] = [recall_at(ranks, k) for k in range(1, DEPTH + 1)]
        metrics[mode] = ModeMetrics(
            recall_1=round(recall_at(ranks, 1), 4), recall_5=round(recall_at(ranks, 5), 4),
            recall_20=round(recall_at(ranks, 20), 4), mrr_10=round(mrr_at(ranks, 10), 4),
            ndcg_10=round(ndcg_at(relevance, n_relevant, 10), 4),
            latency_ms_p50=round(percentile(latencies, 50), 2),
            latency_ms_p95=round(percentile(latencies, 95), 2))
    report = RetrievalReport(
        dataset=str(dataset), questions=len(questions), modes=metrics,
        index=IndexSummary(articles=stats.articles, chunks=stats.chunks,
                           mean_chunk_tokens=round(qa.store.mean_chunk_tokens(), 1),
                           build_seconds=round(build_seconds, 1), settings=stats.settings))
    if out is not None:
        write_json(report, out / "retrieval.json")
        (out / "retrieval.md").write_text(report.markdown(), encoding="utf-8")
        plots.recall_curves(curves, len(questions), out / "recall_at_k.png")
    return report


def _contains(start: int, end: int, answers: Sequence[tuple[int, int, str]]) -> bool:
    return any(start <= a and b <= end for a, b, _ in answers)


# --------------------------------------------------------------------------------- answers
@dataclass(frozen=True)
class Graded:
    """One answer, graded against the question's gold answers."""

    id: str
    title: str
    question: str
    found: bool
    confidence: float
    contains: bool  # a gold answer is inside the quoted text
    em: bool  # the key span (or the quote) equals a gold answer
    f1: float
    quote: str  # empty when declined
    key: str  # the highlighted span, else the quote


@dataclass(frozen=True)
class Run:
    """``answer()`` over some questions: each graded answer and the run's summary."""

    graded: list[Graded]
    summary: Answering


def evaluate_answers(dataset: Path, cache: Path | None, out: Path | None = None, limit: int | None = None,
                     v2_dataset: Path | None = None, tuning_set: Path | None = None,
                     settings: Settings | None = None, regression_set: Path | None = None,
                     records: Path | None = None) -> AnswersReport:
    """End-to-end accuracy, span EM/F1, citation validity, abstention and latency.

    Args:
        v2_dataset: a SQuAD v2.0 file whose unanswerable questions should be declined.
        tuning_set: the file ``tune_reader`` fitted the reader on; with it, the questions used to
            fit nothing at all are reported too (``fitted_on_nothing``).
        regression_set: the hand-written questions about the sample corpus
            (``qa_eval.regression``); with it, their figures are the ``regression`` section, and
            ``out`` also gets ``regression.json`` and ``regression.md`` with every question's row.
        records: a ``.jsonl.gz`` file to get every graded answer (``write_records``), from which
            ``qa_eval.threshold`` chooses the reader's threshold out of fold.
    """
    settings = settings or Settings.from_env()
    pool = answerable(load_questions(dataset))
    questions = sample(pool, limit)
    qa = QA(build_index(dataset, cache, settings=settings)[0], sample=False, create=False, settings=settings)
    qa.warm_up()
    main = _answer_all(qa, questions, "Answering")
    # The shipped span extractor trained on every article here; a fold's model
    # ($QA_EXTRACTOR_WEIGHTS) on half, and the other half's figures are the honest ones.
    unseen = unseen_titles(settings)
    unseen_graded = [g for g, q in zip(main.graded, questions, strict=True) if q.title in unseen]

    # Abstention: index every other title, ask questions about both halves.
    inside = set(sorted(a["title"] for a in read_squad(dataset)["data"])[::2])
    half = QA(build_index(dataset, cache, titles=inside, settings=settings)[0], sample=False, create=False,
              settings=settings)
    in_titles = {squad_title(t) for t in inside}
    in_run = _answer_all(half, [q for q in questions if q.title in in_titles], "In-corpus")
    out_run = _answer_all(half, [q for q in questions if q.title not in in_titles], "Out-of-corpus")
    v2 = _squad_v2(v2_dataset, cache, limit, settings, unseen) if v2_dataset is not None else None
    report = AnswersReport(
        dataset=str(dataset), questions=len(questions), **main.summary.model_dump(),
        extractor=extractor_label(settings),
        extractor_unseen_articles=_subset(unseen_graded) if unseen else None,
        abstention=Abstention(
            auroc=round(auroc([g.confidence for g in in_run.graded], [g.confidence for g in out_run.graded]), 4),
            answered_in_corpus=round(_share(g.found for g in in_run.graded), 4),
            declined_out_of_corpus=round(1 - _share(g.found for g in out_run.graded), 4),
            in_corpus_questions=len(in_run.graded), out_of_corpus_questions=len(out_run.graded),
            threshold=settings.reader.threshold),
        fitted_on_nothing=_fitted_on_nothing(main, questions, unseen, tuning_set),
        squad_v2=v2[0] if v2 is not None else None,
        regression=(evaluate_regression(regression_set, cache, out=out, settings=settings).scores()
                    if regression_set is not None else None))
    if out is not None:
        write_json(report, out / "answers.json")
        (out / "answers.md").write_text(report.markdown(), encoding="utf-8")
    if records is not None:
        # The half index's questions are out of fold only when the extractor never read any of
        # its articles; the others' when it never trained on the question's article.
        parts = {"v1": (main.graded, None), "in_corpus": (in_run.graded, in_titles <= unseen),
                 "out_of_corpus": (out_run.graded, in_titles <= unseen)}
        if v2 is not None:
            parts |= {"v2_unanswerable": (v2[1], None), "v2_answerable": (v2[2], None)}
        write_records(records, settings.reader.threshold, parts, unseen)
    return report


def write_records(path: Path, threshold: float, parts: Mapping[str, tuple[Sequence[Graded], bool | None]],
                  unseen: set[str]) -> None:
    """Every graded answer as a JSON line (gzip): its part of the evaluation, whether it is out of
    fold (``oof``: given per part, else whether the extractor never trained on its article) and
    the run's threshold, so that a run at threshold 0 can be graded at any other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for part, (graded, oof) in parts.items():
            for g in graded:
                row = {"part": part, "oof": g.title in unseen if oof is None else oof, "threshold": threshold,
                       **asdict(g)}
                f.write(json.dumps(row) + "\n")


def _fitted_on_nothing(main: Run, questions: Sequence[Question], unseen: set[str],
                       tuning_set: Path | None) -> Subset | None:
    """The unseen articles' questions that the reader's weights and calibration were not fitted
    on either (``reader_tuning`` names those that were); None without the tuning set."""
    if tuning_set is None or not unseen:
        return None
    fitted = reader_tuning(tuning_set).fitted_ids
    return _subset([g for g, q in zip(main.graded, questions, strict=True)
                    if q.title in unseen and q.id not in fitted])


def _squad_v2(dataset: Path, cache: Path | None, limit: int | None, settings: Settings,
              unseen: set[str]) -> tuple[SquadV2, list[Graded], list[Graded]]:
    """Decline rate on SQuAD v2.0's unanswerable questions, answer rate on its answerable ones;
    over all of them, and over those about the ``unseen`` articles when there are any (with the
    graded answers to both kinds)."""
    qa = QA(build_index(dataset, cache, settings=settings)[0], sample=False, create=False, settings=settings)
    questions = sample(load_questions(dataset), limit)
    impossible = [q for q in questions if q.impossible]
    possible = answerable(questions)
    no = _answer_all(qa, impossible, "v2 unanswerable").graded
    yes = _answer_all(qa, possible, "v2 answerable").graded
    part = _v2_rates([g for g, q in zip(no, impossible, strict=True) if q.title in unseen],
                     [g for g, q in zip(yes, possible, strict=True) if q.title in unseen])
    rates = SquadV2(dataset=str(dataset), **_v2_rates(no, yes).model_dump(),
                    extractor_unseen_articles=part if unseen else None)
    return rates, no, yes


def _v2_rates(impossible: Sequence[Graded], possible: Sequence[Graded]) -> V2Rates:
    return V2Rates(
        unanswerable_questions=len(impossible), declined_unanswerable=round(1 - _share(g.found for g in impossible), 4),
        answerable_questions=len(possible), answered_answerable=round(_share(g.found for g in possible), 4),
        auroc=round(auroc([g.confidence for g in possible], [g.confidence for g in impossible]), 4))


def _answer_all(qa: QA, questions: Sequence[Question], desc: str) -> Run:
    """Ask every question; grade each answer and check every citation against its article."""
    graded = []
    latencies = []
    valid = 0
    cited = 0
    for q in tqdm(questions, desc=desc, unit="q", dynamic_ncols=True):
        started = time.perf_counter()
        a = qa.answer(q.text)
        latencies.append((time.perf_counter() - started) * 1000)
        golds = [t for _, _, t in q.answers]
        shown = a.text if a.found else ""
        key = a.text[a.highlight.start : a.highlight.end] if a.found and a.highlight else shown
        for c in a.citations:
            cited += 1
            valid += int(citation_valid(c, qa.article))  # a metadata citation holds its field's value
        graded.append(Graded(
            id=q.id, title=q.title, question=q.text, found=a.found, confidence=a.confidence,
            contains=any(normalize_answer(g) in normalize_answer(shown) for g in golds),
            em=any(exact_match(key, g) for g in golds),
            f1=max((f1_score(key, g) for g in golds), default=0.0), quote=shown, key=key))
    summary = Answering(
        **_quality(graded).model_dump(),
        citation_validity=round(valid / cited, 4) if cited else 1.0,
        answered=round(_share(g.found for g in graded), 4),
        latency_ms_p50=round(percentile(latencies, 50), 2),
        latency_ms_p95=round(percentile(latencies, 95), 2))
    return Run(graded, summary)


def _quality(graded: Sequence[Graded]) -> Quality:
    return Quality(
        answer_accuracy=round(_share(g.contains for g in graded), 4),
        span_em=round(_share(g.em for g in graded), 4),
        span_f1=round(sum(g.f1 for g in graded) / len(graded), 4) if graded else 0.0)


def _subset(graded: Sequence[Graded]) -> Subset:
    return Subset(questions=len(graded), **_quality(graded).model_dump())


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(1 for v in values if v) / len(values) if values else 0.0
