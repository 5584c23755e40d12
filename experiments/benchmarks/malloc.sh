#!/usr/bin/env bash
# glibc's malloc against a preloaded tcmalloc, in alternating pairs of the transfer recipe
# (experiments/transfer) trained for 90 seconds each: steps, CPU time, page faults.
#   apt-get install libtcmalloc-minimal4
#   bash experiments/benchmarks/malloc.sh [PAIRS] [OUT]   # 3 pairs (about 16 minutes)
# Writes OUT/{glibc,tcmalloc}-N/ and experiments/benchmarks/malloc.json. Nothing else may run.
set -euo pipefail
cd "$(dirname "$0")/../.."
PAIRS=${1:-3}
OUT=${2:-/tmp/menu-malloc}
TCMALLOC=$(python -c "import ctypes.util; print(ctypes.util.find_library('tcmalloc_minimal') or '')")
[ -n "$TCMALLOC" ] || { echo "no tcmalloc: apt-get install libtcmalloc-minimal4" >&2; exit 2; }
for i in $(seq 1 "$PAIRS"); do
    for malloc in glibc tcmalloc; do
        dir=$OUT/$malloc-$i
        rm -rf "$dir"
        preload=; [ "$malloc" = tcmalloc ] && preload=$TCMALLOC
        LD_PRELOAD=$preload /usr/bin/time -v menu-train experiment=transfer budget.max_seconds=90 \
            budget.val_every_steps=100000 data.synth.n_test=100 trainer.enable_progress_bar=false \
            "hydra.run.dir=$dir" > "$dir.log" 2>&1
    done
done
python - "$OUT" "$PAIRS" <<'PY'
import json, re, statistics, sys
out, pairs = sys.argv[1], int(sys.argv[2])
def read(name):
    record = json.load(open(f"{out}/{name}/result.json"))
    log = open(f"{out}/{name}.log").read()
    field = lambda label: float(re.search(label + r".*: ([\d.]+)", log).group(1))
    return {"steps": record["steps"], "train_seconds": record["train_seconds"],
            "malloc": record["machine"].get("malloc"), "user_s": field("User time"),
            "system_s": field("System time"), "minor_page_faults": int(field("Minor"))}
runs = {f"{m}-{i}": read(f"{m}-{i}") for i in range(1, pairs + 1) for m in ("glibc", "tcmalloc")}
ratios = [runs[f"tcmalloc-{i}"]["steps"] / runs[f"glibc-{i}"]["steps"] for i in range(1, pairs + 1)]
summary = {"command": f"bash experiments/benchmarks/malloc.sh {pairs}", "runs": runs,
           "steps_ratio_tcmalloc_over_glibc": ratios, "median_ratio": statistics.median(ratios)}
json.dump(summary, open("experiments/benchmarks/malloc.json", "w"), indent=1)
print(json.dumps({k: summary[k] for k in ("steps_ratio_tcmalloc_over_glibc", "median_ratio")}))
PY
