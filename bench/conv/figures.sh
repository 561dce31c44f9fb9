#!/usr/bin/env bash
# Issue 12, item 8: convolutional autoencoders against the default dense one on Fashion-MNIST, 10
# epochs each (mse, adam, batch 256, the default recipe), on the cpu backend: parameters, test MSE
# per pixel and training samples/s from each run's summary, and a grid of 32 test images beside
# their reconstructions per model (bench/conv/*.png). Usage: bench/conv/figures.sh [build/ae] [OUT_DIR]
set -euo pipefail
AE=${1:-build/ae}
OUT=${2:-bench/conv}
D=/usr/share/datasets/fashion-mnist
mkdir -p "$OUT"
declare -A SPECS=(
  [dense]="784-256r-32-256r-784s"
  [conv64]="1x28x28-C16k3s2p1r-C32k3s2p1r-C64k7|-T32k7r-T16k3s2p1o1r-T1k3s2p1o1s"
  [conv_dense32]="1x28x28-C16k3s2p1r-C32k3s2p1r-32|-1568r-R32x7x7-T16k3s2p1o1r-T1k3s2p1o1s"
)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for name in dense conv64 conv_dense32; do
  model="$OUT/$name.safetensors"
  "$AE" train --spec "${SPECS[$name]}" --data "$D/train-images-idx3-ubyte.gz" --val "$D/t10k-images-idx3-ubyte.gz" \
    --epochs 10 --threads 2 --out "$model" --checkpoint none 2>&1 | grep -E "^ae: training|^trained|^reconstruction error" | sed "s/^/$name: /"
  "$AE" reconstruct --model "$model" --data "$D/t10k-images-idx3-ubyte.gz" --max-rows 32 --out "$OUT/$name.recon.npy" \
    --grid "$OUT/$name.png" > /dev/null
  rm -f "$OUT/$name.recon.npy"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
