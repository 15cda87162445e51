"""The regression set: hand-written questions about the built-in sample corpus.

``eval/data/regression-sample.json`` holds questions written the way users ask them (who, when,
where, how many, why, questions about an article's metadata, follow-ups with the earlier
questions of the conversation, off-topic and near-miss questions that must be declined), each
with what a right answer is; its header says how it was written. It is a regression check, not
a tuning set: nothing is fitted on it.

``qa eval regression FILE`` asks every question on an index of the sample corpus (built once and
cached, or ``--index DIR``), a follow-up after its earlier questions have been asked in order
and with the turns the web chat would keep (each question with its answer's quote), and writes
``regression.json`` and ``regression.md``; ``qa eval answers`` adds the same figures as its
``regression`` section. A question is **correct** when:

- ``answer``: the answer is found and its quote holds a gold string (normalised as SQuAD does,
  matched as whole words); the **key span** (the highlight) is right when it equals a gold
  string after normalisation (SQuAD exact match). ``accept_decline`` lets a decline count too.
- ``metadata``: found, and the answer's text holds the expected value of the article's field;
  whether a citation of kind ``metadata`` names that field is reported beside it.
- ``decline``: the answer is not found.

Every citation is checked against the article: a text citation's quote must be the article's
text at its offsets; a metadata citation's quote must hold the field's value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tqdm import tqdm

from qa import QA, sample_corpus
from qa.ingest import iter_paths, read_articles
from qa.metrics import exact_match, f1_score, percentile
from qa.models import Answer, Article, Citation, IndexSettings, Turn
from qa.settings import Settings

from .reports import (
    AnswerableScores,
    AppExamples,
    MetadataScores,
    RegressionReport,
    RegressionRow,
    Scored,
    write_json,
)

Category = Literal["who", "when", "where", "how_many", "why", "what", "metadata", "follow_up", "off_topic",
                   "near_miss"]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
Expect = Literal["answer", "metadata", "decline"]
MetadataField = Literal["author", "published", "url", "title"]
_BUILD_SECONDS = "build_seconds.txt"


class Entry(BaseModel):
    """One question of the regression set and what a right answer to it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    category: Category
    expect: Expect
    gold: list[str] = []
    article: str | None = None  # the title of the article that holds the answer
    field: MetadataField | None = None  # metadata questions: the article field that answers them
    history: list[str] = []  # earlier questions of the conversation, oldest first (asked first, in order)
    app_example: bool = False
    accept_decline: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Entry:
        if self.expect == "decline":
            if self.gold or self.field or self.accept_decline:
                raise ValueError(f"{self.id}: a question to decline has no gold, field or accept_decline")
        else:
            if not self.gold or not all(g.strip() for g in self.gold):
                raise ValueError(f"{self.id}: an answerable question needs gold strings")
            if self.article is None:
                raise ValueError(f"{self.id}: an answerable question names the article that answers it")
        if (self.expect == "metadata") != (self.field is not None):
            raise ValueError(f"{self.id}: metadata questions, and only they, name a field")
        wanted: dict[str, Expect] = {"off_topic": "decline", "near_miss": "decline", "metadata": "metadata"}
        if self.category in wanted and self.expect != wanted[self.category]:
            raise ValueError(f"{self.id}: a {self.category} question expects {wanted[self.category]}")
        if self.category == "follow_up" and not self.history:
            raise ValueError(f"{self.id}: a follow-up question has the earlier questions in history")
        return self


class RegressionSet(BaseModel):
    """The file: how it was written, then its questions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    written: dt.date
    corpus: str
    how_written: str = Field(min_length=1)
    not_for_tuning: str = Field(min_length=1)
    scoring: str
    questions: list[Entry]

    @model_validator(mode="after")
    def _unique_ids(self) -> RegressionSet:
        ids = [e.id for e in self.questions]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"question ids appear more than once: {', '.join(repeated)}")
        return self


class SetError(ValueError):
    """The regression set file cannot be read or is not valid (one sentence)."""


def load_set(path: Path) -> RegressionSet:
    """Read and validate a regression set file.

    Raises:
        SetError: the file is not JSON or does not validate, said in one sentence.
    """
    try:
        return RegressionSet.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as e:  # JSONDecodeError is a ValueError
        first = str(e).strip().splitlines()
        raise SetError(f"the regression set at {path} is not valid: {' '.join(first[:3])}") from e


# --------------------------------------------------------------------------------- grading
_PUNCTUATION = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _words(text: str) -> str:
    """SQuAD's normalisation, except that punctuation separates words instead of vanishing, so
    a citation mark glued to a word (``humor.":64``) still leaves the word whole."""
    text = "".join(" " if ch in _PUNCTUATION else ch for ch in text.lower())
    return " ".join(_ARTICLES.sub(" ", text).split())


def contains(text: str, gold: str) -> bool:
    """Whether ``gold`` occurs in ``text`` as whole words, after normalisation ("eight" is not in
    "eighteen", "8" not in "1988")."""
    words = _words(gold)
    return bool(words) and f" {words} " in f" {_words(text)} "


def metadata_values(value: object) -> list[str]:
    """The ways a metadata value can be written in an answer (a date in several formats)."""
    if value is None:
        return []
    if isinstance(value, dt.date):
        return [value.isoformat(), f"{value:%B} {value.day}, {value.year}", f"{value.day} {value:%B} {value.year}"]
    return [str(value)]


def grade(entry: Entry, answer: Answer, article: Callable[[str], Article | None]) -> RegressionRow:
    """Grade one answer against its entry; ``article`` looks an article up by id (``QA.article``)."""
    key = answer.text[answer.highlight.start : answer.highlight.end] if answer.found and answer.highlight \
        else (answer.text if answer.found else "")
    quote_ok = answer.found and any(contains(answer.text, g) for g in entry.gold)
    key_ok = answer.found and any(exact_match(key, g) for g in entry.gold)
    key_f1 = max((f1_score(key, g) for g in entry.gold), default=0.0) if answer.found else 0.0
    valid = sum(1 for c in answer.citations if citation_valid(c, article))
    metadata_cited: bool | None = None
    if entry.expect == "metadata" and _citations_have_kind(answer):
        metadata_cited = answer.found and any(
            getattr(c, "kind", None) == "metadata" and getattr(c, "field", None) == entry.field
            for c in answer.citations)
    declined_well = not answer.found and (entry.expect == "decline" or entry.accept_decline)
    ok = declined_well or (entry.expect != "decline" and quote_ok)
    return RegressionRow(
        id=entry.id, category=entry.category, question=entry.question, history=list(entry.history),
        expected=_expected(entry), found=answer.found, got=answer.text if answer.found else "declined",
        key_span=key if answer.found else None,
        cited=answer.citations[0].title if answer.found and answer.citations else None,
        confidence=answer.confidence, resolved_question=answer.resolved_question, quote_ok=quote_ok,
        key_span_ok=key_ok, key_span_f1=round(key_f1, 4), metadata_cited=metadata_cited,
        citations=len(answer.citations), citations_valid=valid, ok=ok)


def _expected(entry: Entry) -> str:
    if entry.expect == "decline":
        return "decline"
    golds = " | ".join(entry.gold)
    if entry.expect == "metadata":
        golds = f"{entry.field}: {golds}"
    return golds + (" (or decline)" if entry.accept_decline else "")


def _citations_have_kind(answer: Answer) -> bool:
    """Whether this version's citations say what kind of source they are (text or metadata)."""
    return "kind" in Citation.model_fields or any("kind" in type(c).model_fields for c in answer.citations)


def citation_valid(citation: Any, article: Callable[[str], Article | None]) -> bool:
    """A text citation quotes the article at its offsets; a metadata citation holds the field's value."""
    source = article(citation.article_id)
    if source is None:
        return False
    if getattr(citation, "kind", "text") == "metadata":
        field = getattr(citation, "field", None)
        values = metadata_values(getattr(source, field, None)) if isinstance(field, str) else []
        return any(contains(citation.quote, v) or citation.quote == v for v in values)
    return bool(source.text[citation.start : citation.end] == citation.quote)


# --------------------------------------------------------------------------------- scoring
def summarize(regression: RegressionSet, rows: Sequence[RegressionRow], *, dataset: str, index: str,
              latencies_ms: Sequence[float] = ()) -> RegressionReport:
    """The figures over graded rows (one per entry, in order)."""
    if len(rows) != len(regression.questions):
        raise ValueError(f"{len(rows)} rows for {len(regression.questions)} questions")
    pairs = list(zip(regression.questions, rows, strict=True))
    answerable = [(e, r) for e, r in pairs if e.expect == "answer"]
    metadata = [(e, r) for e, r in pairs if e.expect == "metadata"]
    examples = [(e, r) for e, r in pairs if e.app_example]
    cited_field = [r.metadata_cited for _, r in metadata if r.metadata_cited is not None]
    citations = sum(r.citations for r in rows)
    return RegressionReport(
        dataset=dataset, questions=len(rows), index=index, correct=_share(r.ok for r in rows),
        answerable=AnswerableScores(
            questions=len(answerable), correct=_share(r.ok for _, r in answerable),
            key_span_em=_share(r.key_span_ok for _, r in answerable),
            key_span_f1=_mean(r.key_span_f1 for _, r in answerable),
            cited_expected_article=_share(r.found and r.cited == e.article for e, r in answerable)),
        declines=_scored(r for e, r in pairs if e.expect == "decline"),
        metadata=MetadataScores(questions=len(metadata), correct=_share(r.ok for _, r in metadata),
                                cited_from_field=_share(cited_field) if cited_field else None),
        follow_ups=_scored(r for e, r in pairs if e.history),
        app_examples=AppExamples(
            questions=len(examples), correct=_share(r.ok for _, r in examples),
            key_span_correct=_share(r.key_span_ok for _, r in examples),
            all_correct=bool(examples) and all(r.ok and r.key_span_ok for _, r in examples)),
        categories={c: _scored(r for e, r in pairs if e.category == c) for c in CATEGORIES
                    if any(e.category == c for e in regression.questions)},
        citation_validity=round(sum(r.citations_valid for r in rows) / citations, 4) if citations else 1.0,
        latency_ms_p50=round(percentile(list(latencies_ms), 50), 2) if latencies_ms else 0.0,
        latency_ms_p95=round(percentile(list(latencies_ms), 95), 2) if latencies_ms else 0.0,
        rows=list(rows))


def _scored(rows: Iterable[RegressionRow]) -> Scored:
    picked = list(rows)
    return Scored(questions=len(picked), correct=_share(r.ok for r in picked))


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return round(sum(1 for v in values if v) / len(values), 4) if values else 0.0


def _mean(values: Iterable[float]) -> float:
    picked = list(values)
    return round(sum(picked) / len(picked), 4) if picked else 0.0


# --------------------------------------------------------------------------------- running
def sample_index(cache: Path | None, settings: Settings) -> Path:
    """An index of the built-in sample corpus, built through ``QA`` once and cached under
    ``cache/sample-KEY`` (KEY hashes the articles as this version's ingest reads them, so a change
    of ingest rebuilds it, the index settings and the embedding backend); a build that was cut
    off is rebuilt."""
    articles, _ = read_articles(iter_paths([sample_corpus()]))
    digest = hashlib.sha256()
    for a in sorted(articles, key=lambda a: a.id):
        digest.update(f"{a.id}\0{a.content_hash}\0".encode())
    digest.update((IndexSettings().model_dump_json() + settings.embedding_backend).encode())
    root = cache if cache is not None else Path(tempfile.mkdtemp(prefix="qa-eval-"))
    directory = root / f"sample-{digest.hexdigest()[:16]}"
    timing = directory / _BUILD_SECONDS
    if timing.exists():
        return directory
    shutil.rmtree(directory, ignore_errors=True)
    started = time.perf_counter()
    QA(directory, sample=True, settings=settings, progress=True)
    timing.write_text(f"{time.perf_counter() - started:.3f}")
    return directory


def replayed(qa: QA, questions: Sequence[str]) -> list[Turn]:
    """The earlier questions of a conversation asked in order, each turn carrying its answer's
    quote as the web chat's does, so a follow-up reads what the user was shown ("When did he
    die?" after "Who founded the Mongol Empire?" can then mean the founder it named)."""
    turns: list[Turn] = []
    for question in questions:
        answer = qa.answer(question, history=turns)
        turns.append(Turn.after(question, answer))
    return turns


def evaluate_regression(path: Path, cache: Path | None, out: Path | None = None, index: Path | None = None,
                        settings: Settings | None = None) -> RegressionReport:
    """Ask every question of the set (with its history) and grade the answers; with ``out``,
    writes ``regression.json`` and ``regression.md`` there.

    Args:
        index: an index to ask (it should hold the sample corpus); default a cached sample index.
    """
    regression = load_set(path)
    settings = settings or Settings.from_env()
    directory = index if index is not None else sample_index(cache, settings)
    qa = QA(directory, sample=False, create=False, settings=settings)
    qa.warm_up()
    rows: list[RegressionRow] = []
    latencies: list[float] = []
    for entry in tqdm(regression.questions, desc="Regression set", unit="q", dynamic_ncols=True):
        history = replayed(qa, entry.history)
        started = time.perf_counter()
        answer = qa.answer(entry.question, history=history)
        latencies.append((time.perf_counter() - started) * 1000)
        rows.append(grade(entry, answer, qa.article))
    report = summarize(regression, rows, dataset=str(path), index=str(directory), latencies_ms=latencies)
    if out is not None:
        write_json(report, out / "regression.json")
        (out / "regression.md").write_text(report.markdown(), encoding="utf-8")
    return report
