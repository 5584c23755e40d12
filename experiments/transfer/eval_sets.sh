#!/usr/bin/env bash
# The evaluation lines of the transfer study, never used for training or model selection.
# Nothing here is committed: the images belong to their publishers (see README.md).
#   uw3:   70 binarized text lines scanned from technical documents (the UW-III database),
#          as shipped in Calamari's test data (calamari_ocr/test/data/uw3_50lines, train
#          and test folders together); Calamari is GPL-3.0, the scans University of
#          Washington's. Needs a clone: git clone https://github.com/Calamari-OCR/calamari
#   typography: 400 lines rendered by Pango (not menu's generator) in 12 font families no
#          menu config trains on, regular/bold/italic, 22-40 px, rotated up to 2 degrees,
#          text from Debian's licence texts (typography.py here).
#   usage: CALAMARI=/path/to/calamari bash experiments/transfer/eval_sets.sh
#   apt-get install pango1.0-tools fonts-liberation fonts-linuxlibertine fonts-ebgaramond \
#       fonts-crosextra-carlito fonts-crosextra-caladea fonts-cantarell fonts-lato fonts-open-sans
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
rm -rf data/eval/typography-lines data/eval/typography
python experiments/transfer/typography.py data/eval/typography-lines -n 400
menu-data convert data/eval/typography-lines data/eval/typography --prefix test --no-shuffle
