#!/usr/bin/env bash
# Refit the reader's weights from the SQuAD files in eval/data and measure them out of fold, on
# the CPU (about 45 minutes on 2 cores; each step is skipped when its output exists):
#   1. qa_eval.reader_data: every question's candidate sentences with their features (3 indexes);
#   2. qa_eval.extractor_preds: the shipped span extractor's reading of every candidate;
#   3. qa_eval.fit_reader: the sentence choice, confidence and threshold measured out of fold on
#      the articles the extractor never trained on, beside the shipped weights
#      (eval/reports/reader-oof.json), then fitted on all of them and written to DIR/weights.json
#      with the out-of-fold figures and the inputs' SHA-256. It is not the shipped file: the refit
#      was measured and not shipped (eval/README.md); copy it over qa/data/reader/weights.json to use it.
# Usage: bash eval/fit_reader.sh [DIR]   (DIR: where the data goes, default eval/.cache/reader-fit)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/env.sh >/dev/null
python=.venv/bin/python
data=${1:-eval/.cache/reader-fit}
[ -s "$data/candidates.json.gz" ] || "$python" -m qa_eval.reader_data --out "$data"
[ -s "$data/preds-shipped.json.gz" ] || "$python" -m qa_eval.extractor_preds "$data/candidates.json.gz" "$data/preds-shipped.json.gz"
"$python" -m qa_eval.fit_reader "$data/candidates.json.gz" "$data/preds-shipped.json.gz" \
  --held-out qa/data/extractor/card.json --rerank 6 --variants plain,confidence,both --write 6/plain \
  --weights "$data/weights.json"
