"""Pydantic models: the data that crosses every boundary of the pipeline.

Values are frozen and forbid unknown fields, so a typo in a field name fails loudly and a
citation can never be edited after it was checked against the article text.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 2
DEFAULT_MODEL = "all-MiniLM-L6-v2"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Article(_Value):
    """One article: its metadata and the clean text every offset refers to."""

    id: str
    title: str
    author: str | None = None
    published: dt.date | None = None
    url: str | None = None
    source: str
    text: str
    content_hash: str
    pages: list[int] | None = None  # where each page starts in ``text`` (PDFs only); see ``page_at``

    def page_at(self, offset: int) -> int | None:
        """The 1-based page that holds ``text[offset]``, or None for an article without pages."""
        return page_at(self.pages, offset)


def page_at(pages: list[int] | None, offset: int) -> int | None:
    """The 1-based page whose text holds ``offset``, given where each page starts (ascending).

    An empty page starts where the next one does, so the later page is the one that holds it.
    """
    if not pages:
        return None
    return max(bisect.bisect_right(pages, offset), 1)


def content_hash(title: str, author: str | None, published: dt.date | None, url: str | None, text: str) -> str:
    """The hash that says whether an article changed: its metadata and text, as ingest saw them.

    Ingest skips an article whose hash is already stored; ``qa check`` recomputes it from the
    stored row to find rows edited outside article-qa.
    """
    return hashlib.sha256(json.dumps([title, author, str(published), url, text]).encode("utf-8")).hexdigest()


class Span(_Value):
    """A half-open character range ``[start, end)`` in an article's text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"span end {self.end} is before its start {self.start}")
        return self


class Sentence(Span):
    """A sentence of an article, by offsets; ``paragraph`` counts blank-line blocks."""

    paragraph: int = Field(ge=0)


class Chunk(_Value):
    """A run of whole sentences embedded as one vector; ``text == article.text[start:end]``."""

    id: int | None = None
    article_id: str
    ordinal: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    token_count: int = Field(ge=0)
    page: int | None = Field(default=None, ge=1)  # the page it starts on (PDFs only)


# How the vectors of an index are stored (``qa.store.formats``): float32 exact, float16, 8-bit
# scalar quantisation, or product quantisation for very large indexes.
VectorFormat = Literal["float32", "float16", "sq8", "pq"]


class IndexSettings(_Value):
    """What shaped an index; the manifest records it and opening checks it.

    ``vector_format``: sq8 by measurement (``python -m qa_eval.vector_formats``): at the bench's
    100x scale it keeps the index under 1 GB and the process under 1.2 GB with the same dev-half
    quality as float32. A manifest written before the setting existed reads as float32
    (``qa.store.files.read_manifest``), which is what such an index holds.

    ``sentence_context``: what a sentence's vector is embedded from (``sentence_input``): with
    "title", the article's title before it ("Genghis Khan: He died in 1227 ..."), since every
    sentence of an article is about its title and a pronoun says nothing of whom (measured out of
    fold: eval/README.md, "The title's words"); with "sentence", the sentence alone, which is what
    an index whose manifest predates the setting holds. Chunks are embedded alone either way.
    """

    model_name: str = DEFAULT_MODEL
    dimension: int = 384
    chunk_tokens: int = Field(default=200, ge=16)
    overlap_sentences: int = Field(default=1, ge=0)
    schema_version: int = SCHEMA_VERSION
    vector_format: VectorFormat = "sq8"
    sentence_context: Literal["sentence", "title"] = "title"

    def sentence_input(self, title: str, sentence: str) -> str:
        """What this index embeds for ``sentence`` of an article titled ``title``."""
        return f"{title}: {sentence}" if self.sentence_context == "title" and title else sentence


class Rejection(_Value):
    """A file left out of an ingest, and why."""

    path: str
    reason: str


class IngestedArticle(_Value):
    """An article an ingest added, updated or found unchanged, and the file it came from."""

    id: str
    title: str
    source: str


class Replacement(_Value):
    """An article an ingest would replace with other content, held back until it is confirmed.

    Sizes are characters of text; hashes are ``content_hash`` values (metadata and text).
    """

    id: str
    source: str
    old_title: str
    new_title: str
    old_chars: int
    new_chars: int
    old_hash: str
    new_hash: str


class IngestReport(_Value):
    """What an ingest did, article by article (``held``: replacements not applied, see ``QA.ingest``)."""

    added: list[IngestedArticle] = []
    updated: list[IngestedArticle] = []
    unchanged: list[IngestedArticle] = []
    rejected: list[Rejection] = []
    held: list[Replacement] = []
    chunks_written: int = 0
    seconds: float = 0.0


AuditAction = Literal["add", "replace", "delete"]


class AuditEntry(_Value):
    """One write to the index as the audit log keeps it: who, when, what, and the content hashes
    before (``old_hash``, None for an add) and after (``new_hash``, None for a delete)."""

    id: int
    at: dt.datetime
    actor: str
    action: AuditAction
    article_id: str
    title: str
    source: str | None
    old_hash: str | None
    new_hash: str | None


class ArticleInfo(_Value):
    """An indexed article as listed to users (no text)."""

    id: str
    title: str
    author: str | None
    published: dt.date | None
    url: str | None
    source: str
    chunks: int


class IndexStats(_Value):
    """Counts of what an index holds."""

    directory: str
    articles: int
    chunks: int
    sentences: int
    chunk_vectors: int
    sentence_vectors: int
    settings: IndexSettings
    approximate: bool
    size_bytes: int


RetrievalMode = Literal["fused", "dense", "lexical"]


class ChunkText(_Value):
    """A stored chunk with the metadata of its article: everything needed to cite it."""

    chunk_id: int
    article_id: str
    title: str
    url: str | None
    published: dt.date | None
    author: str | None = None  # the article's, read with the chunk
    start: int
    end: int
    text: str
    page: int | None = None  # the page it starts on (PDFs only)


class Passage(ChunkText):
    """A retrieved chunk: its text and citation fields, its rank and its scores."""

    rank: int
    dense_score: float | None
    lexical_score: float | None
    score: float


MetadataField = Literal["author", "published", "title", "url"]


class Citation(_Value):
    """A numbered source of an answer, of one of two kinds.

    ``kind="text"`` (the usual): ``quote == article.text[start:end]`` of the cited article.
    ``kind="metadata"``: the answer is the article's own record of ``field`` (who wrote it, when
    it was published, its title or its URL), ``quote`` is that value as stored (a date as
    ``YYYY-MM-DD``), and ``start == end == 0``.
    """

    number: int
    article_id: str
    title: str
    url: str | None
    start: int
    end: int
    quote: str
    author: str | None = None  # the cited article's byline and date, so a reader sees who said it
    published: dt.date | None = None
    kind: Literal["text", "metadata"] = "text"
    field: MetadataField | None = None
    page: int | None = Field(default=None, ge=1)  # the page the quote starts on (PDFs only)

    @model_validator(mode="after")
    def _kind_has_its_fields(self) -> Citation:
        if self.kind == "metadata" and (self.field is None or self.start != 0 or self.end != 0):
            raise ValueError("a metadata citation names its field and has no character span")
        if self.kind == "text" and self.field is not None:
            raise ValueError("a text citation cites characters, not a metadata field")
        return self

    def byline(self) -> str:
        """The cited article's author and date as one phrase ("" when it has neither)."""
        parts = [f"by {self.author}" if self.author else "", self.published.isoformat() if self.published else ""]
        return ", ".join(p for p in parts if p)

    def where(self) -> str:
        """Where the quote is in its article, in words."""
        if self.kind == "metadata":
            return f"the article's metadata ({self.field})"
        page = f"page {self.page}, " if self.page is not None else ""
        return f"{page}characters {self.start}-{self.end}"


class Turn(_Value):
    """One earlier exchange of a conversation, used to resolve follow-up questions."""

    question: str
    answer: str = ""
    # The answer's key span (its highlight): after "Which stadium hosted Super Bowl 50?", the
    # "it" of "Where is it?" is the stadium the answer names, not Super Bowl 50.
    key: str = ""

    @classmethod
    def after(cls, question: str, answer: Answer) -> Turn:
        """The turn ``question`` and its ``answer`` make: the quote and its key span, none if declined."""
        if not answer.found:
            return cls(question=question)
        span = answer.highlight
        return cls(question=question, answer=answer.text, key=answer.text[span.start:span.end] if span else "")


def quoted_list(words: list[str], last: str = "or") -> str:
    """Words in curly quotes, as a sentence lists them: “a”, “b” or “c” (``last`` before the last)."""
    quoted = [f"“{w}”" for w in words]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} {last} {quoted[-1]}"


class Answer(_Value):
    """An extractive answer: a verbatim quote with its citation, or an honest decline."""

    question: str
    found: bool
    text: str
    highlight: Span | None = None
    confidence: float = Field(ge=0.0, le=1.0)
    citations: list[Citation] = []
    passages: list[Passage] = []
    resolved_question: str | None = None
    # A decline's reason, when it is that no article found mentions these names or numbers of
    # the question (as it spells them): "Eiffel" for "How tall is the Eiffel Tower?".
    unmentioned: list[str] = []
    # Of those, the ones a few letters from a name the articles found do mention, with that name as
    # they spell it ("Telsa": "Tesla"), for the user to ask again; the answer is not guessed from it.
    respelled: dict[str, str] = {}
    # A decline's reason, when it is that the closest quote says something else where the question
    # says this word (its opposite, another year, another name): ("lowest", "highest") for "What
    # is the lowest court?" against "... the highest court".
    contrary: tuple[str, str] | None = None
    # A decline's reason, when it is that the question asks with this negation ("not") and the
    # closest quote negates nothing.
    unnegated: str | None = None
    timings_ms: dict[str, float] = {}

    def decline_reason(self) -> str | None:
        """Why the reader declined, as a sentence without its full stop, when it knows more than
        that no sentence answered confidently."""
        if self.unmentioned:
            reason = f"No article found for this question mentions {quoted_list(self.unmentioned)}"
            if self.respelled:
                reason += f", though they mention {quoted_list(list(self.respelled.values()), 'and')}"
            return reason
        if self.contrary is not None:
            asked, said = self.contrary
            return f"The closest sentence says “{said}” where the question asks “{asked}”"
        if self.unnegated is not None:
            return f"The question says “{self.unnegated}”, but the closest sentence has no negation"
        return None

    def to_markdown(self) -> str:
        """Render the answer as Markdown: the quote with its key span in bold and ``[n]`` marks."""
        if not self.found:
            lines = [self.text]
            reason = self.decline_reason()
            if reason is not None:
                lines.append(f"{reason}.")
            if self.passages:
                lines.append("")
                lines.append("These passages came closest:")
                lines.extend(f"- {p.title} (characters {p.start}-{p.end})" for p in self.passages[:3])
            return "\n".join(lines)
        body = self.text
        if self.highlight is not None:
            s, e = self.highlight.start, self.highlight.end
            body = f"{body[:s]}**{body[s:e]}**{body[e:]}"
        marks = "".join(f"[{c.number}]" for c in self.citations)
        sources = [
            f"[{c.number}] {c.title}" + (f" ({c.byline()})" if c.byline() else "")
            + (f" <{c.url}>" if c.url else "") + f", {c.where()}"
            for c in self.citations
        ]
        return f"> {body} {marks}\n\n" + "\n".join(sources)
