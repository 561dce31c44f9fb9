#!/usr/bin/env bash
# Prepares .gpu/ (ignored by git) for a run on a lent GPU machine, which reaches no package registry:
# the nvcc build's `ae` and CUDA test binaries (preset `cuda`, built here), the shared libraries the
# device image lacks (oneDNN, its OpenCL loader, libpng) and Fashion-MNIST, plus run1.sh/run2.sh.
# Then, with the device tool: run `bash .gpu/run1.sh` (or run2.sh) carrying `.gpu`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset cuda >/dev/null && cmake --build --preset cuda -j "$(nproc)"
grep -qx '/.gpu/' .git/info/exclude || echo /.gpu/ >> .git/info/exclude
rm -rf .gpu && mkdir -p .gpu/stage/bin .gpu/stage/lib .gpu/data
cp build-cuda/ae build-cuda/tests/kernels/cuda/ae_tests_cuda build-cuda/tests/runtime/cuda/ae_tests_runtime_cuda .gpu/stage/bin/
strip .gpu/stage/bin/*
cp -L /usr/lib/x86_64-linux-gnu/libdnnl.so.2 /lib/x86_64-linux-gnu/libOpenCL.so.1 /lib/x86_64-linux-gnu/libpng16.so.16 .gpu/stage/lib/
tar -C .gpu/stage -cf - . | gzip -6 > .gpu/bundle.tgz
rm -rf .gpu/stage
cp /usr/share/datasets/fashion-mnist/*.gz .gpu/data/
cp bench/gpu/run1.sh bench/gpu/run2.sh bench/gpu/run3.sh .gpu/
du -sh .gpu   # the device tool carries at most 64 MiB with the working tree
