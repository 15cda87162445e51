#!/usr/bin/env bash
# The test suite, as the README and CI run it: environment, browser, lint, types, tests.
# Arguments go to pytest. The fast lane (lint, types and the tests that load no model and drive
# no browser; under a minute):
#   scripts/test.sh -m "not slow and not browser"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/env.sh
case " $* " in
  *"not browser"*|*"not slow"*) ;;  # no browser tests selected (they are all slow): no browser needed
  *)
    if [ ! -x /usr/bin/chromium ]; then
      echo "Installing Debian's chromium for the browser tests ..."
      if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
      else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
      fi
    fi
    ;;
esac
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check qa tests eval app.py
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
