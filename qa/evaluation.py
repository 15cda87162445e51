"""Evaluation on SQuAD-format data: retrieval (span hits) and end-to-end answers.

A retrieved chunk is a **hit** when its character span in the article contains a gold answer's
span, mapped from paragraph offsets to article offsets (paragraphs are joined by blank lines).
That stays fair whatever the chunking. Indexes are built with the project's own ingestion and
cached under ``eval/.cache`` by the dataset's hash and the index settings.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import random
import re
import string
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.ingest import article_id
from qa.models import IndexSettings, Passage, RetrievalMode

if TYPE_CHECKING:
    from qa.api import QA
    from qa.store import SentenceRow

MODES: tuple[RetrievalMode, ...] = ("lexical", "dense", "fused")
CACHE = Path("eval/.cache")
# The SQuAD file the reader's weights were fitted on (``eval/tune_reader.py``), in a checkout.
TUNING_SET = Path(__file__).resolve().parents[1] / "eval" / "data" / "squad-dev-v1.1-half.json"


@dataclass(frozen=True)
class Question:
    """A SQuAD question with its gold answers as article offsets."""

    id: str
    text: str
    article_id: str
    title: str
    answers: tuple[tuple[int, int, str], ...]  # (start, end, text) in the article
    impossible: bool


def load_questions(dataset: Path) -> list[Question]:
    """Every question of a SQuAD file, answers mapped from paragraph to article offsets."""
    data = json.loads(dataset.read_text(encoding="utf-8"))
    questions = []
    for item in data["data"]:
        title = str(item["title"]).replace("_", " ")
        aid = article_id(title, f"squad#{title}")
        offset = 0
        for paragraph in item["paragraphs"]:
            for qa in paragraph.get("qas", []):
                answers = tuple(
                    (offset + a["answer_start"], offset + a["answer_start"] + len(a["text"]), a["text"])
                    for a in qa.get("answers", []))
                questions.append(Question(qa["id"], qa["question"], aid, title, answers,
                                          bool(qa.get("is_impossible", False)) or not answers))
            offset += len(paragraph["context"]) + 2  # the "\n\n" that joins paragraphs
    return questions


def sample(questions: Sequence[Question], limit: int | None, seed: int = 0) -> list[Question]:
    """A fixed random sample of ``limit`` questions (all of them when limit is None)."""
    if limit is None or limit >= len(questions):
        return list(questions)
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]


def build_index(dataset: Path, settings: IndexSettings | None = None, titles: set[str] | None = None,
                cache: Path | None = CACHE) -> tuple[Path, float]:
    """Index a SQuAD file's articles (optionally only some titles); returns (directory, seconds).

    The build time is the one measured when the cached index was first built.
    """
    from qa.indexing import ingest_paths
    from qa.store import Store

    settings = settings or IndexSettings()
    raw = dataset.read_bytes()
    data = json.loads(raw)
    if titles is not None:
        data = {"version": data.get("version", ""), "data": [a for a in data["data"] if a["title"] in titles]}
    fingerprint = json.dumps(data["data"], sort_keys=True) + settings.model_dump_json()
    key = hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    root = cache if cache is not None else Path(tempfile.mkdtemp(prefix="qa-eval-"))
    directory = root / f"index-{key}"
    timing = directory / "build_seconds.txt"
    if timing.exists():
        return directory, float(timing.read_text())
    source = root / f"source-{key}" / dataset.name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text(json.dumps(data), encoding="utf-8")
    if directory.exists():
        import shutil

        shutil.rmtree(directory)
    start = time.perf_counter()
    store = Store.open(directory, settings, create=True)
    report = ingest_paths(store, [source], progress=True)
    seconds = time.perf_counter() - start
    if report.rejected:
        raise RuntimeError(f"evaluation data was rejected: {report.rejected}")
    timing.write_text(f"{seconds:.3f}")
    return directory, seconds


# --------------------------------------------------------------------------------- metrics
def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first hit is at rank <= k (ranks start at 1; None = no hit)."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr_at(ranks: Sequence[int | None], k: int) -> float:
    """Mean reciprocal rank of the first hit, counting only hits within the top k."""
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def ndcg_at(relevance: Sequence[Sequence[bool]], n_relevant: Sequence[int], k: int) -> float:
    """Mean nDCG@k with binary relevance; ``n_relevant`` counts relevant items in the index."""
    total = 0.0
    for rel, n in zip(relevance, n_relevant, strict=True):
        dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel[:k]) if r)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(n, k)))
        total += dcg / ideal if ideal else 0.0
    return total / len(relevance) if relevance else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def auroc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    neg = np.sort(np.asarray(negatives))
    pos = np.asarray(positives)
    below = np.searchsorted(neg, pos, side="left")
    equal = np.searchsorted(neg, pos, side="right") - below
    return float((below + 0.5 * equal).sum() / (len(pos) * len(neg)))


def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, articles or extra spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1_score(prediction: str, gold: str) -> float:
    """SQuAD's official token F1."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(gold).split()
    common = collections.Counter(pred) & collections.Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, gold: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(gold)


# --------------------------------------------------------------------------------- retrieval
def evaluate_retrieval(dataset: Path, limit: int | None = None, out: Path | None = Path("eval/reports"),
                       settings: IndexSettings | None = None, retrieval: Any = None,
                       cache: Path | None = CACHE, modes: Sequence[RetrievalMode] = MODES) -> dict[str, Any]:
    """Recall@1/5/20, MRR@10, nDCG@10 and latency per mode; writes JSON, Markdown and a plot."""
    from tqdm import tqdm

    from qa.embedding import Embedder
    from qa.retrieval import Retriever
    from qa.store import Store

    directory, build_seconds = build_index(dataset, settings, cache=cache)
    store = Store.open(directory)
    retriever = Retriever(store, Embedder(store.settings.model_name), retrieval)
    retriever.embedder.warm_up()
    questions = sample([q for q in load_questions(dataset) if not q.impossible], limit)
    spans = _chunk_spans(store)
    report: dict[str, Any] = {
        "dataset": str(dataset), "questions": len(questions),
        "index": {"articles": store.stats().articles, "chunks": store.stats().chunks,
                  "mean_chunk_tokens": _mean_chunk_tokens(store),
                  "build_seconds": round(build_seconds, 1), "settings": store.settings.model_dump()},
        "modes": {},
    }
    curves: dict[str, list[float]] = {}
    for mode in modes:
        ranks: list[int | None] = []
        relevance: list[list[bool]] = []
        n_relevant: list[int] = []
        latencies: list[float] = []
        for q in tqdm(questions, desc=f"Querying ({mode})", unit="q", dynamic_ncols=True):
            started = time.perf_counter()
            passages = retriever.search(q.text, k=20, mode=mode)
            latencies.append((time.perf_counter() - started) * 1000)
            rel = [p.article_id == q.article_id and _contains(p.start, p.end, q.answers) for p in passages]
            relevance.append(rel)
            ranks.append(next((i + 1 for i, r in enumerate(rel) if r), None))
            n_relevant.append(sum(1 for s, e in spans.get(q.article_id, []) if _contains(s, e, q.answers)))
        curves[mode] = [recall_at(ranks, k) for k in range(1, 21)]
        report["modes"][mode] = {
            "recall@1": round(recall_at(ranks, 1), 4), "recall@5": round(recall_at(ranks, 5), 4),
            "recall@20": round(recall_at(ranks, 20), 4), "mrr@10": round(mrr_at(ranks, 10), 4),
            "ndcg@10": round(ndcg_at(relevance, n_relevant, 10), 4),
            "latency_ms_p50": round(percentile(latencies, 50), 2),
            "latency_ms_p95": round(percentile(latencies, 95), 2),
        }
    if out is not None:
        _write_retrieval_report(report, curves, out)
    return report


def _contains(start: int, end: int, answers: Sequence[tuple[int, int, str]]) -> bool:
    return any(start <= a and b <= end for a, b, _ in answers)


def _chunk_spans(store: Any) -> dict[str, list[tuple[int, int]]]:
    spans: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    for row in store._query('SELECT article_id, start, "end" FROM chunks'):
        spans[row[0]].append((row[1], row[2]))
    return spans


def _mean_chunk_tokens(store: Any) -> float:
    return round(float(store._query("SELECT avg(token_count) FROM chunks")[0][0] or 0.0), 1)


def _write_retrieval_report(report: dict[str, Any], curves: dict[str, list[float]], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    metrics = ["recall@1", "recall@5", "recall@20", "mrr@10", "ndcg@10", "latency_ms_p50", "latency_ms_p95"]
    lines = [
        f"# Retrieval: {Path(report['dataset']).name}, {report['questions']} questions",
        "",
        f"Index: {report['index']['articles']} articles, {report['index']['chunks']} chunks "
        f"(mean {report['index']['mean_chunk_tokens']} tokens), built in "
        f"{report['index']['build_seconds']} s.",
        "",
        "| mode | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for mode, values in report["modes"].items():
        lines.append(f"| {mode} | " + " | ".join(f"{values[m]}" for m in metrics) + " |")
    (out / "retrieval.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, curve in curves.items():
        ax.plot(range(1, 21), curve, marker="o", markersize=3, label=mode)
    ax.set_xlabel("k")
    ax.set_ylabel("recall@k")
    ax.set_title(f"Retrieval recall@k ({report['questions']} questions)")
    ax.set_xticks(range(1, 21, 2))
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "recall_at_k.png", dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------- answers
def evaluate_answers(dataset: Path, limit: int | None = None, out: Path | None = Path("eval/reports"),
                     v2_dataset: Path | None = Path("eval/data/squad-dev-v2.0-half.json"),
                     cache: Path | None = CACHE, reader: Any = None) -> dict[str, Any]:
    """End-to-end accuracy, span EM/F1, citation validity, abstention and latency."""
    from qa.api import QA

    data = json.loads(dataset.read_text(encoding="utf-8"))
    titles = sorted(a["title"] for a in data["data"])
    questions = sample([q for q in load_questions(dataset) if not q.impossible], limit)

    directory, _ = build_index(dataset, cache=cache)
    qa = QA(directory, sample=False, reader=reader)
    qa.warm_up()
    main = _answer_all(qa, questions, "Answering")
    # The span extractor was fine-tuned on half the articles; the other half's figures are the
    # honest ones for articles it has never seen.
    unseen = {t.replace("_", " ") for t in extractor_card()["held_out_titles"]}
    unseen_rows = [r for r, q in zip(main["rows"], questions, strict=True) if q.title in unseen]

    # Abstention: index every other title, ask questions about both halves.
    inside = set(titles[::2])
    half_dir, _ = build_index(dataset, titles=inside, cache=cache)
    half = QA(half_dir, sample=False, reader=reader)
    by_title = {t.replace("_", " ") for t in inside}
    pool = sample([q for q in load_questions(dataset) if not q.impossible], limit)
    in_q = [q for q in pool if q.title in by_title]
    out_q = [q for q in pool if q.title not in by_title]
    in_rows = _answer_all(half, in_q, "In-corpus")
    out_rows = _answer_all(half, out_q, "Out-of-corpus")
    report: dict[str, Any] = {
        "dataset": str(dataset), "questions": len(questions), **main["summary"],
        "extractor_unseen_articles": {"questions": len(unseen_rows), **_quality(unseen_rows)},
        "abstention": {
            "auroc": round(auroc([r["confidence"] for r in in_rows["rows"]],
                                 [r["confidence"] for r in out_rows["rows"]]), 4),
            "answered_in_corpus": round(_rate(in_rows["rows"], "found"), 4),
            "declined_out_of_corpus": round(1 - _rate(out_rows["rows"], "found"), 4),
            "in_corpus_questions": len(in_rows["rows"]), "out_of_corpus_questions": len(out_rows["rows"]),
            "threshold": qa.reader.settings.threshold,
        },
    }
    if TUNING_SET.exists():
        # The reader's weights and calibration were fitted on some of the unseen articles'
        # questions of the tuning set (``reader_tuning``); the others were used to fit nothing.
        fitted = reader_tuning(TUNING_SET).fitted_ids
        clean = [r for r, q in zip(main["rows"], questions, strict=True) if q.title in unseen and q.id not in fitted]
        report["fitted_on_nothing"] = {"questions": len(clean), **_quality(clean)}
    if v2_dataset is not None and v2_dataset.exists():
        v2_dir, _ = build_index(v2_dataset, cache=cache)
        v2 = QA(v2_dir, sample=False, reader=reader)
        v2_questions = sample(load_questions(v2_dataset), limit)
        impossible = _answer_all(v2, [q for q in v2_questions if q.impossible], "v2 unanswerable")
        possible = _answer_all(v2, [q for q in v2_questions if not q.impossible], "v2 answerable")
        report["squad_v2"] = {
            "dataset": str(v2_dataset),
            "unanswerable_questions": len(impossible["rows"]),
            "declined_unanswerable": round(1 - _rate(impossible["rows"], "found"), 4),
            "answerable_questions": len(possible["rows"]),
            "answered_answerable": round(_rate(possible["rows"], "found"), 4),
            "auroc": round(auroc([r["confidence"] for r in possible["rows"]],
                                 [r["confidence"] for r in impossible["rows"]]), 4),
        }
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "answers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        (out / "answers.md").write_text(_answers_markdown(report), encoding="utf-8")
    return report


def _answer_all(qa: Any, questions: Sequence[Question], desc: str) -> dict[str, Any]:
    from tqdm import tqdm

    rows = []
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
            article = qa.store.article(c.article_id)
            valid += int(article is not None and article.text[c.start : c.end] == c.quote)
        rows.append({
            "found": a.found, "confidence": a.confidence,
            "contains": any(normalize_answer(g) in normalize_answer(shown) for g in golds) if golds else False,
            "em": max((exact_match(key, g) for g in golds), default=False),
            "f1": max((f1_score(key, g) for g in golds), default=0.0),
        })
    summary = {
        **_quality(rows),
        "citation_validity": round(valid / cited, 4) if cited else 1.0,
        "answered": round(_rate(rows, "found"), 4),
        "latency_ms_p50": round(percentile(latencies, 50), 2),
        "latency_ms_p95": round(percentile(latencies, 95), 2),
    }
    return {"rows": rows, "summary": summary}


def _quality(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    return {
        "answer_accuracy": round(_rate(rows, "contains"), 4),
        "span_em": round(_rate(rows, "em"), 4),
        "span_f1": round(sum(r["f1"] for r in rows) / len(rows), 4) if rows else 0.0,
    }


def extractor_card() -> dict[str, Any]:
    """The shipped span extractor's training card (``qa/data/extractor/card.json``)."""
    from qa.extractor import WEIGHTS_DIR

    card: dict[str, Any] = json.loads((WEIGHTS_DIR / "card.json").read_text(encoding="utf-8"))
    return card


@dataclass(frozen=True)
class ReaderTuning:
    """The questions ``eval/tune_reader.py`` uses: ``fit`` and ``held_out`` halve the answerable
    questions about the articles the extractor never saw (weights are fitted on one, measured on
    the other); ``calibration`` is asked of an index of half the articles to fit the confidence.

    Defined here so the answer evaluation can also report the questions that nothing shipped was
    fitted on (neither the extractor nor the reader's weights and calibration).
    """

    fit: list[Question]
    held_out: list[Question]
    calibration: list[Question]

    @property
    def fitted_ids(self) -> set[str]:
        return {q.id for q in self.fit + self.calibration}


def reader_tuning(dataset: Path, limit: int = 2000) -> ReaderTuning:
    """The seeded question samples of ``ReaderTuning``: ``limit`` per sample, as ``--limit`` of
    ``eval/tune_reader.py`` (2,000 there and here by default)."""
    unseen = {t.replace("_", " ") for t in extractor_card()["held_out_titles"]}
    answerable = [q for q in load_questions(dataset) if not q.impossible]
    questions = sample([q for q in answerable if q.title in unseen], limit, seed=1)
    random.Random(0).shuffle(questions)
    half = len(questions) // 2
    return ReaderTuning(questions[:half], questions[half:], sample(answerable, limit, seed=2))


def reader_candidates(qa: QA, question: str) -> list[tuple[SentenceRow, Passage, tuple[float, ...]]]:
    """The candidate sentences ``answer()`` would score for ``question``, with their features.

    Retrieval as the reader runs it, then ``Reader.candidates``: the scripts that tune the reader
    and train the extractor label these, so they learn from what the reader is actually shown.
    """
    vector = qa.embedder.encode_queries([question])
    passages = qa.retriever.search(question, k=qa.reader.settings.k, query_vector=vector)
    return qa.reader.candidates(question, vector, passages)


def _rate(rows: Sequence[dict[str, Any]], key: str) -> float:
    return sum(1 for r in rows if r[key]) / len(rows) if rows else 0.0


def _answers_markdown(report: dict[str, Any]) -> str:
    ab = report["abstention"]
    unseen = report["extractor_unseen_articles"]
    clean = report.get("fitted_on_nothing")
    lines = [
        f"# Answers: {Path(report['dataset']).name}, {report['questions']} questions", "",
        "| answer accuracy | span EM | span F1 | citation validity | answered | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
        f"| {report['answer_accuracy']} | {report['span_em']} | {report['span_f1']} | "
        f"{report['citation_validity']} | {report['answered']} | {report['latency_ms_p50']} | "
        f"{report['latency_ms_p95']} |", "",
        "## Articles the span extractor never saw", "",
        "| questions | answer accuracy | span EM | span F1 |", "|---|---|---|---|",
        f"| {unseen['questions']} | {unseen['answer_accuracy']} | {unseen['span_em']} | {unseen['span_f1']} |",
        *([f"| {clean['questions']} of them, none used to fit the reader | {clean['answer_accuracy']} | "
           f"{clean['span_em']} | {clean['span_f1']} |"] if clean else []), "",
        "## Abstention (index of half the articles)", "",
        "| AUROC | answered in-corpus | declined out-of-corpus | threshold |", "|---|---|---|---|",
        f"| {ab['auroc']} | {ab['answered_in_corpus']} | {ab['declined_out_of_corpus']} | {ab['threshold']} |",
    ]
    if "squad_v2" in report:
        v2 = report["squad_v2"]
        lines += ["", "## SQuAD v2.0 unanswerable questions", "",
                  "| declined unanswerable | answered answerable | AUROC |", "|---|---|---|",
                  f"| {v2['declined_unanswerable']} | {v2['answered_answerable']} | {v2['auroc']} |"]
    return "\n".join(lines) + "\n"
