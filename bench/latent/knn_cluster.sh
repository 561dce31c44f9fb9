#!/usr/bin/env bash
# The README's kNN and k-means figures on Fashion-MNIST: models trained with the README's command
# (code 16 and the default code 32; and DEC's layer widths, 784-500-500-2000-10, with code 10; 10
# epochs, seed 1), then `ae knn` (k = 7, the 10 000 test images against the 60 000 training images)
# and `ae cluster` (k = 10 on the 60 000 training images) on their codes and on the raw pixels. Run on an idle machine: the times are printed beside the
# figures. Usage: bash bench/latent/knn_cluster.sh [OUT_DIR]   (from the repository root, after a build)
set -euo pipefail
ae=${AE:-build/ae}
out=${1:-build/latent}
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
train() {  # name spec
  [[ -f $out/$1.safetensors ]] || "$ae" train --spec "$2" --out "$out/$1.safetensors" --checkpoint none --quiet
}
train fashion-16 784-256r-16-256r-784s
train fashion-32 784-256r-32-256r-784s
train fashion-dec10 784-500r-500r-2000r-10-2000r-500r-500r-784s
"$ae" knn --model "$out/fashion-16.safetensors" --compare-raw --quiet
"$ae" knn --model "$out/fashion-32.safetensors" --quiet
"$ae" cluster --model "$out/fashion-dec10.safetensors" --compare-raw --quiet
"$ae" cluster --model "$out/fashion-16.safetensors" --quiet
"$ae" cluster --model "$out/fashion-32.safetensors" --quiet
"$ae" cluster --model "$out/fashion-dec10.safetensors" --metric cosine --compare-raw --quiet
"$ae" cluster --model "$out/fashion-16.safetensors" --metric cosine --quiet
"$ae" cluster --model "$out/fashion-32.safetensors" --metric cosine --quiet
