"""The REST API (FastAPI): answers, search and the articles over HTTP, described by OpenAPI.

``build_api`` makes the app over one ``QA``; ``qa.api.server`` serves it with the web chat
mounted (``qa serve``). The schema is checked in at ``docs/openapi.json``; regenerate it with
``python -m qa.api.schema`` after changing an endpoint or a model.
"""

from __future__ import annotations

from qa.api.app import ApiError, build_api

__all__ = ["ApiError", "build_api"]
