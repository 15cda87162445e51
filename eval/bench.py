"""Benchmark: how ingest, start-up, answer() latency, size and memory grow with the corpus.

Run ``python eval/bench.py [--scales 1,10,100] [--quick] [--out DIR]`` (or ``qa bench``). For each
scale s the corpus is the sample corpus plus s - 1 **synthetic** copies of it: every article
with a changed title and its words perturbed (seeded drops and swaps of neighbours), so the
copies are distinct articles of realistic text.

- Scales up to ``--embed-max`` (default 10) are ingested for real, stage by stage with the
  functions ``qa.indexing.ingest_articles`` calls: parse (read files), chunk (sentences and
  chunks), embed (the model) and write (SQLite + FAISS commits of about 2,048 vectors).
- Larger scales get **synthetic vectors**: texts are parsed and chunked for real, but each
  vector is the real vector of the same chunk (or sentence) of the source article plus seeded
  Gaussian noise, renormalised, written in one commit. Embedding 100x on two cores would take
  hours; query latency, start-up, size, memory and approximate recall do not depend on where
  the vectors came from, only on how many there are and how they cluster.

Then, per scale: ``answer()`` latency p50/p95/p99 over a fixed question set (SQuAD dev
questions about the sample articles plus seed-article questions) after a warm-up; start-up
(open the index, load the model, first encode) and peak RSS in a fresh subprocess; index size
on disk; and, where the index is approximate, recall@10 of HNSW against exact search. The
embedding backends are compared on the same sample chunks (chunks/s, cosine to torch) and,
with ``--retrieval-limit``, on retrieval R@5 of the dev split.

Writes ``bench.json``, ``bench.md``, ``bench_latency.png`` and ``bench_throughput.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "eval" / "data" / "squad-dev-v1.1-half.json"
SEED_QUESTIONS = ("What did Iran badly need from Russia?", "Who built Bushehr?",
                  "What did Russia badly need from Iran?")
SYNTHETIC = " (synthetic copy {})"
NOISE = 0.02  # per-dimension sigma of the synthetic vectors' noise: cosine ~0.93 to the source
BATCH_VECTORS = 2048  # as qa.indexing: vectors per commit


# --------------------------------------------------------------------------------- corpus
def base_articles(quick: bool) -> list[Any]:
    """The sample corpus as articles (quick: the seed article alone)."""
    from qa.api import sample_corpus
    from qa.ingest import iter_paths, read_articles

    articles, rejected = read_articles(iter_paths([sample_corpus()]))
    if rejected:
        raise RuntimeError(f"the sample corpus was rejected: {rejected}")
    return articles[:1] if quick else articles


def perturb(text: str, rng: random.Random, rate: float = 0.03) -> str:
    """Drop and swap neighbouring words at ``rate`` each, paragraph by paragraph."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        words = [w for w in paragraph.split(" ") if rng.random() >= rate] or paragraph.split(" ")
        for i in range(len(words) - 1):
            if rng.random() < rate:
                words[i], words[i + 1] = words[i + 1], words[i]
        paragraphs.append(" ".join(words))
    return "\n\n".join(paragraphs)


def write_corpus(articles: Sequence[Any], scale: int, directory: Path) -> dict[str, str]:
    """Files of the scaled corpus; returns the source article id of every synthetic title.

    Copy r of the corpus is one SQuAD-format JSON file, one paragraph per paragraph.
    """
    from qa.api import sample_corpus

    directory.mkdir(parents=True, exist_ok=True)
    names = {a.source for a in articles}
    for file in sorted(sample_corpus().iterdir()):
        if str(file) in names:
            shutil.copy(file, directory / file.name)
    sources = {}
    for copy in range(1, scale):
        rng = random.Random(copy)
        data = []
        for a in articles:
            title = a.title + SYNTHETIC.format(copy)
            sources[title] = a.id
            data.append({"title": title, "paragraphs": [
                {"context": p, "qas": []} for p in perturb(a.text, rng).split("\n\n")]})
        (directory / f"synthetic-{copy:03d}.json").write_text(
            json.dumps({"version": "1.1", "data": data}), encoding="utf-8")
    return sources


# --------------------------------------------------------------------------------- ingest
def build(directory: Path, files: Path, embedder: Any, synthetic_from: Any = None,
          sources: dict[str, str] | None = None) -> dict[str, Any]:
    """Ingest ``files`` into a new index at ``directory``, timing each stage.

    With ``synthetic_from`` (the 1x store), vectors are not embedded but derived from it.
    """
    from tqdm import tqdm

    from qa.chunking import chunk_article, split_sentences
    from qa.ingest import iter_paths, read_articles
    from qa.store import Prepared, Store

    seconds: dict[str, float] = {}
    shutil.rmtree(directory, ignore_errors=True)  # a kept --work directory from an earlier run
    started = time.perf_counter()
    articles, rejected = read_articles(iter_paths([files]))
    seconds["parse"] = time.perf_counter() - started
    if rejected:
        raise RuntimeError(f"the corpus was rejected: {rejected}")
    store = Store.open(directory, create=True)
    started = time.perf_counter()
    split = []
    for a in tqdm(articles, desc="Chunking", unit="article", dynamic_ncols=True, leave=False):
        sentences = split_sentences(a.text)
        split.append((a, chunk_article(a, sentences, store.settings), sentences))
    seconds["chunk"] = time.perf_counter() - started
    seconds["embed"] = seconds["write"] = 0.0
    source_vectors = _vectors_by_article(synthetic_from) if synthetic_from is not None else None
    rng = np.random.default_rng(0)
    batch: list[Prepared] = []
    size = 0
    commit_every = BATCH_VECTORS if source_vectors is None else sys.maxsize
    total = sum(len(c) + len(s) for _, c, s in split)
    desc = "Embedding" if source_vectors is None else "Synthetic vectors"
    with tqdm(total=total, desc=desc, unit="vec", dynamic_ncols=True, leave=False) as bar:
        for a, chunks, sentences in split:
            started = time.perf_counter()
            if source_vectors is None:
                texts = [c.text for c in chunks] + [a.text[s.start : s.end] for s in sentences]
                vectors = embedder.encode_documents(texts)
                chunk_vectors, sentence_vectors = vectors[: len(chunks)], vectors[len(chunks) :]
            else:
                source = (sources or {}).get(a.title, a.id)
                chunk_vectors = _noisy(source_vectors[source][0], len(chunks), rng)
                sentence_vectors = _noisy(source_vectors[source][1], len(sentences), rng)
            seconds["embed"] += time.perf_counter() - started
            batch.append(Prepared(a, chunks, sentences, chunk_vectors, sentence_vectors))
            size += len(chunks) + len(sentences)
            bar.update(len(chunks) + len(sentences))
            if size >= commit_every:
                seconds["write"] += _timed_write(store, batch)
                batch, size = [], 0
    if batch:
        seconds["write"] += _timed_write(store, batch)
    stats = store.stats()
    total_seconds = sum(seconds.values())
    return {
        "articles": stats.articles, "chunks": stats.chunks, "sentences": stats.sentences,
        "vectors": "synthetic" if source_vectors is not None else "embedded",
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "articles_per_s": round(stats.articles / total_seconds, 2),
        "chunks_per_s": round(stats.chunks / total_seconds, 2),
        "stage_chunks_per_s": {k: round(stats.chunks / v, 1) if v else None for k, v in seconds.items()},
    }


def _timed_write(store: Any, batch: list[Any]) -> float:
    started = time.perf_counter()
    store.write(batch)
    return time.perf_counter() - started


def _vectors_by_article(store: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every article's chunk vectors (by ordinal) and sentence vectors (by position)."""
    chunks: dict[str, list[int]] = {}
    for r in store._query("SELECT id, article_id FROM chunks ORDER BY article_id, ordinal"):
        chunks.setdefault(r[1], []).append(int(r[0]))
    sentences: dict[str, list[int]] = {}
    for r in store._query("SELECT id, article_id FROM sentences ORDER BY article_id, start"):
        sentences.setdefault(r[1], []).append(int(r[0]))
    return {a: (store.chunk_vectors(chunks[a]), store.sentence_vectors(sentences.get(a, [])))
            for a in chunks}


def _noisy(source: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n vectors: the source's i-th (or its last, when the copy has more) plus noise, unit length."""
    picked = source[np.minimum(np.arange(n), len(source) - 1)]  # (n, dim)
    noisy = picked + rng.normal(0.0, NOISE, picked.shape).astype(np.float32)
    return np.ascontiguousarray(noisy / np.linalg.norm(noisy, axis=1, keepdims=True), dtype=np.float32)


# --------------------------------------------------------------------------------- queries
def question_set(quick: bool) -> tuple[list[str], list[str]]:
    """(warm-up questions, measured questions): fixed, seeded samples of the dev split."""
    from qa.evaluation import load_questions, sample

    pool = [q.text for q in sample([q for q in load_questions(DEV) if not q.impossible], 220, seed=7)]
    if quick:
        return pool[:1], [*SEED_QUESTIONS, *pool[10:15]]
    return pool[:10], [*SEED_QUESTIONS, *pool[10:]]


def latency(directory: Path, warm_up: Sequence[str], questions: Sequence[str]) -> dict[str, Any]:
    """answer() latency in this process after a warm-up; builds any HNSW graph first (timed)."""
    from qa.api import QA

    qa = QA(directory, sample=False)
    started = time.perf_counter()
    qa.warm_up()
    for q in warm_up:  # the first search of an approximate index builds or loads its graph
        qa.answer(q)
    warm_seconds = time.perf_counter() - started
    times = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        started = time.perf_counter()
        answer = qa.answer(q)
        times.append((time.perf_counter() - started) * 1000)
        for stage, ms in answer.timings_ms.items():
            stages.setdefault(stage, []).append(ms)
    result: dict[str, Any] = {
        "questions": len(times), "warm_up_seconds": round(warm_seconds, 2),
        **{f"p{p}_ms": round(float(np.percentile(times, p)), 1) for p in (50, 95, 99)},
        "mean_ms": round(statistics.fmean(times), 1), "approximate": qa.store.stats().approximate,
        # the reader's own split of each answer (question embedding, retrieval, total)
        "stage_p50_ms": {k: round(float(np.percentile(v, 50)), 1) for k, v in stages.items()},
    }
    if result["approximate"]:
        result["approximate_recall@10"] = approximate_recall(qa, questions)
    return result


def approximate_recall(qa: Any, questions: Sequence[str], k: int = 10) -> dict[str, float]:
    """Mean |approximate top-k ∩ exact top-k| / k for chunks and sentences over ``questions``."""
    query = qa.embedder.encode_queries(list(questions))  # (n_q, dim)
    recall = {}
    for kind, search in (("chunks", qa.store.dense_chunks), ("sentences", qa.store.dense_sentences)):
        _, exact = search(query, k, exact=True)
        _, approx = search(query, k)
        recall[kind] = round(float(np.mean([len(set(e) & set(a)) / k for e, a in zip(exact, approx, strict=True)])), 4)
    return recall


_STARTUP = """
import json, resource, sys, time


def peak_rss_mb():
    # VmHWM belongs to this program's memory: ru_maxrss would also count the bench's own memory,
    # because Linux keeps it across the fork and exec that started this process.
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


started = time.perf_counter()
from qa.api import QA
qa = QA(sys.argv[1], sample=False)
opened = time.perf_counter()
qa.warm_up()
qa.embedder.encode_queries(["warm up"])
loaded = time.perf_counter()
questions = json.loads(sys.argv[2])
qa.answer(questions[0])
first = time.perf_counter()
for q in questions[1:]:
    qa.answer(q)
print(json.dumps({"open_s": round(opened - started, 3), "model_s": round(loaded - opened, 3),
                  "startup_s": round(loaded - started, 3), "first_answer_s": round(first - loaded, 3),
                  "peak_rss_mb": round(peak_rss_mb(), 1)}))
"""


def startup(directory: Path, questions: Sequence[str]) -> dict[str, Any]:
    """Start-up (open + model load + first encode) and peak RSS after answering, in a new process.

    The process inherits this one's environment, so the same backend and threshold apply.
    """
    done = subprocess.run([sys.executable, "-c", _STARTUP, str(directory), json.dumps(list(questions))],
                          capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def index_size(directory: Path) -> int:
    """Bytes of the index's own files (the ONNX export cache beside them is not counted)."""
    return sum(f.stat().st_size for f in directory.iterdir() if f.is_file())


# --------------------------------------------------------------------------------- backends
def compare_backends(texts: Sequence[str], backends: Sequence[str], rounds: int, cache_dir: Path) -> dict[str, Any]:
    """chunks/s and cosine to torch of each backend on the same texts, rounds interleaved.

    Interleaving gives every backend the same share of whatever else the machine is doing.
    """
    from qa.embedding import Embedder

    embedders = {b: Embedder(backend=b, cache_dir=cache_dir) for b in backends}  # type: ignore[arg-type]
    for e in embedders.values():
        e.warm_up()
        e.encode_documents(texts[:8])
    rates: dict[str, list[float]] = {b: [] for b in backends}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for b, e in embedders.items():
            started = time.perf_counter()
            vectors[b] = e.encode_documents(texts)
            rates[b].append(len(texts) / (time.perf_counter() - started))
    result: dict[str, Any] = {"texts": len(texts), "rounds": rounds, "backends": {}}
    for b in backends:
        cosine = (vectors[b] * vectors["torch"]).sum(axis=1)
        result["backends"][b] = {
            "chunks_per_s": round(statistics.median(rates[b]), 1),
            "speedup": round(statistics.median(rates[b]) / statistics.median(rates["torch"]), 2),
            "cosine_min": round(float(cosine.min()), 4), "cosine_mean": round(float(cosine.mean()), 4)}
    return result


def backend_recall(backend: str, limit: int) -> dict[str, Any]:
    """Dev-split retrieval (dense and fused) with an index built by ``backend`` (cached apart)."""
    from qa.embedding import BACKEND_ENV
    from qa.evaluation import CACHE, evaluate_retrieval

    cache = CACHE if backend == "torch" else CACHE / f"backend-{backend}"
    with _env(BACKEND_ENV, backend):
        report = evaluate_retrieval(DEV, limit=limit, out=None, cache=cache, modes=("dense", "fused"))
    return {"questions": report["questions"], "build_seconds": report["index"]["build_seconds"],
            **{f"{mode}_recall@5": v["recall@5"] for mode, v in report["modes"].items()}}


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


# --------------------------------------------------------------------------------- main
def run(scales: Sequence[int], out: Path, quick: bool = False, embed_max: int = 10,
        backend: str | None = None, retrieval_limit: int = 0, work: Path | None = None) -> dict[str, Any]:
    """Run the benchmark and write its reports; returns what ``bench.json`` holds."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from qa.embedding import BACKEND_ENV, default_backend

    backend = backend or default_backend()
    scales = sorted(set(scales) | {1})  # synthetic vectors derive from the real 1x index
    temporary = work is None
    work = work or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    try:
        with _env(BACKEND_ENV, backend):  # QA objects and the start-up processes use it too
            report = _run(scales, quick, embed_max, backend, retrieval_limit, work)
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    write_reports(report, out)
    return report


def _run(scales: Sequence[int], quick: bool, embed_max: int, backend: str, retrieval_limit: int,
         work: Path) -> dict[str, Any]:
    from qa.chunking import chunk_article, split_sentences
    from qa.embedding import BACKENDS, Embedder

    articles = base_articles(quick)
    warm, questions = question_set(quick)
    embedder = Embedder(backend=backend, cache_dir=work / "onnx")  # type: ignore[arg-type]
    started = time.perf_counter()
    embedder.warm_up()  # a first ONNX use exports the model: not part of any ingest stage
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine": _machine(), "backend": backend,
        "model_load_seconds": round(time.perf_counter() - started, 2),
        "quick": quick, "base_articles": len(articles), "questions": len(questions), "scales": {},
    }
    base_store = None
    for scale in scales:
        print(f"[bench] scale {scale}x", file=sys.stderr)
        files, directory = work / f"corpus-{scale}", work / f"index-{scale}"
        sources = write_corpus(articles, scale, files)
        if scale <= embed_max:
            ingest = build(directory, files, embedder)
        else:
            ingest = build(directory, files, embedder, synthetic_from=base_store, sources=sources)
        if scale == 1:
            from qa.store import Store

            base_store = Store.open(directory)
        entry: dict[str, Any] = {"ingest": ingest}
        if backend != "torch":  # as in real use, the export is beside the index when a process starts
            shutil.copytree(work / "onnx", directory / "onnx", dirs_exist_ok=True)
        entry["latency"] = latency(directory, warm, questions)
        entry["startup"] = startup(directory, questions[: 3 if quick else 20])
        entry["index_bytes"] = index_size(directory)
        report["scales"][str(scale)] = entry
        if scale > 1:
            shutil.rmtree(files, ignore_errors=True)
    chunks = [c.text for a in articles for c in chunk_article(a, split_sentences(a.text), base_store.settings)]
    available = [b for b in BACKENDS if b == "torch" or _has_onnxruntime()]
    report["embedding_backends"] = compare_backends(
        chunks[: 16 if quick else 500], available, 1 if quick else 3, work / "onnx")
    if retrieval_limit:
        for b in available:
            report["embedding_backends"]["backends"][b].update(backend_recall(b, retrieval_limit))
    return report


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average_1min_at_end": round(load, 2) if load is not None else None}


# --------------------------------------------------------------------------------- reports
def write_reports(report: dict[str, Any], out: Path) -> None:
    """bench.json, bench.md and the two PNG plots under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "bench.md").write_text(markdown(report), encoding="utf-8")
    _plots(report, out)


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        f"# Benchmark ({report['date']})", "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']} (1-minute load average at "
        f"the end: {m['load_average_1min_at_end']}). Embedding backend: `{report['backend']}`. "
        f"Base corpus: {report['base_articles']} articles (the sample corpus); scale s adds s - 1 "
        "**synthetic** copies (titles marked, words dropped and swapped at 3%).", "",
        "## Ingest", "",
        "| scale | articles | chunks | sentences | vectors | parse s | chunk s | embed s | write s "
        "| articles/s | chunks/s |", "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scale, e in report["scales"].items():
        i, s = e["ingest"], e["ingest"]["seconds"]
        lines.append(f"| {scale}x | {i['articles']} | {i['chunks']} | {i['sentences']} | {i['vectors']} | "
                     f"{s['parse']} | {s['chunk']} | {s['embed']} | {s['write']} | {i['articles_per_s']} | "
                     f"{i['chunks_per_s']} |")
    lines += [
        "", "Synthetic-vector rows time parse and chunk for real; their embed column is the time to "
        "derive noisy copies of real vectors and their write is one commit, so their rates are not "
        "ingest rates.", "",
        "## Queries, start-up, size, memory", "",
        f"`answer()` over {report['questions']} fixed questions (SQuAD dev questions about the sample "
        "articles and seed-article questions), in one process after a warm-up. Start-up = open the "
        "index + load the model + first encode, in a fresh process; peak RSS is that process's "
        "after answering 20 questions.", "",
        "| scale | chunks | p50 ms | p95 ms | p99 ms | approximate | recall@10 (chunks / sentences) "
        "| start-up s | first answer s | index MB | peak RSS MB | p50 split (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scale, e in report["scales"].items():
        q, st = e["latency"], e["startup"]
        recall = q.get("approximate_recall@10")
        shown = f"{recall['chunks']} / {recall['sentences']}" if recall else "exact"
        lines.append(f"| {scale}x | {e['ingest']['chunks']} | {q['p50_ms']} | {q['p95_ms']} | {q['p99_ms']} | "
                     f"{q['approximate']} | {shown} | {st['startup_s']} | {st['first_answer_s']} | "
                     f"{e['index_bytes'] / 1e6:.0f} | {st['peak_rss_mb']:.0f} | "
                     + ", ".join(f"{k.removesuffix('_ms')} {v}" for k, v in q["stage_p50_ms"].items()) + " |")
    b = report["embedding_backends"]
    lines += ["", "## Embedding backends", "",
              f"Same {b['texts']} sample chunks for every backend, {b['rounds']} interleaved rounds "
              "(median); cosine against the torch vectors.", "",
              "| backend | chunks/s | speed-up | cosine min | cosine mean | dense R@5 | fused R@5 |",
              "|---|---|---|---|---|---|---|"]
    for name, v in b["backends"].items():
        lines.append(f"| {name} | {v['chunks_per_s']} | {v['speedup']}x | {v['cosine_min']} | "
                     f"{v['cosine_mean']} | {v.get('dense_recall@5', '-')} | {v.get('fused_recall@5', '-')} |")
    if any("dense_recall@5" in v for v in b["backends"].values()):
        n = next(v["questions"] for v in b["backends"].values() if "questions" in v)
        lines.append(f"\nR@5: `qa.evaluation.evaluate_retrieval` on {n} questions of "
                     "`eval/data/squad-dev-v1.1-half.json`, each with an index built by that backend.")
    return "\n".join(lines) + "\n"


def _plots(report: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = report["scales"]
    chunks = [e["ingest"]["chunks"] for e in scales.values()]
    fig, ax = plt.subplots(figsize=(6, 4))
    for p in ("p50", "p95", "p99"):
        ax.plot(chunks, [e["latency"][f"{p}_ms"] for e in scales.values()], marker="o", label=p)
    for target, label in ((50, "p95 target at 1x"), (100, "p95 target at 100x")):
        ax.axhline(target, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (chunks[0], target), textcoords="offset points", xytext=(0, 3), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("chunks in the index (log)")
    ax.set_ylabel("answer() latency, ms")
    ax.set_title("answer() latency against corpus size")
    for x, scale in zip(chunks, scales, strict=True):
        ax.annotate(f"{scale}x", (x, 0), textcoords="offset points", xytext=(0, 4), ha="center")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bench_latency.png", dpi=120)
    plt.close(fig)

    real = {s: e for s, e in scales.items() if e["ingest"]["vectors"] == "embedded"}
    fig, ax = plt.subplots(figsize=(6, 4))
    x = [e["ingest"]["chunks"] for e in real.values()]
    ax.plot(x, [e["ingest"]["chunks_per_s"] for e in real.values()], marker="o", label="all stages")
    for stage in ("parse", "chunk", "embed", "write"):
        ax.plot(x, [e["ingest"]["stage_chunks_per_s"][stage] for e in real.values()], marker=".",
                linestyle="--", label=stage)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunks ingested (log)")
    ax.set_ylabel("chunks/s (log)")
    ax.set_title(f"Ingest throughput by stage ({report['backend']} embedding)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bench_throughput.png", dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The bench's options, shared by ``python eval/bench.py`` and ``qa bench``."""
    parser.add_argument("--scales", default="1,10,100", help="corpus sizes in sample corpora (default 1,10,100)")
    parser.add_argument("--quick", action="store_true", help="a tiny corpus and question set (for tests)")
    parser.add_argument("--out", type=Path, default=Path("eval/reports"), help="report directory")
    parser.add_argument("--embed-max", type=int, default=10,
                        help="largest scale embedded for real; larger ones get synthetic vectors")
    parser.add_argument("--backend", default=None, help="embedding backend (default: $QA_EMBEDDING_BACKEND or torch)")
    parser.add_argument("--retrieval-limit", type=int, default=0,
                        help="also compare backends' dev-split R@5 on this many questions (slow)")
    parser.add_argument("--work", type=Path, default=None, help="keep the built indexes here")


def run_from_args(args: argparse.Namespace) -> int:
    scales = [int(s) for s in str(args.scales).split(",") if s.strip()]
    if not scales or min(scales) < 1:
        raise SystemExit(f"--scales takes positive whole numbers, got {args.scales!r}")
    report = run(scales, args.out, quick=args.quick, embed_max=args.embed_max, backend=args.backend,
                 retrieval_limit=args.retrieval_limit, work=args.work)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
