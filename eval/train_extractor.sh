#!/usr/bin/env bash
# Reproduce the shipped span extractor (qa/data/extractor/) from the data, on the CPU (about
# 70 minutes on 2 cores in all; a fold whose card exists is not trained again):
#   1. the recipe on each fold of a two-fold cross-validation grouped by article
#      (train_extractor --half 0 and --half 1: 12 articles each, measured on the other 12);
#   2. the same recipe on all 24 articles, the model that ships; its card records the data's
#      SHA-256, both folds' titles and held-out figures, and those figures pooled (out of fold).
# Usage: bash eval/train_extractor.sh [OUT]   (OUT: default qa/data/extractor; the folds go to
# eval/.cache/extractor-half0 and -half1, where QA_EXTRACTOR_WEIGHTS can name them for qa eval)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh >/dev/null
python=.venv/bin/python
data=eval/data/squad-dev-v1.1-half.json
out=${1:-qa/data/extractor}
for half in 0 1; do
  fold=eval/.cache/extractor-half$half
  [ -s "$fold/card.json" ] || "$python" -m qa_eval.train_extractor "$data" --half "$half" --out "$fold"
done
"$python" -m qa_eval.train_extractor "$data" --half all --out "$out" \
  --folds eval/.cache/extractor-half0 eval/.cache/extractor-half1
