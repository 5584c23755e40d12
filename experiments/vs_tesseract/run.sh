#!/usr/bin/env bash
# menu vs Tesseract 5 on printed lines with held-out fonts and text (see README.md here).
#   apt-get install tesseract-ocr fonts-freefont-ttf fonts-urw-base35 fonts-liberation
# 1. train the conv_bilstm preset with moment (word) normalization on synthetic lines only
#    (data=printed: train/val fonts DejaVu, FreeFont, URW base35; test fonts STIX and
#    Liberation; held-out corpus lines); about 70 minutes on 2 CPU cores
# 2. run both recognizers on that run's test split and score them the same way
set -euo pipefail
cd "$(dirname "$0")/../.."
menu-train experiment=conv_bilstm norm=word data=printed name=vs_tesseract \
    budget.max_epochs=3 budget.max_seconds=4500 trainer.enable_progress_bar=false "$@"
RUN=$(ls -td outputs/vs_tesseract/*/ | head -1)
TEST=$(python -c "import json,sys; print(json.load(open(sys.argv[1]))['data']['test'])" \
       "$RUN/result.json")
python scripts/bench.py --only tesseract --checkpoint "$RUN/checkpoints/best.ckpt" \
    --test "$TEST" --out experiments/vs_tesseract/tesseract.json
