#!/bin/sh
# How near an adversarial autoencoder's codes come to its prior, against a plain autoencoder's: on
# Fashion-MNIST (ae train's default data; validation and codes on the 10k test images), one recipe for
# all (mse, adam lr 1e-3, batch 256, 10 epochs, shuffle on), for each seed of SEEDS:
#   plain          784-256r-8-256r-784s
#   aae-gaussian   784-256r-8-256r-784s:adversarial=8-64r-64r-1 (gaussian prior, every phase at lr 1e-3)
#   aae-uniform    the same with --prior uniform
# then `ae encode` of the test images and bench/aae/codes.py's figures of the codes against N(0, I)
# and U(-1, 1), with ae's own prior draws as the noise floor, the test reconstruction MSE from ae
# train's report, and `ae sample --grid` of each AAE (seed 1) into PNG_DIR.
#
# Usage: sh bench/aae/figures.sh [AE [OUT]]   (defaults: build/ae, /tmp/ae_aae_figures)
# Environment: THREADS (2), EPOCHS (10), SEEDS ("1 2 3"), PNG_DIR (OUT; bench/aae for the committed grids).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
AE=${1:-$here/../../build/ae}
OUT=${2:-/tmp/ae_aae_figures}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-10}
SEEDS=${SEEDS:-1 2 3}
PNG_DIR=${PNG_DIR:-$OUT}
PY=/usr/bin/python3
TEST=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
LAYERS=784-256r-8-256r-784s
D=8-64r-64r-1
mkdir -p "$OUT" "$PNG_DIR"
PNG_DIR=$(cd "$PNG_DIR" && pwd)
cd "$OUT"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), cpu family" \
  "$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model" \
  "$(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $THREADS threads"
echo "ae: $AE ($("$AE" --version)); scripts at $(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo "?")"
echo "recipe: mse, adam lr 1e-3 (every phase), batch 256, $EPOCHS epochs, shuffle on; seeds $SEEDS"

train() {  # NAME SEED ARGS...: train, keep the log, encode the test images
  name=$1 seed=$2
  shift 2
  "$AE" train --spec $LAYERS "$@" --loss mse --optimizer adam --lr 1e-3 --batch 256 --epochs "$EPOCHS" --seed "$seed" \
    --threads "$THREADS" --checkpoint none --out "$name-$seed.safetensors" > "$name-$seed.log" 2>&1
  "$AE" encode --model "$name-$seed.safetensors" --data "$TEST" --threads "$THREADS" --quiet --out "$name-$seed.npy"
}
for seed in $SEEDS; do
  train plain "$seed"
  train aae-gaussian "$seed" --adversarial $D
  train aae-uniform "$seed" --adversarial $D --prior uniform
done

echo
echo "test reconstruction MSE per pixel (ae train's report on the 10k test images, after the last epoch)"
printf '%-14s' model
for seed in $SEEDS; do printf ' %9s' "seed $seed"; done
echo
for name in plain aae-gaussian aae-uniform; do
  printf '%-14s' $name
  for seed in $SEEDS; do
    printf ' %9s' "$(sed -n 's/^reconstruction error on .*: \([0-9.]*\) mean squared error per pixel$/\1/p' "$name-$seed.log")"
  done
  echo
done

echo
gaussian="" uniform=""
for seed in $SEEDS; do
  gaussian="$gaussian aae-s$seed=aae-gaussian-$seed.npy plain-s$seed=plain-$seed.npy"
  uniform="$uniform aae-uniform-s$seed=aae-uniform-$seed.npy plain-s$seed=plain-$seed.npy"
done
"$PY" "$here/codes.py" --prior gaussian --prior-rows 10000 --json codes-gaussian.json $gaussian
echo
"$PY" "$here/codes.py" --prior uniform --prior-rows 10000 --json codes-uniform.json $uniform

first=$(echo $SEEDS | cut -d' ' -f1)
for p in gaussian uniform; do
  "$AE" sample --model "aae-$p-$first.safetensors" --n 64 --seed 1 --grid "$PNG_DIR/aae-$p-samples.png" --quiet \
    --out "aae-$p-samples.npy"
done
echo
echo "ae sample grids (64 prior draws, seed 1, of each AAE of seed $first): $PNG_DIR/aae-gaussian-samples.png," \
  "$PNG_DIR/aae-uniform-samples.png"
