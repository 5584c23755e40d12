#!/usr/bin/env bash
# The evaluation lines of the transfer study, never used for training or model selection.
# Nothing here is committed: the images belong to their publishers (see README.md).
#   uw3:   70 binarized text lines scanned from technical documents (the UW-III database),
#          as shipped in Calamari's test data (calamari_ocr/test/data/uw3_50lines, train
#          and test folders together); Calamari is GPL-3.0, the scans University of
#          Washington's. Needs a clone: git clone https://github.com/Calamari-OCR/calamari
#   uw3_500: 500 more lines of the same database, as shipped in ocropy's test data
#          (tests/uw3-500.tgz of ocropus-archive/DUP-ocropy, Apache-2.0; 2 lines also in
#          uw3). Needs a clone: git clone https://github.com/ocropus-archive/DUP-ocropy
#   typography: 400 lines rendered by Pango (not menu's generator) in 12 font families no
#          menu config trains on, regular/bold/italic, 22-40 px, rotated up to 2 degrees,
#          text from Debian's licence texts (typography.py here).
#   usage: CALAMARI=/path/to/calamari OCROPY=/path/to/ocropy bash experiments/transfer/eval_sets.sh
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
OCROPY=${OCROPY:?set OCROPY to a clone of https://github.com/ocropus-archive/DUP-ocropy}
lines=data/eval/uw3_500-lines
rm -rf "$lines" data/eval/uw3_500 && mkdir -p "$lines"
tar -xzf "$OCROPY/tests/uw3-500.tgz" -C "$lines"  # book/PAGE/LINE.bin.png + .gt.txt
menu-data convert "$lines" data/eval/uw3_500 --prefix test --no-shuffle
rm -rf data/eval/typography-lines data/eval/typography
python experiments/transfer/typography.py data/eval/typography-lines -n 400
menu-data convert data/eval/typography-lines data/eval/typography --prefix test --no-shuffle
