#!/bin/sh
# The 10-epoch VAE recipe of PyTorch's own example (examples/vae: 784-400-20-400-784, bce, adam lr
# 1e-3, batch 128, 10 epochs) run by ae and by vae_peer.py from the same ae init file, each with its
# own shuffling and ε, then scored on the 10k Fashion-MNIST test images: the negative ELBO (one z
# per row) and the importance-weighted bound with 100 samples, by each side on its own model and,
# crosswise, on the other's (so a gap can be told apart into training and scoring).
#
# Usage: sh bench/peers/vae_recipe.sh [AE [OUT]]   (defaults: build/ae, /tmp/ae_vae_recipe)
# Environment: THREADS (2), EPOCHS (10), MAX_ROWS (all 60000; a smaller figure for a quick try), PEER_BLAS: a directory holding the libblas.so.3 torch
# should load, put first on LD_LIBRARY_PATH [default: Debian's openblas-openmp when installed].
# Without libopenblas0-openmp torch runs on whatever libblas.so.3 points at (netlib's reference
# BLAS on some machines: about 40x slower GEMMs); the package can be unpacked without installing:
#   apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb /tmp/oblas
#   PEER_BLAS=/tmp/oblas/usr/lib/x86_64-linux-gnu/openblas-openmp sh bench/peers/vae_recipe.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
AE=${1:-$here/../../build/ae}
OUT=${2:-/tmp/ae_vae_recipe}
THREADS=${THREADS:-2}
EPOCHS=${EPOCHS:-10}
ROWS=${MAX_ROWS:+--max-rows $MAX_ROWS}
PY=/usr/bin/python3
TRAIN=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
TEST=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
SPEC=784-400r-20v-400r-784s
if [ -z "${PEER_BLAS:-}" ] && [ -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]; then
  PEER_BLAS=/usr/lib/x86_64-linux-gnu/openblas-openmp
fi
peer() { LD_LIBRARY_PATH="${PEER_BLAS:+$PEER_BLAS:}${LD_LIBRARY_PATH:-}" "$PY" "$here/vae_peer.py" "$@"; }
now() { date +%s.%N; }
mkdir -p "$OUT"
cd "$OUT"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), cpu family" \
  "$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model" \
  "$(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), $(nproc) cores;" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); $THREADS threads each side"
echo "ae: $AE ($("$AE" --version)); scripts at $(cd "$here" && git rev-parse --short HEAD 2>/dev/null || echo "?")"

"$AE" train --spec $SPEC --loss bce --seed 1 --steps 0 --no-val --quiet --out init.safetensors

t0=$(now)
"$AE" train --init init.safetensors --data "$TRAIN" --loss bce --optimizer adam --lr 1e-3 --batch 128 \
  --epochs "$EPOCHS" $ROWS --shuffle on --seed 1 --no-val --threads "$THREADS" --checkpoint none \
  --out ae.safetensors 2>&1 | tee ae-train.log
t1=$(now)
peer train --init init.safetensors --out peer.safetensors --data "$TRAIN" --loss bce --lr 1e-3 --batch 128 \
  --epochs "$EPOCHS" $ROWS --seed 1 --threads "$THREADS" 2>&1 | tee peer-train.log
t2=$(now)

# Scoring: ae's own files, then crosswise. ae draws its scoring ε from the model's seed (Philox), the
# peer from torch.Generator(seed 2).
for m in ae peer; do
  "$AE" score --model $m.safetensors --data "$TEST" --threads "$THREADS" --quiet --out ae-score-$m.csv
  "$AE" score --model $m.safetensors --data "$TEST" --iw 100 --threads "$THREADS" --quiet --out ae-iw-$m.csv
done
t3=$(now)
for m in ae peer; do
  peer score --model $m.safetensors --data "$TEST" --iw 100 --threads "$THREADS" > peer-score-$m.json
done
t4=$(now)

"$PY" - "$t0" "$t1" "$t2" "$t3" "$t4" <<EOF
import json, sys
t = [float(v) for v in sys.argv[1:]]
def mean(path):
    rows = [float(l.split(",")[1]) for l in open(path).read().split("\n")[1:] if l]
    return sum(rows) / len(rows)
ae = {m: (mean(f"ae-score-{m}.csv"), mean(f"ae-iw-{m}.csv")) for m in ("ae", "peer")}
pe = {m: json.load(open(f"peer-score-{m}.json")) for m in ("ae", "peer")}
pe = {m: (v["neg_elbo"], v["iw100"]) for m, v in pe.items()}
print()
print("test negative ELBO / IW-100 bound, nats per row, mean over the 10000 test images")
print(f"{'model trained by':<18} {'scored by ae':>24} {'scored by the peer':>24}")
for m in ("ae", "peer"):
    print(f"{m:<18} {ae[m][0]:11.4f} / {ae[m][1]:10.4f} {pe[m][0]:11.4f} / {pe[m][1]:10.4f}")
own_ae, own_peer = ae["ae"], pe["peer"]
print(f"each side on its own model: neg ELBO ae {own_ae[0]:.4f}, peer {own_peer[0]:.4f} "
      f"(ae/peer - 1 = {own_ae[0] / own_peer[0] - 1:+.3%}); IW-100 ae {own_ae[1]:.4f}, peer {own_peer[1]:.4f} "
      f"({own_ae[1] / own_peer[1] - 1:+.3%})")
print(f"wall: ae train {t[1] - t[0]:.1f} s, peer train {t[2] - t[1]:.1f} s; scoring both models "
      f"(ELBO + IW-100): ae {t[3] - t[2]:.1f} s, peer {t[4] - t[3]:.1f} s")
EOF
