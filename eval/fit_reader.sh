#!/usr/bin/env bash
# Refit the reader's weights from the SQuAD files in eval/data and measure them out of fold, on
# the CPU (about 45 minutes on 2 cores; each step is skipped when its output exists):
#   1. qa_eval.reader_data: every question's candidate sentences with their features (3 indexes);
#   2. qa_eval.extractor_preds: the first fold's span extractor (train_extractor --half 0, trained
#      here when absent) reading every candidate; the shipped one trained on every article;
#   3. qa_eval.fit_reader: the sentence choice, confidence and threshold measured out of fold on
#      the articles that extractor never trained on, beside the shipped weights
#      (eval/reports/reader-oof.json), then fitted on all of them and written to DIR/weights.json
#      with the out-of-fold figures and the inputs' SHA-256. It is not the shipped file: the refit
#      was measured and not shipped (eval/README.md); copy it over qa/data/reader/weights.json to use it.
# Usage: bash eval/fit_reader.sh [DIR]   (DIR: where the data goes, default eval/.cache/reader-fit)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh >/dev/null
python=.venv/bin/python
data=${1:-eval/.cache/reader-fit}
fold=eval/.cache/extractor-half0
[ -s "$fold/card.json" ] || "$python" -m qa_eval.train_extractor eval/data/squad-dev-v1.1-half.json --half 0 --out "$fold"
[ -s "$data/candidates.json.gz" ] || "$python" -m qa_eval.reader_data --out "$data"
[ -s "$data/preds-fold0.json.gz" ] || QA_EXTRACTOR_WEIGHTS=$fold \
  "$python" -m qa_eval.extractor_preds "$data/candidates.json.gz" "$data/preds-fold0.json.gz"
"$python" -m qa_eval.fit_reader "$data/candidates.json.gz" "$data/preds-fold0.json.gz" \
  --held-out "$fold/card.json" --rerank 6 --variants plain,confidence,both --write 6/plain \
  --weights "$data/weights.json"
