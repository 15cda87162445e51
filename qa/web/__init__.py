"""The web app in the package, so an installed ``qa`` can serve it (``qa serve``).

``qa.web.app`` builds and launches the gradio app; ``qa.web.render`` turns answers, sources and
reports into escaped HTML; ``app.css`` styles them. The names below load ``qa.web.app`` (and so
gradio, a few seconds) only when first used, so ``qa.web.render`` and its tests stay light.

Example:
    >>> from qa import QA
    >>> from qa.web import build_app, serve
    >>> serve(build_app(QA("index")), "127.0.0.1", 7860)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qa.web.app import build_app, run, serve

__all__ = ["build_app", "run", "serve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from qa.web import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
