#!/usr/bin/env bash
# The evaluation lines of the transfer study, never used for training or model selection.
# Nothing here is committed: the images belong to their publishers (see README.md).
#   uw3:   70 binarized text lines scanned from technical documents (the UW-III database),
#          as shipped in Calamari's test data (calamari_ocr/test/data/uw3_50lines, train
#          and test folders together); Calamari is GPL-3.0, the scans University of
#          Washington's. Needs a clone: git clone https://github.com/Calamari-OCR/calamari
#   usage: CALAMARI=/path/to/calamari bash experiments/transfer/eval_sets.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
CALAMARI=${CALAMARI:?set CALAMARI to a clone of https://github.com/Calamari-OCR/calamari}
src="$CALAMARI/calamari_ocr/test/data/uw3_50lines"
lines=data/eval/uw3-lines
rm -rf "$lines" data/eval/uw3 && mkdir -p "$lines"
for part in test train; do  # the two folders hold different lines under the same names
    for f in "$src/$part"/*.bin.png "$src/$part"/*.gt.txt; do
        cp "$f" "$lines/${part}_$(basename "$f")"
    done
done
menu-data convert "$lines" data/eval/uw3 --prefix test --no-shuffle
