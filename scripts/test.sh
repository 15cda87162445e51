#!/usr/bin/env bash
# The whole test suite, as the README and CI run it: environment, browser, lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/env.sh
if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the browser tests ..."
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check qa tests eval app.py
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
