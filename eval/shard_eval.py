"""Shards against one index on the SQuAD dev half: equal retrieval and answers, and the cost of fan-out.

``python -m qa_eval.shard_eval`` writes ``eval/reports/shards.json``:

1. The dev half as one index (``qa_eval.indexes.build_index``: the cached index ``qa eval
   retrieval`` scores).
2. The same SQuAD file ingested into N shards (4 by default) through the sharded ingest itself
   (``Shards.ingest``: read, route by ``shard_of``, chunk, commit per shard), with
   ``ReplayEncoder`` handing out the one index's own vector for each text: the embedder is
   deterministic, so embedding again would give the same vectors, and would take minutes a
   layout on two cores.
3. Fused retrieval, 20 deep, for every answerable question on both: R@1, R@5, R@20, MRR@10 and
   how many questions got the very same passages. The shards are also searched with each
   shard's own FTS5 ``bm25()`` merged as it comes (``LocalStatistics``), to measure what summing
   the shards' statistics (``qa.store.bm25``) buys.
4. ``answer()`` on a fixed sample of questions on both: how many answers are identical (found,
   cited article and offsets, confidence), and each side's answer accuracy.
5. Fan-out: the dev half in 1, 2, 4 and 8 shards, beside the one index: fused search and
   ``answer()`` latency over the same questions (shards asked one after another in one
   process), and the peak memory of a fresh process that opens the layout and answers
   questions, so memory per shard is the slope.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import Field
from tqdm import tqdm

from qa import QA
from qa.embedding import Vectors
from qa.metrics import mrr_at, percentile, recall_at
from qa.models import Answer, Passage
from qa.settings import Settings
from qa.shards import Shards, global_id, locate
from qa.store import Store

from . import defaults
from .harness import DEPTH
from .indexes import build_index
from .reports import Report, write_json
from .squad import Question, answerable, load_questions, sample

LAYOUTS = (1, 2, 4, 8)


class ReplayEncoder:
    """A ``DocumentEncoder`` that hands out the vectors an existing index stored for each text it
    embedded (a sentence's as that index embeds it, ``IndexSettings.sentence_input``).

    Raises ``KeyError`` (naming the text) for a text that index never embedded: the shards must
    be cut from the same articles with the same chunking.
    """

    def __init__(self, store: Store) -> None:
        self._vectors: dict[str, np.ndarray] = {}
        chunks_of = store.ids_by_article("chunks")
        for info in store.articles():
            chunk_ids = chunks_of[info.id]
            rows = store.chunks(chunk_ids)
            self._keep([rows[i].text for i in chunk_ids], store.chunk_vectors(chunk_ids))
            sentences = store.sentences_in(info.id, 0, len(store.article_text(info.id)) + 1)
            self._keep([store.settings.sentence_input(info.title, s.text) for s in sentences],
                       store.sentence_vectors([s.id for s in sentences]))

    def _keep(self, texts: Sequence[str], vectors: Vectors) -> None:
        self._vectors.update(zip(texts, vectors, strict=True))

    def encode_documents(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in texts if t not in self._vectors]
        if missing:
            raise KeyError(f"the source index never embedded {missing[0][:80]!r}")
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)


def build_shards(dataset: Path, source: Store, target: Path, count: int) -> Shards:
    """``dataset`` ingested into ``count`` new shards under ``target`` with ``source``'s vectors."""
    shards = Shards.open(locate(target, count), source.settings, create=True)
    report = shards.ingest([dataset], ReplayEncoder(source))
    if report.rejected or not report.added:
        raise RuntimeError(f"the shards were not built: {report.rejected}")
    return shards


class LocalStatistics(Shards):
    """Shards merged by each shard's own FTS5 ``bm25()``: what the merge would be without
    summing the statistics (the comparison, not a mode of the product)."""

    def lexical_chunks(self, match: str, k: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        if allowed is not None:
            raise ValueError("LocalStatistics searches without filters")
        found = [(global_id(n, row), s) for n, store in enumerate(self.stores)
                 for row, s in store.lexical_chunks(match, k)]
        return sorted(found, key=lambda pair: pair[1], reverse=True)[:k]

    def lexical_sentences(self, match: str, ids: Sequence[int]) -> dict[int, float]:
        out: dict[int, float] = {}
        for n, local in self._by_shard(ids).items():
            out.update({global_id(n, row): s for row, s in self.stores[n].lexical_sentences(match, local).items()})
        return out


# --------------------------------------------------------------------------------- reports
class Retrieval(Report):
    """Fused retrieval, ``DEPTH`` passages deep, over every answerable question."""

    recall_1: float = Field(serialization_alias="recall@1", validation_alias="recall@1")
    recall_5: float = Field(serialization_alias="recall@5", validation_alias="recall@5")
    recall_20: float = Field(serialization_alias="recall@20", validation_alias="recall@20")
    mrr_10: float = Field(serialization_alias="mrr@10", validation_alias="mrr@10")
    same_passages: float  # share of questions whose passages equal the one index's, in order


class Answers(Report):
    """``answer()`` on a sample: accuracy (a gold answer inside the quote) and identity."""

    questions: int
    accuracy: float
    identical: float  # found, cited article and offsets equal to the one index's; confidence within 1e-6


class FanOut(Report):
    """One layout of the dev half (0 shards: the one index itself)."""

    shards: int
    chunks_per_shard: float
    search_ms_p50: float
    search_ms_p95: float
    answer_ms_p50: float
    answer_ms_p95: float
    peak_rss_mb: float


class ShardReport(Report):
    """``shards.json``: a sharded dev half against the one index, and fan-out costs."""

    date: str
    machine: str
    dataset: str
    shards: int
    articles_per_shard: list[int]
    chunks_per_shard: list[int]
    retrieval_questions: int
    retrieval: dict[str, Retrieval]  # one index, shards (summed statistics), shards (own statistics)
    answers: dict[str, Answers]
    fan_out: list[FanOut]
    fan_out_method: str


# --------------------------------------------------------------------------------- measuring
def _hit(passage: Passage, q: Question) -> bool:
    return passage.article_id == q.article_id and any(passage.start <= a and b <= passage.end for a, b, _ in q.answers)


def _retrieval(qa: QA, questions: Sequence[Question], vectors: Vectors, desc: str,
               reference: list[list[tuple[str, int, int]]] | None = None,
               ) -> tuple[Retrieval, list[list[tuple[str, int, int]]]]:
    ranks: list[int | None] = []
    found: list[list[tuple[str, int, int]]] = []
    for i, q in enumerate(tqdm(questions, desc=desc, unit="q", dynamic_ncols=True)):
        with qa.store.snapshot():
            passages = qa.retriever.search(q.text, k=DEPTH, mode="fused", query_vector=vectors[i : i + 1])
        ranks.append(next((r for r, p in enumerate(passages, start=1) if _hit(p, q)), None))
        found.append([(p.article_id, p.start, p.end) for p in passages])
    same = (sum(a == b for a, b in zip(found, reference, strict=True)) / len(found)) if reference else 1.0
    return Retrieval(recall_1=round(recall_at(ranks, 1), 4), recall_5=round(recall_at(ranks, 5), 4),
                     recall_20=round(recall_at(ranks, 20), 4), mrr_10=round(mrr_at(ranks, 10), 4),
                     same_passages=round(same, 4)), found


def _answers(qa: QA, questions: Sequence[Question], desc: str) -> list[Answer]:
    return [qa.answer(q.text) for q in tqdm(questions, desc=desc, unit="q", dynamic_ncols=True)]


def _accuracy(answers: Sequence[Answer], questions: Sequence[Question]) -> float:
    right = sum(a.found and any(g.lower() in a.text.lower() for _, _, g in q.answers)
                for a, q in zip(answers, questions, strict=True))
    return round(right / len(questions), 4)


def _same_answer(a: Answer, b: Answer) -> bool:
    cited = [(c.article_id, c.start, c.end, c.kind) for c in a.citations]
    return (a.found == b.found and a.text == b.text and abs(a.confidence - b.confidence) <= 1e-6
            and cited == [(c.article_id, c.start, c.end, c.kind) for c in b.citations])


def _latency(layouts: Sequence[QA], questions: Sequence[Question], answers: int,
             ) -> list[tuple[list[float], list[float]]]:
    """Milliseconds of ``search`` (fused, embedding included) for each question and of
    ``answer`` for the first ``answers``, per layout, after a warm-up. The layouts take turns
    question by question, so a neighbour's load on the shared cores falls on all alike."""
    for qa in layouts:
        for q in questions[:5]:
            qa.answer(q.text)
    timings: list[tuple[list[float], list[float]]] = [([], []) for _ in layouts]
    for i, q in enumerate(questions):
        for qa, (search, answer) in zip(layouts, timings, strict=True):
            started = time.perf_counter()
            qa.search(q.text, k=DEPTH)
            search.append((time.perf_counter() - started) * 1000)
            if i < answers:
                started = time.perf_counter()
                qa.answer(q.text)
                answer.append((time.perf_counter() - started) * 1000)
    return timings


def _peak_rss_mb(index: Path, questions: Sequence[Question]) -> float:
    """Peak resident memory of a fresh process that opens ``index`` and answers ``questions``.

    Read as ``VmHWM``: ``ru_maxrss`` of a child started from this process keeps this process's
    peak across the exec, so every layout measured the same."""
    script = ("import json, sys\nfrom pathlib import Path\nfrom qa import QA\n"
              "qa = QA(sys.argv[1], sample=False, create=False)\n"
              "for q in json.loads(sys.argv[2]): qa.answer(q)\n"
              "print(next(l.split()[1] for l in Path('/proc/self/status').read_text().splitlines() "
              "if l.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", script, str(index), json.dumps([q.text for q in questions])],
                         check=True, capture_output=True, text=True)
    return round(int(out.stdout.split()[-1]) / 1024, 1)


def run(dataset: Path, out: Path | None, cache: Path, count: int = 4, answer_limit: int = 600,
        latency_limit: int = 200, latency_answers: int = 100, retrieval_limit: int | None = None,
        index: Path | None = None) -> ShardReport:
    """Build, compare and time as the module docstring says; writes ``shards.json`` to ``out``.

    Args:
        index: an index of ``dataset`` already built (default: ``build_index``'s cached one);
            it is copied, and the shards get its vectors and vector format.
    """
    settings = Settings.from_env()
    work = Path(tempfile.mkdtemp(prefix="qa-shards-"))
    directory = work / "one"
    shutil.copytree(index or build_index(dataset, cache, settings=settings)[0], directory)
    one = QA(directory, sample=False, create=False, settings=settings)
    one.warm_up()
    layouts = {n: build_shards(dataset, Store.open(directory), work / f"shards-{n}", n) for n in {count, *LAYOUTS}}
    sharded = QA(work / f"shards-{count}", sample=False, create=False, settings=settings,
                 embedder=one.embedder, extractor=one.reader.extractor)
    local = QA(work / f"shards-{count}", sample=False, create=False, settings=settings,
               embedder=one.embedder, extractor=one.reader.extractor)
    local.store = LocalStatistics(local.directory, layouts[count].stores)
    local.retriever.store = local.store

    questions = sample(answerable(load_questions(dataset)), retrieval_limit)
    vectors = np.concatenate([one.embedder.encode_queries([q.text for q in questions[i : i + 64]])
                              for i in range(0, len(questions), 64)])
    base, reference = _retrieval(one, questions, vectors, "one index")
    summed, _ = _retrieval(sharded, questions, vectors, f"{count} shards", reference)
    own, _ = _retrieval(local, questions, vectors, f"{count} shards, own statistics", reference)

    asked = sample(questions, answer_limit)
    single_answers = _answers(one, asked, "answers, one index")
    sharded_answers = _answers(sharded, asked, f"answers, {count} shards")
    identical = sum(_same_answer(a, b) for a, b in zip(single_answers, sharded_answers, strict=True))

    timed = sample(questions, latency_limit, seed=1)
    opened = [one, *(QA(work / f"shards-{n}", sample=False, create=False, settings=settings, embedder=one.embedder,
                        extractor=one.reader.extractor) for n in LAYOUTS)]
    fan_out = []
    for n, qa, (search, answer) in zip((0, *LAYOUTS), opened, _latency(opened, timed, latency_answers), strict=True):
        chunks = qa.stats().chunks
        fan_out.append(FanOut(
            shards=n, chunks_per_shard=round(chunks / max(n, 1), 1),
            search_ms_p50=round(percentile(search, 50), 2), search_ms_p95=round(percentile(search, 95), 2),
            answer_ms_p50=round(percentile(answer, 50), 2), answer_ms_p95=round(percentile(answer, 95), 2),
            peak_rss_mb=_peak_rss_mb(directory if n == 0 else work / f"shards-{n}", timed[:20])))

    parts = [s.stats() for s in layouts[count].stores]
    report = ShardReport(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}, "
                f"{settings.embedding_backend} embedding; peak RSS of this run {_rss_mb():.0f} MB",
        dataset=str(dataset), shards=count, articles_per_shard=[p.articles for p in parts],
        chunks_per_shard=[p.chunks for p in parts], retrieval_questions=len(questions),
        retrieval={"one index": base, f"{count} shards": summed, f"{count} shards, own statistics": own},
        answers={"one index": Answers(questions=len(asked), accuracy=_accuracy(single_answers, asked), identical=1.0),
                 f"{count} shards": Answers(questions=len(asked), accuracy=_accuracy(sharded_answers, asked),
                                            identical=round(identical / len(asked), 4))},
        fan_out=fan_out,
        fan_out_method=(f"{len(timed)} fixed dev questions after 5 warm-up answers: search = QA.search (fused, "
                        f"{DEPTH} deep, embedding included), answer = QA.answer on the first {latency_answers}; "
                        "the layouts take turns question by question in one process, shards asked one after "
                        "another; 0 shards = the one index (FTS5's own bm25). Peak RSS: a fresh process opening "
                        "the layout and answering 20 questions."))
    if out is not None:
        write_json(report, out / "shards.json")
    return report


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa_eval.shard_eval", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, nargs="?", default=defaults.DEV_SET)
    parser.add_argument("--shards", type=int, default=4, help="shards compared with the one index (default 4)")
    parser.add_argument("--answers", type=int, default=600, help="questions answered on both (default 600)")
    parser.add_argument("--latency", type=int, default=200, help="questions timed per layout (default 200)")
    parser.add_argument("--limit", type=int, default=None, help="retrieval questions (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="reports directory (default eval/reports)")
    parser.add_argument("--cache", type=Path, default=None, help="evaluation index cache (default eval/.cache)")
    parser.add_argument("--index", type=Path, default=None,
                        help="an index of the dataset already built (default: the cached one, built if absent)")
    args = parser.parse_args(argv)
    report = run(args.dataset, args.out or defaults.reports_dir(), args.cache or defaults.cache_dir(),
                 count=args.shards, answer_limit=args.answers, latency_limit=args.latency,
                 retrieval_limit=args.limit, index=args.index)
    print(report.to_json(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
