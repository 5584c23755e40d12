#!/usr/bin/env bash
# The CTC plateau with and without seq.shortcut (README.md here): the search's CPU-sized
# settings (sweep=search's data and model sizes), every convolution with reduce=sum and
# the plain LSTM (conv=none reduce=concat/max/sum) for 600 steps, and vgg for 3,000 steps,
# each with the shortcut off and on; one thread per run, two at a time. About 25 minutes
# on 2 cores. Then the table and the plot.
set -euo pipefail
cd "$(dirname "$0")/../.."
train() {
    menu-train -m hydra/launcher=joblib hydra.launcher.n_jobs=2 threads=1 data.batch_size=8 \
        data.synth.n_train=10000 data.synth.n_val=150 data.synth.n_test=300 \
        data.synth.min_chars=3 data.synth.max_chars=16 data.synth.degrade.font_size=20 \
        norm.height=32 seq.hidden=64 early_stopping.patience=null budget.max_epochs=1000 \
        trainer.enable_progress_bar=false seq=lstm seq.shortcut=false,true "$@"
}
train name=plateau budget.max_steps=600 budget.val_every_steps=100 \
    conv=vgg,resnet,fmp,unet reduce=sum
train name=plateau budget.max_steps=600 budget.val_every_steps=100 conv=none reduce=concat,max,sum
train name=plateau_long budget.max_steps=3000 budget.val_every_steps=300 conv=vgg reduce=sum
python experiments/search/plateau.py multirun/plateau multirun/plateau_long \
    --out experiments/search/plateau.png > experiments/search/plateau.md
