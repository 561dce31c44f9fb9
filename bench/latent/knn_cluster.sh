#!/usr/bin/env bash
# The README's kNN and k-means figures on Fashion-MNIST: two models trained with the README's
# command (code 16 and the default code 32, 10 epochs, seed 1), then `ae knn` (k = 7, the 10 000
# test images against the 60 000 training images) and `ae cluster` (k = 10 on the training images)
# on their codes and on the raw pixels. Run on an idle machine: the times are printed beside the
# figures. Usage: bash bench/latent/knn_cluster.sh [OUT_DIR]   (from the repository root, after a build)
set -euo pipefail
ae=${AE:-build/ae}
out=${1:-build/latent}
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
for code in 16 32; do
  model=$out/fashion-$code.safetensors
  [[ -f $model ]] || "$ae" train --spec "784-256r-${code}-256r-784s" --out "$model" --checkpoint none --quiet
done
"$ae" knn --model "$out/fashion-16.safetensors" --compare-raw --quiet
"$ae" knn --model "$out/fashion-32.safetensors" --quiet
"$ae" cluster --model "$out/fashion-16.safetensors" --compare-raw --quiet
"$ae" cluster --model "$out/fashion-32.safetensors" --quiet
