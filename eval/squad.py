"""SQuAD questions with their gold answers as offsets in the article that ``qa`` indexes.

The article id and the paragraph offsets come from ``qa.ingest``'s own SQuAD helpers, so a gold
span here is exactly where ingest put the answer's text.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.ingest import article_id, squad_key, squad_paragraph_starts


@dataclass(frozen=True)
class Question:
    """A SQuAD question with its gold answers as article offsets."""

    id: str
    text: str
    article_id: str
    title: str
    answers: tuple[tuple[int, int, str], ...]  # (start, end, text) in the article
    impossible: bool


def read_squad(dataset: Path) -> dict[str, Any]:
    """The parsed SQuAD file (``{"version": ..., "data": [article, ...]}``)."""
    data: dict[str, Any] = json.loads(dataset.read_text(encoding="utf-8"))
    return data


def squad_title(raw: str) -> str:
    """A SQuAD title as ingest stores it (SQuAD writes spaces as underscores)."""
    return raw.replace("_", " ")


def article_folds(titles: Iterable[str], folds: int = 5) -> dict[str, int]:
    """Each title's fold: the titles dealt to ``folds`` folds in turn, alphabetically. The folds by
    article that ``fit_reader``'s choices and ``span_penalty``'s are made on."""
    return {t: i % folds for i, t in enumerate(sorted(set(titles)))}


def split_titles(data: list[dict[str, Any]], half: int | None = 0) -> tuple[list[str], list[str]]:
    """(training titles, held-out titles): every other title of the sorted list. Half 0 trains on
    the odd places, half 1 on the even ones: the two are the folds of a two-fold cross-validation
    grouped by article. ``None`` trains on every title and holds none out (the shipped model)."""
    titles = sorted(a["title"] for a in data)
    odd, even = titles[1::2], titles[::2]
    if half is None:
        return titles, []
    return (odd, even) if half == 0 else (even, odd)


def load_questions(dataset: Path) -> list[Question]:
    """Every question of a SQuAD file, answers mapped from paragraph to article offsets."""
    questions = []
    for item in read_squad(dataset)["data"]:
        title = squad_title(str(item["title"]))
        aid = article_id(title, squad_key(title))
        paragraphs = item["paragraphs"]
        starts = squad_paragraph_starts([p["context"] for p in paragraphs])
        for offset, paragraph in zip(starts, paragraphs, strict=True):
            for qa in paragraph.get("qas", []):
                answers = tuple(
                    (offset + a["answer_start"], offset + a["answer_start"] + len(a["text"]), a["text"])
                    for a in qa.get("answers", []))
                questions.append(Question(qa["id"], qa["question"], aid, title, answers,
                                          bool(qa.get("is_impossible", False)) or not answers))
    return questions


def answerable(questions: Sequence[Question]) -> list[Question]:
    """The questions that have a gold answer."""
    return [q for q in questions if not q.impossible]


def sample(questions: Sequence[Question], limit: int | None, seed: int = 0) -> list[Question]:
    """A fixed random sample of ``limit`` questions (all of them when limit is None), in file order."""
    if limit is None or limit >= len(questions):
        return list(questions)
    picked = sorted(random.Random(seed).sample(range(len(questions)), limit))
    return [questions[i] for i in picked]
