"""The public face of ``qa``: a pinned ``__all__`` and an import that stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import qa

EXPECTED_ALL = [
    "QA",
    "Answer",
    "Article",
    "ArticleInfo",
    "BundledEmbedder",
    "BundledExtractor",
    "Chunk",
    "Citation",
    "ConfigError",
    "Embedder",
    "Extractor",
    "Filters",
    "Guess",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexNotFoundError",
    "IndexReadOnlyError",
    "IndexSettings",
    "IndexStats",
    "IndexUnusableError",
    "IngestError",
    "IngestReport",
    "IngestedArticle",
    "LexicalSettings",
    "Passage",
    "QAError",
    "QueryError",
    "ReaderSettings",
    "Rejection",
    "RetrievalSettings",
    "Settings",
    "Span",
    "Turn",
    "answer",
    "sample_corpus",
]
HEAVY = ("torch", "faiss", "sentence_transformers", "gradio", "tiktoken", "transformers")


def test_all_is_pinned() -> None:
    assert qa.__all__ == EXPECTED_ALL


def test_every_public_name_exists() -> None:
    for name in qa.__all__:
        assert getattr(qa, name) is not None, name
    public = {n for n in vars(qa) if not n.startswith("_")} - {"annotations"}
    # Submodules are attributes too; anything else importable from qa must be in __all__.
    extra = {n for n in public - set(qa.__all__)
             if not isinstance(getattr(qa, n), type(qa))}
    assert extra == set()


def test_errors_share_one_root() -> None:
    for name in ("IndexBusyError", "IndexCorruptError", "IndexMismatchError", "IndexNotFoundError",
                 "IngestError", "QueryError", "ConfigError"):
        assert issubclass(getattr(qa, name), qa.QAError), name
    for name in ("IndexBusyError", "IndexCorruptError", "IndexMismatchError", "IndexNotFoundError"):
        assert issubclass(getattr(qa, name), qa.IndexUnusableError), name


def test_error_hierarchy_docstring_names_every_error() -> None:
    import qa.errors

    errors = [n for n in qa.__all__ if n.endswith("Error")]
    assert errors and all(n in (qa.errors.__doc__ or "") for n in errors)
    assert not [n for n in vars(qa.errors) if n.endswith("_") and not n.startswith("__")]  # no builtin dodging


def test_import_qa_stays_light() -> None:
    script = (
        "import json, sys\n"
        "import qa\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cli_help_stays_light() -> None:
    script = (
        "import json, sys, contextlib, io\n"
        "from qa.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
