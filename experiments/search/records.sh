#!/usr/bin/env bash
# The search's records across machines that do not keep multirun/ between sittings.
#   bash experiments/search/records.sh save      # multirun/search -> records.tar.gz here (commit it)
#   bash experiments/search/records.sh restore   # records.tar.gz -> multirun/search, before the
#                                                # search command; files already there are kept
#   bash experiments/search/records.sh save presets   # multirun/presets -> records-presets.tar.gz
#                                                      # (any multirun/NAME: records-NAME.tar.gz)
# Saved: search.json, multirun.yaml and every run's result.json, .hydra/overrides.yaml and
# test_lines.csv; not the checkpoints (MBs each). With the records back, the same command
# retrains nothing that finished its rung; a promoted run whose last.ckpt is gone trains
# from step 0 to its next rung instead, which gives the same run bit for bit (the schedule
# spans the final budget from the start and every run is exactly resumable), at the cost of
# its earlier steps again.
set -euo pipefail
cd "$(dirname "$0")/../.."
sweep=${2:-search}
case "$sweep" in
search) archive=experiments/search/records.tar.gz ;;
*[!A-Za-z0-9_-]*) echo "usage: $0 save|restore [SWEEP (default search)]" >&2; exit 2 ;;
*) archive=experiments/search/records-$sweep.tar.gz ;;
esac
case "${1:-}" in
save)
    cd "multirun/$sweep"
    find . \( -name result.json -o -name overrides.yaml -o -name test_lines.csv \
        -o -path ./search.json -o -path ./multirun.yaml \) -print0 | sort -z |
        tar --null -T - --mtime=@0 --owner=0 --group=0 -cf - | gzip -n -9 > "../../$archive"
    echo "$archive: $(tar tzf "../../$archive" | grep -c result.json) run records"
    ;;
restore)
    [ -f "$archive" ] || { echo "no $archive yet: nothing to restore"; exit 0; }
    mkdir -p "multirun/$sweep"
    tar xzf "$archive" -C "multirun/$sweep" --skip-old-files
    echo "multirun/$sweep: $(find "multirun/$sweep" -name result.json | wc -l) run records"
    ;;
*)
    echo "usage: $0 save|restore [SWEEP (default search)]" >&2
    exit 2
    ;;
esac
