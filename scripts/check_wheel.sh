#!/usr/bin/env bash
# An installed menu works anywhere: build the wheel, install it into a fresh virtual
# environment (no source tree on the path), then from an empty temporary folder train 5 steps,
# and train a user's own reduction (their package + config folder) through MENU_CONFIG_PATH
# and through Hydra's search path; a 2-configuration successive-halving search. Run by CI (.ci/run); about 2 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python -m pip wheel --quiet --no-deps --wheel-dir "$tmp/dist" "$root"
python -m venv "$tmp/venv"
venv="$tmp/venv/bin"
"$venv/pip" install --quiet torch==2.13.0
"$venv/pip" install --quiet "$tmp"/dist/menu_ocr-*.whl
work="$tmp/work"
mkdir -p "$work"
cd "$work"
small=(data.synth.n_train=64 data.synth.n_val=8 data.synth.n_test=8 data.synth.progress=false
       trainer.enable_progress_bar=false)
tiny=("${small[@]}" budget.max_steps=5)
"$venv/menu-train" "${tiny[@]}" hydra.run.dir=run
grep -q '"status": "ok"' run/result.json
cp -r "$root/tests/fixtures/user_option/." "$work/"  # mypkg/ (a reduction) + my_conf/
PYTHONPATH="$work" "$venv/menu-train" "${tiny[@]}" reduce=mean \
    "hydra.searchpath=[file://$work/my_conf]" hydra.run.dir=searchpath
PYTHONPATH="$work" MENU_CONFIG_PATH="$work/my_conf" "$venv/menu-train" "${tiny[@]}" \
    reduce=mean hydra.run.dir=envvar
for run in searchpath envvar; do
    grep -q '"reduce": "mean"' "$run/result.json" && grep -q '"status": "ok"' "$run/result.json"
done
PYTHONPATH="$work" "$venv/menu-eval" envvar/checkpoints/best.ckpt --config-dir my_conf \
    "$(ls -d "$work"/data/synth-*/ | head -1)test-000000.tar" > eval.json
grep -q '"n": 8' eval.json
# the successive-halving sweeper ships as a Hydra plugin: 2 configurations, rungs of 2 and 4 steps
"$venv/menu-train" -m "${small[@]}" hydra/sweeper=halving hydra.sweeper.min_budget=2 \
    hydra.sweeper.max_budget=4 hydra.sweeper.eta=2 reduce=sum,max hydra.sweep.dir=search
grep -q '"rungs": \[' search/search.json
echo "wheel check: ok (installed menu-ocr trains from $work; a user option trains and loads)"
