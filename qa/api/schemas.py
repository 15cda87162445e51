"""The REST API's request and response bodies that are not already ``qa.models`` values.

Answers, passages, articles and ingest reports go out as the library's own models, so a client
reads the same fields the Python API returns; these add only what HTTP needs around them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.models import ArticleInfo, Passage, RetrievalMode, Turn
from qa.retrieval import Filters

MAX_K = 50  # passages a request may ask for: enough to read, bounded in cost


class _Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AnswerRequest(_Body):
    """A question, with earlier turns for a follow-up and the articles it may be read from."""

    question: str = Field(examples=["Who built Iran's nuclear reactor at Bushehr?"])
    k: int | None = Field(default=None, ge=1, le=MAX_K, description="passages to read (default: the server's)")
    history: list[Turn | str] = Field(default=[], max_length=20, description="earlier turns, newest last")
    mode: RetrievalMode | None = None
    filters: Filters | None = None


class SearchRequest(_Body):
    """A query for passages, best first."""

    query: str = Field(examples=["Bushehr reactor"])
    k: int | None = Field(default=None, ge=1, le=MAX_K)
    mode: RetrievalMode | None = None
    filters: Filters | None = None


class SearchResult(_Body):
    query: str
    passages: list[Passage]


class ArticlePage(_Body):
    """One page of the article list (by title): ``total`` articles in all."""

    total: int
    offset: int
    limit: int
    articles: list[ArticleInfo]


class Deleted(_Body):
    id: str
    deleted: Literal[True] = True


class Health(_Body):
    """What a load balancer or an operator checks: the index answers, and what it holds."""

    status: Literal["ok"] = "ok"
    generation: int
    articles: int
    chunks: int
    sentences: int
    model: str
    dimension: int
    writes: Literal["open", "admin", "read-only"] = Field(
        description="who may write: anyone (loopback, no credential), the admin, or nobody")


ErrorCode = Literal[
    "invalid_request", "invalid_question", "question_too_long", "not_found", "unauthorized",
    "forbidden", "writes_disabled", "unsupported_type", "file_too_large", "too_many_files",
    "length_required", "rejected", "index_busy", "index_read_only", "index_unusable", "internal_error",
]


class ErrorBody(_Body):
    """Every error the API answers: one sentence, and a code that stays the same across versions."""

    message: str
    code: ErrorCode
