#!/bin/sh
# Semantic hashing and compression on Fashion-MNIST: the figures in the README's "Semantic hashing
# and compression on Fashion-MNIST". Models trained for EPOCHS epochs on the 60k training images
# (ae train's defaults otherwise: mse, adam lr 1e-3, batch 256, seed 1, validation on the 10k test
# images):
#   code32    784-256r-32-256r-784s    (ae train's default spec)
#   code64    784-256r-64-256r-784s
#   sig32/64  the same with a sigmoid code layer (784-256r-32s-256r-784s), thresholded at 0.5
# then `ae retrieve` with database = the training images, queries = the test images, relevant = the
# same class, at 32 and 64 bits against random-hyperplane LSH on the raw pixels (--compare-lsh,
# seed 1), and `ae compress` of the test images with code32 as float32, 16-bit and 8-bit codes.
#
# Usage: sh bench/latent/hashing.sh [AE [OUT]]   (defaults: build/ae, /tmp/ae_hashing)
# Environment: THREADS (2), EPOCHS (10), TOP (100).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
AE=${1:-$here/../../build/ae}
OUT=${2:-/tmp/ae_hashing}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-10}
TOP=${TOP:-100}
DIR=/usr/share/datasets/fashion-mnist
TRAIN=$DIR/train-images-idx3-ubyte.gz TRAIN_LABELS=$DIR/train-labels-idx1-ubyte.gz
TEST=$DIR/t10k-images-idx3-ubyte.gz TEST_LABELS=$DIR/t10k-labels-idx1-ubyte.gz
AE=$(cd "$(dirname "$AE")" && pwd)/$(basename "$AE")  # the script works in OUT
mkdir -p "$OUT"
cd "$OUT"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $THREADS threads"
echo "ae: $AE ($("$AE" --version)); scripts at $(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo "?")"

for m in code32:784-256r-32-256r-784s code64:784-256r-64-256r-784s sig32:784-256r-32s-256r-784s sig64:784-256r-64s-256r-784s; do
  name=${m%%:*} spec=${m#*:}
  [ -f "$name.safetensors" ] || "$AE" train --spec "$spec" --epochs "$EPOCHS" --threads "$THREADS" --checkpoint none --quiet \
    --out "$name.safetensors" | grep -E 'reconstruction error|model written'
done

for name in code32 code64 sig32 sig64; do
  echo "== ae retrieve --model $name.safetensors (database: 60k training images, queries: 10k test images)"
  "$AE" retrieve --model "$name.safetensors" --database "$TRAIN" --query "$TEST" --database-labels "$TRAIN_LABELS" \
    --query-labels "$TEST_LABELS" --top "$TOP" --compare-lsh --seed 1 --threads "$THREADS" --quiet --out "$name-top.csv"
done
# Fewer bits than code units: the 32 units of code64 with the largest training variance.
echo "== ae retrieve --model code64.safetensors --bits 32"
"$AE" retrieve --model code64.safetensors --bits 32 --database "$TRAIN" --query "$TEST" --database-labels "$TRAIN_LABELS" \
  --query-labels "$TEST_LABELS" --top "$TOP" --threads "$THREADS" --quiet --out code64-32bits-top.csv

for q in "" 16 8; do
  echo "== ae compress --model code32.safetensors --data t10k ${q:+--quantize $q}"
  "$AE" compress --model code32.safetensors --data "$TEST" ${q:+--quantize $q} --threads "$THREADS" --quiet \
    --out "test${q:+-q$q}.aec"
  "$AE" decompress --model code32.safetensors --codes "test${q:+-q$q}.aec" --threads "$THREADS" --quiet --out "test${q:+-q$q}.npy"
done
