"""What ``qa eval`` reports, as pydantic models, and how they are written.

The JSON keys are those of the reports the README's figures come from (``eval/reports``), so
runs before and after a change compare key by key. A key that is not an identifier (``recall@1``)
is a field's serialization and validation alias (not ``alias``, so type checkers keep the field
name as the constructor's keyword); field order is the written order.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from qa.models import IndexSettings, RetrievalMode


class Report(BaseModel):
    """A report part: frozen, no unknown keys, filled by field name or by its JSON key."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    def to_json(self) -> str:
        """The report as written to disk: JSON keys (aliases), absent parts left out."""
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2) + "\n"


def write_json(report: Report, path: Path) -> None:
    """Write ``report.to_json()`` to ``path``, making its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.to_json(), encoding="utf-8")


# --------------------------------------------------------------------------------- retrieval
class ModeMetrics(Report):
    """One retrieval mode's quality over the questions, and its query latency."""

    recall_1: float = Field(serialization_alias="recall@1", validation_alias="recall@1")
    recall_5: float = Field(serialization_alias="recall@5", validation_alias="recall@5")
    recall_20: float = Field(serialization_alias="recall@20", validation_alias="recall@20")
    mrr_10: float = Field(serialization_alias="mrr@10", validation_alias="mrr@10")
    ndcg_10: float = Field(serialization_alias="ndcg@10", validation_alias="ndcg@10")
    latency_ms_p50: float
    latency_ms_p95: float


class IndexSummary(Report):
    """The evaluated index: its size, chunking and (first) build time."""

    articles: int
    chunks: int
    mean_chunk_tokens: float
    build_seconds: float
    settings: IndexSettings


class RetrievalReport(Report):
    """``retrieval.json``: recall, MRR, nDCG and latency per retrieval mode."""

    dataset: str
    questions: int
    index: IndexSummary
    modes: dict[RetrievalMode, ModeMetrics]

    def markdown(self) -> str:
        """``retrieval.md``: the same figures as one table."""
        columns = list(ModeMetrics.model_fields)
        headers = [ModeMetrics.model_fields[c].serialization_alias or c for c in columns]
        ix = self.index
        lines = [
            f"# Retrieval: {Path(self.dataset).name}, {self.questions} questions", "",
            f"Index: {ix.articles} articles, {ix.chunks} chunks (mean {ix.mean_chunk_tokens} tokens), "
            f"built in {ix.build_seconds} s.", "",
            "| mode | " + " | ".join(headers) + " |",
            "|---|" + "---|" * len(headers),
        ]
        for mode, values in self.modes.items():
            lines.append(f"| {mode} | " + " | ".join(f"{getattr(values, c)}" for c in columns) + " |")
        return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------- answers
class Counted(Report):
    """How many questions a figure is over."""

    questions: int


class Quality(Report):
    """How good the answers were: a gold answer inside the quote, and key-span EM/F1."""

    answer_accuracy: float
    span_em: float
    span_f1: float


# Pydantic orders inherited fields from the last base to the first, so ``questions`` leads.
class Subset(Quality, Counted):
    """The quality over a named part of the questions."""


class Answering(Quality):
    """One run of ``answer()`` over some questions: quality, citations, abstention, latency."""

    citation_validity: float
    answered: float
    latency_ms_p50: float
    latency_ms_p95: float


class Header(Report):
    """Which file a report is about and how many of its questions were asked."""

    dataset: str
    questions: int


class Abstention(Report):
    """Declining on an index of half the articles: questions about the other half should be."""

    auroc: float
    answered_in_corpus: float
    declined_out_of_corpus: float
    in_corpus_questions: int
    out_of_corpus_questions: int
    threshold: float


class V2Rates(Report):
    """How ``answer()`` treats SQuAD v2.0's unanswerable and answerable questions."""

    unanswerable_questions: int
    declined_unanswerable: float
    answerable_questions: int
    answered_answerable: float
    auroc: float


class SquadV2(V2Rates):
    """SQuAD v2.0's unanswerable questions (same articles, no answer in them); with a fold's
    extractor, also the rates on the articles it never trained on."""

    dataset: str
    extractor_unseen_articles: V2Rates | None = None


# --------------------------------------------------------------------------------- regression set
class Scored(Counted):
    """Some of the regression set's questions and the share of them handled as expected."""

    correct: float


class AnswerableScores(Scored):
    """Answerable questions: the quote holds a gold answer (``correct``), the key span is one."""

    key_span_em: float
    key_span_f1: float
    cited_expected_article: float


class MetadataScores(Scored):
    """Questions about an article's metadata; ``cited_from_field``: the answer cites the right
    metadata field (left out while citations have no kind)."""

    cited_from_field: float | None = None


class AppExamples(Scored):
    """The web app's example questions; ``all_correct`` needs the quote and the key span right."""

    key_span_correct: float
    all_correct: bool


class RegressionScores(Header):
    """The hand-written regression set on the sample corpus: the figures (``regression.json``
    adds the rows; ``answers.json`` holds these under ``regression``)."""

    index: str
    correct: float
    answerable: AnswerableScores
    declines: Scored
    metadata: MetadataScores
    follow_ups: Scored
    app_examples: AppExamples
    categories: dict[str, Scored]
    citation_validity: float
    latency_ms_p50: float
    latency_ms_p95: float

    def markdown_summary(self, level: str = "#") -> list[str]:
        """The figures as Markdown lines under a heading of ``level``."""
        a, d, m, f, x = self.answerable, self.declines, self.metadata, self.follow_ups, self.app_examples
        cited = "-" if m.cited_from_field is None else m.cited_from_field
        return [
            f"{level} Regression set: {Path(self.dataset).name}, {self.questions} questions", "",
            "| correct | answerable: quote holds gold | key-span EM | key-span F1 | declined as expected | "
            "metadata | metadata cited from field | follow-ups | app examples all correct | citation validity |",
            "|---|---|---|---|---|---|---|---|---|---|",
            f"| {self.correct} | {a.correct} ({a.questions}) | {a.key_span_em} | {a.key_span_f1} | "
            f"{d.correct} ({d.questions}) | {m.correct} ({m.questions}) | {cited} | {f.correct} ({f.questions}) | "
            f"{'yes' if x.all_correct else 'no'} ({x.correct} quote, {x.key_span_correct} key span, "
            f"{x.questions} examples) | {self.citation_validity} |", "",
            "| category | questions | correct |", "|---|---|---|",
            *(f"| {name} | {s.questions} | {s.correct} |" for name, s in self.categories.items()),
        ]


class RegressionRow(Report):
    """One question of the regression set: what was expected, what came back, whether it was right."""

    id: str
    category: str
    question: str
    history: list[str] = []
    expected: str
    found: bool
    got: str
    key_span: str | None = None
    cited: str | None = None
    confidence: float
    resolved_question: str | None = None
    quote_ok: bool
    key_span_ok: bool
    key_span_f1: float
    metadata_cited: bool | None = None
    citations: int
    citations_valid: int
    ok: bool


class RegressionReport(RegressionScores):
    """``regression.json``: the figures and every question's row."""

    rows: list[RegressionRow]

    def scores(self) -> RegressionScores:
        """The figures without the rows (the section of ``answers.json``)."""
        return RegressionScores.model_validate(self.model_dump(exclude={"rows"}))

    def markdown(self) -> str:
        """``regression.md``: the figures, then one row per question."""
        lines = [*self.markdown_summary(), "", f"Index: `{self.index}`.", "",
                 "| id | category | question | expected | got (key span) | ok |", "|---|---|---|---|---|---|"]
        for r in self.rows:
            asked = " / ".join([*r.history, r.question]) if r.history else r.question
            if r.resolved_question:
                asked += f" (read as: {r.resolved_question})"
            got = r.got if not r.found else f"{_clip(r.got)} (**{r.key_span or ''}**; {r.confidence})"
            lines.append(f"| {r.id} | {r.category} | {_cell(asked)} | {_cell(r.expected)} | {_cell(got)} | "
                         f"{'yes' if r.ok else '**no**'} |")
        return "\n".join(lines) + "\n"


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _cell(text: str) -> str:
    """Text that stays inside one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


class AnswersReport(Answering, Header):
    """``answers.json``: end-to-end answers, and the subsets that were fitted on nothing."""

    extractor: str = "shipped"
    extractor_unseen_articles: Subset | None = None
    abstention: Abstention
    fitted_on_nothing: Subset | None = None
    squad_v2: SquadV2 | None = None
    regression: RegressionScores | None = None

    def markdown(self) -> str:
        """``answers.md``: the report's tables."""
        ab, unseen, clean = self.abstention, self.extractor_unseen_articles, self.fitted_on_nothing
        lines = [
            f"# Answers: {Path(self.dataset).name}, {self.questions} questions", "",
            "| answer accuracy | span EM | span F1 | citation validity | answered | p50 ms | p95 ms |",
            "|---|---|---|---|---|---|---|",
            f"| {self.answer_accuracy} | {self.span_em} | {self.span_f1} | {self.citation_validity} | "
            f"{self.answered} | {self.latency_ms_p50} | {self.latency_ms_p95} |", "",
            f"Span extractor: {self.extractor}.", "",
            "## Articles the span extractor never saw", "",
            *(["| questions | answer accuracy | span EM | span F1 |", "|---|---|---|---|",
               f"| {unseen.questions} | {unseen.answer_accuracy} | {unseen.span_em} | {unseen.span_f1} |",
               *([f"| {clean.questions} of them, none used to fit the reader | {clean.answer_accuracy} | "
                  f"{clean.span_em} | {clean.span_f1} |"] if clean else [])] if unseen else
              ["None: it trained on every article here. A fold's model (`QA_EXTRACTOR_WEIGHTS=DIR`, "
               "`train_extractor --half 0|1 --out DIR`) gives the out-of-fold figures."]), "",
            "## Abstention (index of half the articles)", "",
            "| AUROC | answered in-corpus | declined out-of-corpus | threshold |", "|---|---|---|---|",
            f"| {ab.auroc} | {ab.answered_in_corpus} | {ab.declined_out_of_corpus} | {ab.threshold} |",
        ]
        if self.squad_v2 is not None:
            v2 = self.squad_v2
            lines += ["", "## SQuAD v2.0 unanswerable questions", "",
                      "| questions | declined unanswerable | answered answerable | AUROC |", "|---|---|---|---|",
                      f"| all | {v2.declined_unanswerable} | {v2.answered_answerable} | {v2.auroc} |"]
            if (part := v2.extractor_unseen_articles) is not None:
                lines.append(f"| articles the span extractor never saw ({part.unanswerable_questions} + "
                             f"{part.answerable_questions}) | {part.declined_unanswerable} | "
                             f"{part.answered_answerable} | {part.auroc} |")
        if self.regression is not None:
            lines += ["", *self.regression.markdown_summary(level="##")]
        return "\n".join(lines) + "\n"
