"""What may reach the server's disk through the web app's upload route, and its removal after use.

Gradio's upload route (``POST /gradio_api/upload``) writes every part of a multipart request to
its cache as it streams in, whatever the file's type, and only its ``max_file_size`` bounds the
size; ``gr.File(file_types=...)`` checks the type later, when an event uses the file, with the
file already on disk. ``UploadGate`` is ASGI middleware in front of that route: it holds the
request in memory (bounded) until every part's file name has an accepted suffix and the body is
within its limit, and only then lets Gradio read it; anything else is answered 403, 413 or 415
before a byte is written. A read-only server (``qa.access``: public address, no credential)
refuses every upload there.

Files that did reach the cache are removed by the app once ingested or refused (``discard``),
and Gradio's ``delete_cache`` sweeps what a client uploaded but never submitted.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from qa.errors import ConfigError
from qa.ingest import SUPPORTED_SUFFIXES
from qa.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

UPLOAD_PATHS = ("/gradio_api/upload", "/upload")
# One upload request may carry several files (the page sends all chosen files in one request).
MAX_FILES_PER_REQUEST = 8
_MULTIPART_OVERHEAD = 64 * 1024  # part headers and boundaries, generously


def upload_suffixes(settings: Settings) -> list[str]:
    """The file suffixes an upload may have, in the web app and the REST API alike:
    ``settings.upload_types``, else every type ingest reads.

    Raises:
        ConfigError: a configured suffix is not one ingest can read.
    """
    if settings.upload_types is None:
        return sorted(SUPPORTED_SUFFIXES)
    unknown = sorted(set(settings.upload_types) - SUPPORTED_SUFFIXES)
    if unknown:
        raise ConfigError(f"$QA_UPLOAD_TYPES names {', '.join(unknown)}, which ingest cannot read; "
                          f"choose from {', '.join(sorted(SUPPORTED_SUFFIXES))}.")
    return sorted(settings.upload_types)


@dataclass(frozen=True)
class UploadPolicy:
    """What the upload route accepts: files of these ``suffixes`` (None: nothing, a read-only
    server) up to ``max_bytes`` each."""

    suffixes: tuple[str, ...] | None
    max_bytes: int


class Refused(Exception):
    """An upload request the gate answers itself, with this HTTP status and sentence."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Parts:
    """File names of a multipart body, found as it streams in (no part's data is kept)."""

    def __init__(self, boundary: bytes, suffixes: frozenset[str], max_files: int) -> None:
        self._suffixes = suffixes
        self._max_files = max_files
        self._field = bytearray()
        self._value = bytearray()
        self._disposition: bytes | None = None
        self.files = 0
        self._parser = MultipartParser(boundary, callbacks={
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        })

    def feed(self, chunk: bytes) -> None:
        self._parser.write(chunk)

    def _begin(self) -> None:
        self._disposition = None

    def _header_end(self) -> None:
        if bytes(self._field).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition or b"")
        raw = options.get(b"filename")
        name = os.path.basename(raw.decode("utf-8", "replace").replace("\\", "/")) if raw else ""
        suffix = os.path.splitext(name)[1].lower()
        if suffix not in self._suffixes:
            kinds = ", ".join(sorted(self._suffixes))
            raise Refused(415, f"{name or 'a part without a file name'}: unsupported file type "
                               f"'{suffix or name}' (use {kinds}).")
        self.files += 1
        if self.files > self._max_files:
            raise Refused(413, f"At most {self._max_files} files can be uploaded at once.")


class UploadGate:
    """ASGI middleware: only uploads of accepted types and sizes reach Gradio (and the disk).

    Args:
        app: the Gradio app.
        policy: accepted suffixes and size; a request may carry ``MAX_FILES_PER_REQUEST`` files.
    """

    def __init__(self, app: ASGIApp, policy: UploadPolicy) -> None:
        self.app = app
        self.suffixes = None if policy.suffixes is None else frozenset(s.lower() for s in policy.suffixes)
        self.max_bytes = policy.max_bytes
        self.max_body = policy.max_bytes * MAX_FILES_PER_REQUEST + _MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (scope["type"] == "http" and scope["method"] == "POST" and _is_upload(scope)):
            await self.app(scope, receive, send)
            return
        try:
            held = await self._hold(scope, receive)
        except Refused as refused:
            await _answer(send, refused.status, refused.reason)
            return
        await self.app(scope, _replay(held, receive), send)

    async def _hold(self, scope: Scope, receive: Receive) -> list[Message]:
        """The request's body messages, read only as far as needed to accept or refuse it.

        Raises:
            Refused: a read-only server, a body over the limit, a file of another type.
        """
        if self.suffixes is None:
            raise Refused(403, "This server is read-only: uploads are refused.")
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            raise Refused(413, f"The upload is over the limit of {self.max_bytes:,} bytes a file.")
        content_type, options = parse_options_header(headers.get("content-type", b""))
        if content_type != b"multipart/form-data" or not options.get(b"boundary"):
            raise Refused(400, "An upload must be multipart/form-data.")
        parts = _Parts(options[b"boundary"], self.suffixes, MAX_FILES_PER_REQUEST)
        held: list[Message] = []
        size = 0
        while True:
            message = await receive()
            held.append(message)
            if message["type"] != "http.request":
                return held  # the client left; Gradio sees the same
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > self.max_body:
                raise Refused(413, f"The upload is over the limit of {self.max_bytes:,} bytes a file.")
            parts.feed(body)
            if not message.get("more_body", False):
                return held


def _is_upload(scope: Scope) -> bool:
    path = str(scope.get("path", "")).rstrip("/")
    root = str(scope.get("root_path", "")).rstrip("/")
    if root and path.startswith(root):
        path = path[len(root):]
    return path in UPLOAD_PATHS


def _replay(held: Sequence[Message], receive: Receive) -> Receive:
    """A ``receive`` that gives the held messages first, then the client's own."""
    queue = list(held)

    async def replayed() -> Message:
        return queue.pop(0) if queue else await receive()

    return replayed


async def _answer(send: Send, status: int, reason: str) -> None:
    body = reason.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode("ascii")),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def discard(paths: Iterable[str], cache: Path) -> None:
    """Remove uploaded files from Gradio's cache ``cache`` (and their folders, once empty).

    Paths outside ``cache`` are left alone: only what the upload route wrote is removed.
    """
    root = cache.resolve()
    for path in paths:
        file = Path(path).resolve()
        if root not in file.parents:
            continue
        file.unlink(missing_ok=True)
        # Gradio keeps each upload in a folder named by its hash; it may hold another copy.
        with contextlib.suppress(OSError):
            file.parent.rmdir()
