#!/usr/bin/env bash
# Run the web chat on the built-in sample corpus (index built on first run, reused after).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/env.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python app.py "$@"
