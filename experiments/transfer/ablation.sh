#!/usr/bin/env bash
# Which generator features matter (README.md here): the transfer recipe with one feature
# group off at a time (conf/ablate/*.yaml: vocabulary, skew, scanner binarization, sizes
# and strokes) and all of them off (printed), at a short budget: 1,500 steps (STEPS=...) on
# 12,000 generated lines, one thread per run, two runs at a time (float32 on a 2-core AVX2
# CPU: about 32 minutes per arm, 2 hours for the 7; add trainer.precision=32-true there).
# The test split of every run is the real-scan set uw3_500 (scored once at the end, never
# used to choose a checkpoint: the best checkpoint is chosen on generated validation
# lines), so menu-table's CIs are over those 500 lines; the typography set is read by
# menu-eval afterwards. Needs data/eval from eval_sets.sh. The arms change data=transfer
# (every degradation on), named here: the recipe itself trains on data=pages since run 7.
#   bash experiments/transfer/ablation.sh [trainer.precision=32-true]
set -euo pipefail
cd "$(dirname "$0")/../.."
SWEEP=multirun/transfer_ablation
# every option of conf/ablate, listed: glob(*) does not see a group added by hydra.searchpath
ARMS=$(cd experiments/transfer/conf/ablate && ls *.yaml | sed 's/\.yaml$//' | paste -sd,)
menu-train -m experiment=transfer data=transfer name=transfer_ablation \
    'hydra.searchpath=[file://experiments/transfer/conf]' "+ablate=$ARMS" \
    budget.max_steps="${STEPS:-1500}" budget.val_every_steps=500 threads=1 \
    data.synth.n_train=12000 data.synth.n_test=10 \
    hydra/launcher=joblib hydra.launcher.n_jobs=2 \
    data.test=data/eval/uw3_500/test-000000.tar trainer.enable_progress_bar=false "$@"
menu-table "$SWEEP" --rows ablate --out experiments/transfer/ablation
for run in "$SWEEP"/*/; do
    menu-eval "$run/checkpoints/best.ckpt" data/eval/typography/test-000000.tar \
        --config-dir experiments/transfer/conf --lines "$run/typography_lines.csv" \
        > "$run/typography.json"
done
python experiments/transfer/summary.py "$SWEEP" > experiments/transfer/ablation/both_sets.md
