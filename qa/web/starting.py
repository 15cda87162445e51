"""The page the server shows while the index opens or the sample corpus is built.

``qa serve`` listens at once: until the index is ready, every page is a short HTML page with what
is being done and a progress bar that reloads itself every two seconds, and ``/v1/...`` answers
JSON; both with status 503 and ``Retry-After`` (so a health check or a script waiting for the
app keeps waiting, while a browser shows the page). Then this small server stops and the app takes the port, so a
browser opened at the start sees progress instead of "connection refused" and lands in the chat
by itself. It is a bare ASGI callable (no framework), served by uvicorn in a thread.
"""

from __future__ import annotations

import contextlib
import html
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Starting:
    """What the starting server shows: a sentence and, while vectors are computed, done/total."""

    def __init__(self, message: str) -> None:
        self._lock = threading.Lock()
        self.message = message
        self.done = 0
        self.total = 0
        self._printed = -1

    def say(self, message: str) -> None:
        """A new step (also printed on the terminal)."""
        with self._lock:
            self.message, self.done, self.total = message, 0, 0
        print(message, flush=True)

    def progress(self, done: int, total: int) -> None:
        """``qa.progress.Progress``: vectors computed so far; a line on the terminal every 10%."""
        with self._lock:
            self.done, self.total = done, total
            tenth = done * 10 // total if total else 10
            if tenth == self._printed:
                return
            self._printed = tenth
        print(f"  {done:,} of {total:,} vectors", flush=True)

    def snapshot(self) -> tuple[str, int, int]:
        with self._lock:
            return self.message, self.done, self.total


def page(state: Starting) -> str:
    """The starting page: the step, a progress bar when there is one, a reload every 2 s."""
    message, done, total = state.snapshot()
    bar = (f'<progress max="{total}" value="{done}"></progress> <span>{done * 100 // total}%</span>'
           if total else '<progress></progress>')
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta http-equiv="refresh" content="2"><title>article-qa is starting</title>'
            "<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}"
            "progress{width:100%;height:1.2rem}</style></head><body>"
            f"<h1>article-qa is starting</h1><p>{html.escape(message)}</p>{bar}"
            "<p>This page reloads by itself; the chat opens here when the index is ready.</p>"
            "</body></html>")


def starting_app(state: Starting) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app: 503 with the starting page for any path, with JSON for ``/v1/...``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"]
                if event == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if str(scope.get("path", "")).startswith("/v1"):
            message, done, total = state.snapshot()
            body = json.dumps({"message": f"The index is not ready yet: {message}", "code": "starting",
                               "done": done, "total": total}).encode()
            kind = b"application/json"
        else:
            body, kind = page(state).encode(), b"text/html; charset=utf-8"
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", kind), (b"cache-control", b"no-store"), (b"retry-after", b"2")]})
        await send({"type": "http.response.body", "body": body})

    return app


@contextlib.contextmanager
def serving(state: Starting, host: str, port: int) -> Iterator[None]:
    """Serve the starting page on ``host:port`` while the block runs; the port is free after.

    Raises:
        OSError: the port cannot be taken.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(starting_app(state), host=host, port=port, log_level="warning",
                                           lifespan="on"))

    def run() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits on a bind failure; raised below instead
            server.run()

    thread = threading.Thread(target=run, name="starting-page", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    if not server.started:  # uvicorn logs a bind failure and returns instead of raising
        raise OSError(f"cannot listen on {host}:{port}")
    try:
        yield
    finally:
        server.should_exit = True
        thread.join()
