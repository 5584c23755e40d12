#!/usr/bin/env bash
# Transfer study (README.md here): train on generated lines only, one command, about an
# hour on 2 CPU cores, then read lines nobody here generated, beside Tesseract 5 --psm 7.
#   apt-get install tesseract-ocr fonts-freefont-ttf fonts-urw-base35 fonts-liberation \
#       libtcmalloc-minimal4
#   CALAMARI=/path/to/calamari bash experiments/transfer/eval_sets.sh   # once
#   bash experiments/transfer/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
# tcmalloc when installed: the same numbers, more steps in the hour (glibc's malloc hands the
# big activation buffers back to the kernel and page-faults them in again every step)
TCMALLOC=$(python -c "import ctypes.util; print(ctypes.util.find_library('tcmalloc_minimal') or '')")
LD_PRELOAD=${LD_PRELOAD:-$TCMALLOC} menu-train experiment=transfer trainer.enable_progress_bar=false "$@"
RUN=$(ls -td outputs/transfer/*/ | head -1)
# the character language model: the generator's prose and corpus text (about a minute)
LM=data/lm/transfer.json.gz
[ -f "$LM" ] || { mkdir -p data/lm && menu-data lm "$LM"; }
# its weight and bonus: chosen on the run's own generated validation lines (about 2 minutes)
VAL=$(python -c "import json, sys; print(json.load(open(sys.argv[1]))['data']['val'])" "$RUN/result.json")
python experiments/transfer/lm_weights.py "$RUN/checkpoints/best.ckpt" "$VAL" "$LM" \
    --best "$RUN/lm_choice.json"
read -r W B < <(python -c "import json, sys; d = json.load(open(sys.argv[1])); print(d['lm_weight'], d['lm_bonus'])" "$RUN/lm_choice.json")
for set in uw3 uw3_500 typography; do
    python scripts/bench.py --only tesseract --checkpoint "$RUN/checkpoints/best.ckpt" \
        --lm "$LM" --lm-weight "$W" --lm-bonus "$B" \
        --test "data/eval/$set/test-*.tar" --out "experiments/transfer/$set.json"
done
