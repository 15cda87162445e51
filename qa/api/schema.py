"""Write the API's OpenAPI schema to ``docs/openapi.json``: ``python -m qa.api.schema [PATH]``.

The checked-in file is what clients generate code from; ``tests/test_api.py`` fails when the
served schema differs from it, and this command is how to bring it up to date.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def openapi() -> dict[str, Any]:
    """The schema ``build_api`` serves (built over a stand-in, as it depends on no index)."""
    from qa.api.app import build_api

    return build_api(_NoIndex(), "127.0.0.1", None).openapi()  # type: ignore[arg-type]


def render(schema: dict[str, Any]) -> str:
    """The schema as the checked-in file holds it: sorted keys, two-space indents, a final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


class _NoIndex:
    """What ``build_api`` reads of a ``QA`` while building routes: its settings, nothing else."""

    def __init__(self) -> None:
        from qa.settings import Settings

        self.settings = Settings()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SCHEMA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(openapi()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
