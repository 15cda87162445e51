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

from qa.settings import Settings

from .squad import Question, answerable, load_questions, read_squad, sample, split_titles, squad_title

if TYPE_CHECKING:
    from qa import QA
    from qa.models import Passage
    from qa.store import SentenceRow

TUNING_LIMIT = 2000  # questions per sample, as ``tune_reader --limit``


def extractor_card(settings: Settings | None = None) -> dict[str, Any]:
    """The training card of the span extractor ``answer()`` runs with ``settings`` (default: the
    environment's): the shipped one (``qa/data/extractor/card.json``) or
    ``Settings.extractor_weights``'s, such as a fold's."""
    from qa.reader.extractor import WEIGHTS_DIR

    weights = (settings or Settings.from_env()).extractor_weights or WEIGHTS_DIR
    card: dict[str, Any] = json.loads((weights / "card.json").read_text(encoding="utf-8"))
    return card


def extractor_label(settings: Settings | None = None) -> str:
    """Which span extractor a report's answers come from, in a few words."""
    settings = settings or Settings.from_env()
    trained = len(extractor_card(settings)["train_titles"])
    return f"{settings.extractor_weights or 'shipped'} (trained on {trained} articles)"


def unseen_titles(settings: Settings | None = None) -> set[str]:
    """Titles (as ingest stores them) of the articles the span extractor was not trained on: none
    for the shipped model, which trained on every article here; half of them for a fold's."""
    return {squad_title(t) for t in extractor_card(settings)["held_out_titles"]}


def reader_tuned_titles(dataset: Path) -> set[str]:
    """Titles (as ingest stores them) whose questions ``tune_reader`` fitted the reader's weights
    on: the articles the first fold's extractor (``train_extractor --half 0``, the one shipped
    then) never trained on, whichever extractor runs now."""
    return {squad_title(t) for t in split_titles(read_squad(dataset)["data"], 0)[1]}


@dataclass(frozen=True)
class ReaderTuning:
    """The questions ``tune_reader`` uses: ``fit`` and ``held_out`` halve the answerable
    questions about ``reader_tuned_titles`` (weights are fitted on one, measured on
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
    tuned = reader_tuned_titles(dataset)
    pool = answerable(load_questions(dataset))
    questions = sample([q for q in pool if q.title in tuned], limit, seed=1)
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
