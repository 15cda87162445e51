"""Where the harness reads and writes when a path is not given.

In a source checkout this package is the checkout's ``eval/`` directory, beside ``eval/data``
(the shared SQuAD files), so the defaults are the checkout's files and the README's commands
work as written. An installed copy has no data: datasets must be given (``qa eval`` and
``qa bench`` say so in one sentence when a default file is absent).
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
DEV_SET = DATA / "squad-dev-v1.1-half.json"  # the reader's tuning set and the bench's questions
V2_SET = DATA / "squad-dev-v2.0-half.json"
REGRESSION_SET = DATA / "regression-sample.json"  # hand-written questions about the sample corpus


def in_checkout() -> bool:
    """Whether this is a source checkout's ``eval/`` (only a checkout has ``eval/data``)."""
    return DATA.is_dir()


def reports_dir() -> Path:
    """``eval/reports`` in a checkout, else ``qa-reports`` in the working directory."""
    return HERE / "reports" if in_checkout() else Path("qa-reports")


def cache_dir() -> Path:
    """Cached evaluation indexes: ``eval/.cache`` in a checkout (git-ignored), else the user's
    cache (``$QA_CACHE_DIR`` or ``~/.cache/article-qa``) under ``eval/``; never the working
    directory, so running from elsewhere does not scatter or miss gigabytes of indexes."""
    if in_checkout():
        return HERE / ".cache"
    from qa.settings import Settings

    return Settings.from_env().model_cache() / "eval"

