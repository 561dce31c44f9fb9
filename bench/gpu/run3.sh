#!/usr/bin/env bash
# Third GPU run (bench/gpu/bundle.sh stages .gpu/; copy this there): ae bench on the GPU at larger batches (occupancy: batch 256 gives the first GEMM 16 blocks).
set -u
B=$PWD/.gpu; G=/tmp/g
mkdir -p $G && tar -C $G -xzf $B/bundle.tgz
export LD_LIBRARY_PATH=$G/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
cd $G/bin
for b in 1024 4096; do
  timeout 60 ./ae bench --device cuda --batch $b --json > $OUT/bench_cuda_b$b.json 2>/dev/null; echo "cuda batch $b rc $?"
  timeout 60 ./ae bench --device cpu --batch $b --json > $OUT/bench_cpu_b$b.json 2>/dev/null; echo "cpu batch $b rc $?"
done
python3 - <<'PY'
import json, os
o = os.environ["OUT"]
for b in (1024, 4096):
    c = json.load(open(f"{o}/bench_cuda_b{b}.json")); p = json.load(open(f"{o}/bench_cpu_b{b}.json"))
    print(b, "cuda train", round(c["train_samples_per_s"]), "gpu-events", round(c["gpu_train_samples_per_s"]), "encode", round(c["encode_samples_per_s"]),
          "| cpu train", round(p["train_samples_per_s"]), "encode", round(p["encode_samples_per_s"]))
    print("  gemms:", [(g["M"], g["N"], g["K"], round(g["ae_ms"]*1e3, 1), round(g["cublaslt_ms"]*1e3, 1)) for g in c["cublaslt"]])
PY
