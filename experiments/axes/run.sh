#!/usr/bin/env bash
# Study "axes": one axis at a time around the conv_bilstm preset, every option of every
# axis, 3 seeds, 3,000 training steps per run, 2 runs in parallel (1 thread each).
# About 80 minutes on 2 cores. Run from the repository root:  bash experiments/axes/run.sh
# A rerun skips the runs that finished; the table is rebuilt from every result.json.
set -euo pipefail
train() { menu-train experiment=conv_bilstm sweep=axes hydra.sweep.dir=multirun/axes seed=1,2,3 "$@"; }
train                                  # the centre: height / vgg / none / sum / lstm
train norm=word,line,center
train norm=none norm.height=null       # no cap: the sweep's 32 px would rescale every line
train conv=none,resnet,fmp,unet
train scale=interp,transposed
train reduce=max,concat,lstm
train seq=none
menu-table multirun/axes --out experiments/axes/table --quiet
