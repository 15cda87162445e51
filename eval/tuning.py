"""What the tuning scripts share with the answer evaluation: the extractor's card, the reader's
tuning samples, and the candidate sentences the reader scores.

``ReaderTuning`` lives here rather than in ``tune_reader`` so that ``qa eval answers`` can also
report the questions nothing shipped was fitted on (neither the extractor nor the reader).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .squad import Question, answerable, load_questions, sample, squad_title

if TYPE_CHECKING:
    from qa import QA
    from qa.models import Passage
    from qa.store import SentenceRow

TUNING_LIMIT = 2000  # questions per sample, as ``tune_reader --limit``


def extractor_card() -> dict[str, Any]:
    """The shipped span extractor's training card (``qa/data/extractor/card.json``)."""
    from qa.reader.extractor import WEIGHTS_DIR

    card: dict[str, Any] = json.loads((WEIGHTS_DIR / "card.json").read_text(encoding="utf-8"))
    return card


def unseen_titles() -> set[str]:
    """Titles (as ingest stores them) of the articles the span extractor was not trained on."""
    return {squad_title(t) for t in extractor_card()["held_out_titles"]}


@dataclass(frozen=True)
class ReaderTuning:
    """The questions ``tune_reader`` uses: ``fit`` and ``held_out`` halve the answerable
    questions about the articles the extractor never saw (weights are fitted on one, measured on
    the other); ``calibration`` is asked of an index of half the articles to fit the confidence.
    """

    fit: list[Question]
    held_out: list[Question]
    calibration: list[Question]

    @property
    def fitted_ids(self) -> set[str]:
        return {q.id for q in self.fit + self.calibration}


def reader_tuning(dataset: Path, limit: int = TUNING_LIMIT) -> ReaderTuning:
    """The seeded question samples of ``ReaderTuning``, ``limit`` per sample."""
    unseen = unseen_titles()
    pool = answerable(load_questions(dataset))
    questions = sample([q for q in pool if q.title in unseen], limit, seed=1)
    random.Random(0).shuffle(questions)
    half = len(questions) // 2
    return ReaderTuning(questions[:half], questions[half:], sample(pool, limit, seed=2))


def reader_candidates(qa: QA, question: str) -> list[tuple[SentenceRow, Passage, tuple[float, ...]]]:
    """The candidate sentences ``answer()`` would score for ``question``, with their features.

    Retrieval as ``QA.answer`` runs it, then ``Reader.candidates``: the scripts that tune the
    reader and train the extractor label these, so they learn from what the reader is shown.
    """
    vector = qa.embedder.encode_queries([question])
    passages = qa.retriever.search(question, query_vector=vector)
    return qa.reader.candidates(question, vector, passages, qa.store)
