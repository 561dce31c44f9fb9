#!/usr/bin/env sh
# The README's `ae report` example: trains the default model (ae train's defaults: 784-256r-32-256r-784s
# on Fashion-MNIST's 60 000 training images, 10 epochs) unless DIR already holds it, writes the report on
# the 10 000 test images with their labels, and renders the page with headless Chromium into
# bench/report/report.png (the README's screenshot), re-encoded with 256 colours by palette.py to
# stay small.
#   sh bench/report/figures.sh [AE_BINARY] [DIR]      (defaults: build/ae, /tmp/ae-report-bench)
set -eu
AE=${1:-build/ae}
DIR=${2:-/tmp/ae-report-bench}
HERE=$(cd "$(dirname "$0")" && pwd)
AE=$(cd "$(dirname "$AE")" && pwd)/$(basename "$AE")
D=/usr/share/datasets/fashion-mnist
mkdir -p "$DIR"
cd "$DIR"  # relative names, so the page's title and header read as the README's command
if [ ! -f fm.safetensors ]; then
  "$AE" train --out fm.safetensors --checkpoint none
fi
"$AE" report --model fm.safetensors --data $D/t10k-images-idx3-ubyte.gz \
             --labels $D/t10k-labels-idx1-ubyte.gz --out report
# The window holds the whole page (Chromium's screenshot is the window, not the page).
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$(pwd)/chromium-profile" \
         --window-size=1320,2000 --screenshot=report.png "file://$(pwd)/report/index.html" \
         >chromium.log 2>&1
python3 "$HERE/palette.py" report.png "$HERE/report.png"
ls -l "$HERE/report.png"
