#!/bin/sh
# The VAE figures of the README: PyTorch's VAE example recipe (784-400r-20v-400r-784s, bce, adam
# lr 1e-3, batch 128, 10 epochs) on Fashion-MNIST, its test negative ELBO and IW-100 bound, a grid
# of samples from the prior and a grid of test reconstructions (bench/vae/*.png), and the anomaly
# protocol of the README (train without class 9, score the test set) with the negative ELBO and
# the IW-100 bound beside the plain default model's reconstruction error.
# Usage: sh bench/vae/figures.sh [build/ae] [output dir]   (run from the repository root)
set -e
AE=${1:-build/ae}
OUT=${2:-bench/vae}
D=/usr/share/datasets/fashion-mnist
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
RECIPE="--spec 784-400r-20v-400r-784s --loss bce --optimizer adam --lr 1e-3 --batch 128 --epochs 10"
grep -m1 'model name' /proc/cpuinfo
echo "== the recipe: train, then the test negative ELBO and the IW-100 bound"
$AE train $RECIPE --out "$T/vae.st" --quiet
$AE score --model "$T/vae.st" --data $D/t10k-images-idx3-ubyte.gz --out "$T/elbo.csv" --quiet
$AE score --model "$T/vae.st" --data $D/t10k-images-idx3-ubyte.gz --iw 100 --out "$T/iw.csv" --quiet
echo "== pictures"
$AE sample --model "$T/vae.st" --n 64 --seed 1 --grid "$OUT/samples.png" --quiet
$AE reconstruct --model "$T/vae.st" --data $D/t10k-images-idx3-ubyte.gz --max-rows 32 --out "$T/rec.npy" \
    --grid "$OUT/reconstructions.png" --quiet
echo "== anomaly protocol: classes 0-8 for training, class 9 (ankle boots) as the anomaly"
$AE train $RECIPE --labels $D/train-labels-idx1-ubyte.gz --exclude-label 9 --out "$T/vae-no9.st" --quiet
$AE train --labels $D/train-labels-idx1-ubyte.gz --exclude-label 9 --out "$T/plain-no9.st" --quiet
for m in plain-no9 vae-no9; do
  echo "-- $m"
  $AE score --model "$T/$m.st" --data $D/t10k-images-idx3-ubyte.gz --labels $D/t10k-labels-idx1-ubyte.gz \
      --anomaly-label 9 --out "$T/s.csv" --quiet
done
echo "-- vae-no9 --iw 100"
$AE score --model "$T/vae-no9.st" --data $D/t10k-images-idx3-ubyte.gz --labels $D/t10k-labels-idx1-ubyte.gz \
    --anomaly-label 9 --iw 100 --out "$T/s.csv" --quiet
