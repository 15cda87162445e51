"""The REST API: ``build_api(qa, host, credential)`` returns the FastAPI app over one ``QA``.

Reads are open; writes (upload, delete) need what the web app's writes need (``qa.access``),
given as ``Authorization: Bearer <admin password>``. Every error is ``ErrorBody`` JSON, one
sentence and a stable code, never a traceback: 4xx for the client's mistakes, 503 with
``Retry-After`` while another write holds the index.

Handlers are plain functions, so FastAPI runs them in its thread pool and questions are answered
side by side; one write runs at a time in this process (a second is answered 503 at once rather
than queued), and the store's lock keeps other processes' writers out.

Example:
    >>> api = build_api(QA("index"), "127.0.0.1", None)
    >>> uvicorn.run(api, host="127.0.0.1", port=8080)
"""

# No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run
# time, and a string would not find ``admin``, a dependency local to ``build_api``.
import re
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.access import AdminCredential, access_mode, require_write
from qa.errors import (
    IndexBusyError,
    IndexReadOnlyError,
    IndexUnusableError,
    QAError,
    QueryError,
    WriteDeniedError,
)
from qa.models import Answer, Article, IngestReport
from qa.pipeline import QA
from qa.web.uploads import upload_suffixes

from .schemas import (
    AnswerRequest,
    ArticlePage,
    Deleted,
    ErrorBody,
    ErrorCode,
    Health,
    SearchRequest,
    SearchResult,
)

VERSION = "1"
RETRY_AFTER_SECONDS = 5
MAX_FILES = 8  # files in one upload, as the web app's upload route allows
_MULTIPART_OVERHEAD = 64 * 1024  # part headers and boundaries, generously
_SAFE_NAME = re.compile(r"[^\w.\- ]+")


class ApiError(Exception):
    """An error the API answers as ``ErrorBody`` with this status (and headers)."""

    def __init__(self, status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _errors(status: int, *codes: ErrorCode) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI ``responses`` entry: ``status`` answers ``ErrorBody`` with one of ``codes``."""
    return {status: {"model": ErrorBody, "description": "codes: " + ", ".join(codes)}}


def build_api(qa: QA, host: str, credential: AdminCredential | None) -> FastAPI:
    """The API over ``qa`` for a server bound to ``host`` (which, with ``credential``, decides
    who may write; see ``qa.access``)."""
    api = FastAPI(
        title="article-qa", version=VERSION,
        description="Extractive question answering over articles: every answer is a verbatim quote "
                    "of an article with its citation (article, characters, page), or an honest "
                    "decline. Reads are open; writes need `Authorization: Bearer <admin password>` "
                    "unless the server listens on loopback without an admin credential.",
    )
    writing = threading.Lock()
    suffixes = upload_suffixes(qa.settings)
    max_bytes = qa.settings.upload_max_bytes
    _install_error_handlers(api)

    def admin(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        """The write check (a dependency of every write): returns who the audit log names."""
        scheme, _, token = (authorization or "").partition(" ")
        password = token.strip() if scheme.lower() == "bearer" else None
        try:
            require_write(host, credential, password)
        except WriteDeniedError as e:
            mode = access_mode(host, credential)
            if mode == "read-only":
                raise ApiError(403, "writes_disabled", str(e)) from None
            if not password:
                raise ApiError(401, "unauthorized", "Changing the articles needs the admin password as "
                               "`Authorization: Bearer <password>`.", {"WWW-Authenticate": "Bearer"}) from None
            raise ApiError(403, "forbidden", str(e)) from None
        return f"api:{request.client.host if request.client else 'unknown'}"

    @contextmanager
    def one_writer() -> Iterator[None]:
        if not writing.acquire(blocking=False):
            raise IndexBusyError("Another write is in progress; try again shortly.")
        try:
            yield
        finally:
            writing.release()

    @api.post("/v1/answer", response_model=Answer, tags=["questions"],
              responses={**_errors(400, "invalid_question", "question_too_long"),
                         **_errors(422, "invalid_request"), **_errors(503, "index_busy")})
    def answer(body: AnswerRequest) -> Answer:
        """Answer a question with a verbatim, cited quote, or decline (`found: false`)."""
        try:
            return qa.answer(body.question, k=body.k, history=body.history, mode=body.mode, filters=body.filters)
        except QueryError as e:
            long = len(" ".join(body.question.split())) > qa.settings.max_question_chars
            raise ApiError(400, "question_too_long" if long else "invalid_question", str(e)) from None

    @api.post("/v1/search", response_model=SearchResult, tags=["questions"],
              responses={**_errors(400, "invalid_question"), **_errors(422, "invalid_request")})
    def search(body: SearchRequest) -> SearchResult:
        """Passages for a query, best first, with their citation fields and scores."""
        if not body.query.strip():
            raise QueryError("Please give a query: it is empty.")
        return SearchResult(query=body.query, passages=qa.search(body.query, k=body.k, mode=body.mode,
                                                                  filters=body.filters))

    @api.get("/v1/articles", response_model=ArticlePage, tags=["articles"])
    def articles(offset: Annotated[int, Query(ge=0)] = 0,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> ArticlePage:
        """Indexed articles' metadata (no text), by title, one page at a time."""
        listed = qa.articles()
        return ArticlePage(total=len(listed), offset=offset, limit=limit, articles=listed[offset : offset + limit])

    @api.get("/v1/articles/{article_id}", response_model=Article, tags=["articles"],
             responses=_errors(404, "not_found"))
    def article(article_id: str) -> Article:
        """One article: its metadata, its text (every citation's offsets index it) and page starts."""
        found = qa.article(article_id)
        if found is None:
            raise ApiError(404, "not_found", f"No article has the id {article_id!r}.")
        return found

    @api.post("/v1/articles", response_model=IngestReport, status_code=201, tags=["articles"],
              responses={**_errors(401, "unauthorized"), **_errors(403, "forbidden", "writes_disabled"),
                         **_errors(411, "length_required"), **_errors(413, "file_too_large", "too_many_files"),
                         **_errors(415, "unsupported_type"), **_errors(422, "rejected", "invalid_request"),
                         **_errors(503, "index_busy")},
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["files"], "properties": {
                      "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                      "replace": {"type": "boolean", "default": False, "description":
                                  "replace stored articles whose content changed (else they are held)"}}}}}}})
    async def upload(request: Request, actor: Annotated[str, Depends(admin)]) -> IngestReport:
        """Add articles from files (multipart field `files`, up to 8), with the web's types and
        size limit. A file that would replace a stored article with other content is held (listed
        in `held`) unless the form says `replace=true`; unreadable files are listed in `rejected`."""
        with one_writer(), tempfile.TemporaryDirectory(prefix="qa-upload-") as folder:
            form = await _bounded(request, max_bytes * MAX_FILES + _MULTIPART_OVERHEAD)
            try:
                files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
                if not files:
                    raise ApiError(422, "invalid_request", "Send the files as multipart form field `files`.")
                paths = [await _saved(f, Path(folder), suffixes, max_bytes) for f in files]
                replace = str(form.get("replace", "false")).lower() in {"1", "true", "yes"}
            finally:
                await form.close()
            report = await run_in_threadpool(qa.ingest, paths, max_bytes, False, replace=replace, actor=actor)
        report = report.model_copy(update={"rejected": [r.model_copy(update={"path": Path(r.path).name})
                                                        for r in report.rejected]})
        if report.rejected and not (report.added or report.updated or report.unchanged or report.held):
            raise ApiError(422, "rejected", " ".join(f"{r.path}: {r.reason}." for r in report.rejected))
        return report

    @api.delete("/v1/articles/{article_id}", response_model=Deleted, tags=["articles"],
                responses={**_errors(401, "unauthorized"), **_errors(403, "forbidden", "writes_disabled"),
                           **_errors(404, "not_found"), **_errors(503, "index_busy")})
    def delete(article_id: str, actor: Annotated[str, Depends(admin)]) -> Deleted:
        """Remove an article everywhere (text, passages, vectors)."""
        with one_writer():
            if not qa.delete(article_id, actor=actor):
                raise ApiError(404, "not_found", f"No article has the id {article_id!r}.")
        return Deleted(id=article_id)

    @api.get("/v1/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """The index answers, its generation (it grows with every write) and what it holds."""
        stats = qa.stats()
        return Health(generation=qa.store.generation(), articles=stats.articles, chunks=stats.chunks,
                      sentences=stats.sentences, model=stats.settings.model_name,
                      dimension=stats.settings.dimension, writes=access_mode(host, credential))

    return api


async def _bounded(request: Request, limit: int) -> FormData:
    """The request's multipart form, read only while it stays within ``limit`` bytes.

    Raises:
        ApiError: no length was declared, or the body is over ``limit`` (413 before it is read).
    """
    declared = request.headers.get("content-length")
    if declared is None:
        raise ApiError(411, "length_required", "An upload must declare its Content-Length.")
    if not declared.isdigit() or int(declared) > limit:
        raise ApiError(413, "file_too_large", f"The upload is over the limit of {limit:,} bytes in all.")
    from starlette.formparsers import MultiPartException

    try:
        return await request.form(max_files=MAX_FILES, max_fields=4)
    except (MultiPartException, StarletteHTTPException) as e:  # starlette turns the first into the second
        reason = str(e.detail if isinstance(e, StarletteHTTPException) else e).rstrip(".")
        if "files" in reason.lower():
            raise ApiError(413, "too_many_files", f"{reason}.") from None
        raise ApiError(422, "invalid_request", f"The upload is not valid multipart: {reason}.") from None


async def _saved(file: UploadFile, folder: Path, suffixes: list[str], max_bytes: int) -> Path:
    """``file`` written into ``folder`` under its own (cleaned) name, if its type and size pass."""
    name = _SAFE_NAME.sub("_", Path(file.filename or "upload").name).strip(" .") or "upload"
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise ApiError(415, "unsupported_type", f"{name}: unsupported file type '{suffix or name}' "
                       f"(use {', '.join(suffixes)}).")
    if file.size is not None and file.size > max_bytes:
        raise ApiError(413, "file_too_large", f"{name}: file is {file.size:,} bytes, over the limit of {max_bytes:,}.")
    target = folder / name
    stem, number = target.stem, 1
    while target.exists():  # two files of one name in one upload: both kept
        number += 1
        target = folder / f"{stem} ({number}){suffix}"
    target.write_bytes(await file.read())
    return target


def _install_error_handlers(api: FastAPI) -> None:
    """Every failure as ``ErrorBody``: the library's errors by kind, the framework's by status."""

    def reply(status: int, code: ErrorCode, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(ErrorBody(message=message, code=code).model_dump(), status, headers=headers)

    @api.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError) -> JSONResponse:
        return reply(e.status, e.code, e.message, e.headers)

    @api.exception_handler(QAError)
    async def qa_error(request: Request, e: QAError) -> JSONResponse:
        message = " ".join(str(e).split())
        if isinstance(e, QueryError):
            return reply(400, "invalid_question", message)
        if isinstance(e, IndexBusyError):
            return reply(503, "index_busy", message, {"Retry-After": str(RETRY_AFTER_SECONDS)})
        if isinstance(e, IndexReadOnlyError):
            return reply(503, "index_read_only", message)
        if isinstance(e, WriteDeniedError):
            return reply(403, "forbidden", message)
        if isinstance(e, IndexUnusableError):
            return reply(503, "index_unusable", message)
        return reply(400, "invalid_request", message)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}"
                             for err in e.errors()[:5])
        return reply(422, "invalid_request", f"The request is not valid: {problems}.")

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        code: ErrorCode = "not_found" if e.status_code == 404 else "invalid_request"
        return reply(e.status_code, code, str(e.detail) if e.status_code != 404 else "No such endpoint.")

    @api.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception) -> JSONResponse:
        traceback.print_exception(e, file=sys.stderr)  # the operator's to read, never the client's
        return reply(500, "internal_error", f"Something went wrong on the server ({type(e).__name__}).")
