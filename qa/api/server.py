"""One server for both faces: the REST API at ``/v1`` (schema at ``/docs``) and the chat at ``/``.

``qa serve`` opens the index once and serves both from it under uvicorn, so an answer from the
API and one from the page come from the same ``QA`` and the same write lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qa.access import AdminCredential
from qa.api.app import build_api
from qa.pipeline import QA

if TYPE_CHECKING:
    import gradio as gr
    from fastapi import FastAPI

    from qa.web.uploads import UploadPolicy


def combined_app(qa: QA, demo: gr.Blocks, host: str, credential: AdminCredential | None,
                 uploads: UploadPolicy) -> FastAPI:
    """The API with the web app ``demo`` mounted at ``/`` (behind its upload gate); the API's
    routes come first, so ``/v1``, ``/docs`` and ``/openapi.json`` are never the page's."""
    import gradio as gr
    from starlette.middleware import Middleware

    from qa.web.app import CSS, DELETE_CACHE, THEME
    from qa.web.uploads import UploadGate

    demo.queue(max_size=64)
    demo.delete_cache = DELETE_CACHE
    app: FastAPI = gr.mount_gradio_app(
        build_api(qa, host, credential), demo, path="/", server_name=host, show_error=False,
        max_file_size=uploads.max_bytes, ssr_mode=False, theme=THEME, css=CSS,
        footer_links=["gradio", "settings"], app_kwargs={"middleware": [Middleware(UploadGate, policy=uploads)]},
    )
    return app


def serve(qa: QA, demo: gr.Blocks, host: str, port: int, credential: AdminCredential | None,
          uploads: UploadPolicy) -> None:
    """Serve ``combined_app`` on ``host:port`` until interrupted.

    Raises:
        OSError: the port cannot be taken.
    """
    import uvicorn

    app = combined_app(qa, demo, host, credential, uploads)
    shown = f"[{host}]" if ":" in host else host
    print(f"article-qa is ready at http://{shown}:{port}/ (REST API at /v1, its schema at /docs)", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    server.run()
    if not server.started:  # uvicorn logs a bind failure and returns instead of raising
        raise OSError(f"cannot listen on {host}:{port}")
