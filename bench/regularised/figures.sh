#!/bin/sh
# The Fashion-MNIST figures of the README's "Regularised autoencoders" section (issue 10, item 7):
# a denoising model against the plain one on a corrupted test set, KL-sparse codes at several β,
# and a contractive model's Jacobian norm against the plain model's. Every model is trained by
# `ae train` (default data: Fashion-MNIST train, 10 epochs, validation on the test set); the
# sparsity and Jacobian figures come from analyse.py (numpy) reading ae's own output files.
#   sh bench/regularised/figures.sh [AE] [WORKDIR]      (about 40 min on 2 cores; the contractive
#                                                         model is most of it)
set -eu
AE=${1:-build/ae}
W=${2:-build/regularised}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
D=/usr/share/datasets/fashion-mnist
T="--threads 2 --quiet"
mkdir -p "$W"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"

train() {  # OUT FLAGS...
  out=$1; shift
  [ -f "$W/$out.safetensors" ] || "$AE" train $T --epochs 10 --checkpoint none --out "$W/$out.safetensors" "$@" > "$W/$out.log" 2>&1
  printf '%-24s %s\n' "$out" "$(grep -m1 'reconstruction error on' "$W/$out.log" | sed 's/.*: //')"
}

echo "== denoising: mask 0.5, 10 epochs, against the plain default model on the corrupted test set"
train plain
train dae --noise mask:0.5
"$AE" corrupt --data $D/t10k-images-idx3-ubyte.gz --noise mask:0.5 --seed 7 --out "$W/noisy.npy"
for m in plain dae; do
  echo "-- $m"
  "$AE" reconstruct $T --model "$W/$m.safetensors" --data "$W/noisy.npy" --reference $D/t10k-images-idx3-ubyte.gz \
    --out "$W/$m-denoised.npy" | tail -2
done

echo "== KL sparsity: 784-256r-64s-256r-784s, rho 0.05, beta 0 (none) / 3 / 0.3 / 0.03 / 0.001 / 0.0001"
for b in 0 3 0.3 0.03 0.001 0.0001; do
  if [ "$b" = 0 ]; then train kl-0 --spec 784-256r-64s-256r-784s; else train "kl-$b" --spec 784-256r-64s-256r-784s --sparsity "kl:0.05:$b"; fi
  "$AE" encode $T --model "$W/kl-$b.safetensors" --data $D/t10k-images-idx3-ubyte.gz --out "$W/kl-$b-codes.npy"
  $PY "$HERE/analyse.py" codes "$W/kl-$b-codes.npy" --rows 8
done

echo "== contractive: the default spec with --contractive 1e-4, against the plain model"
train cae --contractive 1e-4
for m in plain cae; do $PY "$HERE/analyse.py" jacobian "$W/$m.safetensors"; done
