#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv (idempotent, offline-safe), with
# the library and all its extras: web (the chat), eval (plots, segmenter comparison), dev (tests).
# torch is installed first at its constraints.txt pin (2.13.0, the CPU wheel on this machine): an
# unpinned torch would pull gigabytes of CUDA packages. constraints.txt pins everything else;
# pyproject.toml declares ranges.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
stamp="$VENV/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV ..."
  python3 -m venv "$VENV"
fi
if [ ! -f "$stamp" ]; then
  echo "Installing dependencies into $VENV (first run takes a few minutes) ..."
  torch_pin=$(grep -E '^torch==' constraints.txt)
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet "$torch_pin"
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -e ".[web,eval,dev]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
