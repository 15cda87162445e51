"""Data for the reader experiments (the refit and the in-context reader): what the reader is
shown for every SQuAD question.

Three indexes, as ``qa eval answers`` builds them: every article of the v1.1 file (its answerable
questions), every article of the v2.0 file (its answerable and unanswerable questions), and
every other v1.1 title (questions about the other half are out of the corpus). For each question
the reader's candidate sentences come from retrieval as ``answer()`` runs it; the ``WIDTH`` best
by a fixed sentence score (``PRE_RANK``) are kept with their features and their reading windows
(the sentence between its neighbours). A window is labelled with the gold answer's span when its sentence holds
one, else with [CLS] (no answer here): unanswerable and out-of-corpus questions give only
[CLS] windows, and those are the near-misses abstention must learn. An answerable question's
gold sentence is added for training when retrieval missed it (never for evaluation).

Written to ``DIR``: ``candidates.json.gz`` (for fitting the sentence score and the confidence on
this machine) and ``bundle/`` (what ``train_reader.py`` needs on a training machine: the windows
with labels and article groups, the tokenizer and the bundled model as float16, the word
embeddings cut to the wordpieces the data uses, so it travels in a few tens of megabytes).
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from qa import QA
from qa.metrics import normalize_answer
from qa.reader.reader import NEIGHBOUR_GAP
from qa.settings import FEATURES, Settings
from qa.store import SentenceRow

from .indexes import build_index
from .reader_windows import MAX_LENGTH, NEIGHBOUR_CHARS, Window, window
from .squad import Question, answerable, load_questions, read_squad, sample, squad_title
from .tuning import reader_candidates

WIDTH = 12  # candidates kept per question: twice the reader's re-read width
# Which ``WIDTH`` candidates are kept is decided by this fixed sentence score (the weights fitted
# by the former ``tune_reader`` at stop 11), not by the weights file the fit then rewrites, so the
# data, and the weights fitted on it, reproduce from the SQuAD files alone. The fit ranks the kept
# ones again by its own weights, as the reader does.
PRE_RANK = {"cosine": 5.083, "bm25_relative": 1.303, "passage_relative": 1.54, "type_match": 1.896,
            "coverage": 0.685, "neighbour_cosine": 0.719, "passage_rank": 2.141, "bm25_absolute": -0.157,
            "idf_coverage": 1.9, "window_idf_coverage": 3.06}
OUT_OF_CORPUS_SAMPLE = 2000  # v1.1 questions asked of the half index


@dataclass
class Tables:
    """Unique question and window texts, so a (question, window) pair is two integers."""

    questions: dict[str, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    windows: dict[str, int] = field(default_factory=dict)

    def question(self, q: Question) -> int:
        if q.text not in self.questions:
            self.questions[q.text] = len(self.questions)
            self.groups.append(q.title)
        return self.questions[q.text]

    def window(self, text: str) -> int:
        return self.windows.setdefault(text, len(self.windows))


def windows(qa: QA, rows: list[SentenceRow]) -> list[Window]:
    """Each sentence between its neighbours in the same paragraph."""
    out = []
    for r in rows:
        near = qa.store.sentences_in(r.article_id, r.start - NEIGHBOUR_CHARS, r.end + NEIGHBOUR_CHARS)
        before = next((s.text for s in near if s.paragraph == r.paragraph
                       and 0 <= r.start - s.end <= NEIGHBOUR_GAP), "")
        after = next((s.text for s in near if s.paragraph == r.paragraph
                      and 0 <= s.start - r.end <= NEIGHBOUR_GAP), "")
        out.append(window(r.text, before, after))
    return out


def label(q: Question, article_id: str, start: int, end: int, w: Window) -> list[int] | None:
    """The gold span as offsets in the window text when the focus sentence holds an answer."""
    if q.impossible:
        return None
    shift = w.focus[0] - start
    if article_id == q.article_id:
        for a, b, _ in q.answers:
            if start <= a and b <= end:
                return [a + shift, b + shift]
    sentence = w.text[w.focus[0]: w.focus[1]]
    for _, _, text in q.answers:
        found = sentence.find(text)
        if found >= 0:
            return [w.focus[0] + found, w.focus[0] + found + len(text)]
    return None


def collect(qa: QA, questions: list[Question], part: str, tables: Tables, pairs: dict[tuple[int, int, int], list[Any]],
            train: bool) -> list[dict[str, Any]]:
    """Each question's ``WIDTH`` best candidates with features, windows and labels.

    ``pairs`` gathers (question, window, focus start) -> [focus end, label, train, infer] for
    the bundle; ``train`` says whether this part's questions teach the span model.
    """
    rows = []
    for q in tqdm(questions, desc=f"Candidates ({part})", unit="q", dynamic_ncols=True):
        cands = reader_candidates(qa, q.text)
        top = sorted(cands, key=lambda c: pre_rank(c[2]), reverse=True)[:WIDTH]
        shown = windows(qa, [r for r, _, _ in top])
        qi = tables.question(q)
        golds = [normalize_answer(t) for _, _, t in q.answers]
        kept = []
        for (r, _, f), w in zip(top, shown, strict=True):
            gold = label(q, r.article_id, r.start, r.end, w)
            key = (qi, tables.window(w.text), w.focus[0])
            entry = pairs.setdefault(key, [w.focus[1], gold, False, False])
            entry[2] = entry[2] or train
            entry[3] = True
            kept.append({"article_id": r.article_id, "start": r.start, "end": r.end, "paragraph": r.paragraph,
                         "features": [round(x, 6) for x in f], "window": key[1], "focus": list(w.focus),
                         "holds": bool(golds) and r.article_id == q.article_id
                         and any(g in normalize_answer(r.text) for g in golds)})
        if train and not q.impossible and not any(k["holds"] for k in kept):
            _add_gold(qa, q, tables, pairs, qi)
        rows.append({"id": q.id, "question": qi, "title": q.title, "part": part, "impossible": q.impossible,
                     "answers": [list(a) for a in q.answers], "article_id": q.article_id, "candidates": kept})
    return rows


def _add_gold(qa: QA, q: Question, tables: Tables, pairs: dict[tuple[int, int, int], list[Any]], qi: int) -> None:
    """The gold sentence's window, for training only (retrieval did not show it)."""
    a, b, _ = q.answers[0]
    rows = [s for s in qa.store.sentences_in(q.article_id, a, b) if s.start <= a and b <= s.end]
    if not rows:
        return
    w = windows(qa, rows[:1])[0]
    gold = label(q, rows[0].article_id, rows[0].start, rows[0].end, w)
    pairs.setdefault((qi, tables.window(w.text), w.focus[0]), [w.focus[1], gold, True, False])


def pre_rank(features: tuple[float, ...]) -> float:
    """The fixed score that picks the candidates kept (``PRE_RANK``)."""
    return sum(PRE_RANK[name] * f for name, f in zip(FEATURES, features, strict=True))


def prepare(v1: Path, v2: Path, cache: Path, out: Path) -> None:
    """Write ``candidates.json.gz`` and ``bundle/`` to ``out`` (see the module docstring)."""
    settings = Settings.from_env()
    tables = Tables()
    pairs: dict[tuple[int, int, int], list[Any]] = {}

    def opened(dataset: Path, titles: set[str] | None = None) -> QA:
        qa = QA(build_index(dataset, cache, titles=titles, settings=settings)[0], sample=False, create=False,
                settings=settings)
        qa.warm_up()
        return qa

    v1_questions = answerable(load_questions(v1))
    seen = {q.id for q in v1_questions}
    rows = collect(opened(v1), v1_questions, "v1", tables, pairs, train=True)
    v2_questions = load_questions(v2)
    for part, subset, train in (("v2", [q for q in v2_questions if q.id not in seen], True),
                                ("v2-seen", [q for q in v2_questions if q.id in seen], False)):
        rows += collect(opened(v2), subset, part, tables, pairs, train=train)
    inside = set(sorted(a["title"] for a in read_squad(v1)["data"])[::2])
    in_titles = {squad_title(t) for t in inside}
    for q_row in (half := collect(opened(v1, inside), sample(v1_questions, OUT_OF_CORPUS_SAMPLE), "half",
                                  tables, pairs, train=False)):
        q_row["in_corpus"] = q_row["title"] in in_titles
    rows += half
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(out / "candidates.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"questions": rows, "datasets": [str(v1), str(v2)]}, f)
    write_bundle(tables, pairs, out / "bundle")


def write_bundle(tables: Tables, pairs: dict[tuple[int, int, int], list[Any]], bundle: Path) -> None:
    """The training machine's inputs: windows, tokenizer, config and the trimmed base model."""
    windows = sorted(tables.windows, key=tables.windows.__getitem__)
    questions = sorted(tables.questions, key=tables.questions.__getitem__)
    write_base(bundle, questions + windows)
    records = [[q, w, fs, fe, *(gold or [-1, -1]), int(train), int(infer)]
               for (q, w, fs), (fe, gold, train, infer) in pairs.items()]
    with gzip.open(bundle / "windows.json.gz", "wt", encoding="utf-8") as f:
        json.dump({"questions": questions, "groups": tables.groups, "texts": windows, "max_length": MAX_LENGTH,
                   "columns": ["question", "text", "focus_start", "focus_end", "label_start", "label_end",
                               "train", "infer"], "windows": records}, f)


def write_base(bundle: Path, texts: list[str]) -> None:
    """The bundled model's tokenizer, config and weights as float16 in ``bundle``, the word
    embeddings cut to the wordpieces of ``texts`` (``vocab`` lists the rows kept), so it travels
    to a training machine in a few tens of megabytes."""
    from safetensors.numpy import load_file, save_file
    from tokenizers import Tokenizer

    from qa.embedding.onnx import model_path
    from qa.models import DEFAULT_MODEL

    base = Path(model_path(DEFAULT_MODEL))
    bundle.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "config.json"):
        shutil.copy(base / name, bundle / name)
    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    tokenizer.no_truncation()  # the file cuts at 128 wordpieces: a long text's later words would be [UNK]
    used = {0, 100, 101, 102, 103}  # [PAD], [UNK], [CLS], [SEP], [MASK]
    for encoding in tokenizer.encode_batch(texts):
        used.update(encoding.ids)
    vocab = np.array(sorted(used), dtype=np.int64)
    state = load_file(str(base / "model.safetensors"))
    trimmed = {k: (v[vocab] if k.endswith("word_embeddings.weight") else v).astype(np.float16)
               for k, v in state.items()}
    trimmed["vocab"] = vocab
    save_file(trimmed, str(bundle / "base.safetensors"))


def main(argv: list[str] | None = None) -> None:
    import argparse

    from . import defaults

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v1", type=Path, default=defaults.DEV_SET)
    parser.add_argument("--v2", type=Path, default=defaults.V2_SET)
    parser.add_argument("--cache", type=Path, default=None, help="built evaluation indexes (as qa eval)")
    parser.add_argument("--out", type=Path, default=defaults.cache_dir() / "reader-data")
    args = parser.parse_args(argv)
    prepare(args.v1, args.v2, args.cache or defaults.cache_dir(), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
