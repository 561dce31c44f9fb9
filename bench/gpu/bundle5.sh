#!/usr/bin/env bash
# Prepares .gpu/ for run5.sh (the tensor-core kernels, third version) as bundle4.sh does for run4.sh: ae_tests_cuda and
# ae_wmma_timing from the `cuda` preset (built here), the shared libraries the device image lacks
# (as bundle.sh) and run5.sh. DEST is the checkout the device tool sends: this one by default; from a
# git worktree, the checkout the session was started in (the tool sends that one, not the worktree).
# Then, with the device tool: `bash .gpu/run5.sh`, carrying `.gpu`.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=$(cd "${1:-$PWD}" && pwd)
cmake --preset cuda >/dev/null && cmake --build --preset cuda -j 2 --target ae_tests_cuda ae_wmma_timing
exclude=$(cd "$dest" && realpath "$(git rev-parse --git-path info/exclude)")
grep -qx '/.gpu/' "$exclude" || echo /.gpu/ >> "$exclude"
rm -rf "$dest/.gpu" && mkdir -p "$dest/.gpu/stage/bin" "$dest/.gpu/stage/lib"
cp build-cuda/tests/kernels/cuda/ae_tests_cuda build-cuda/tests/kernels/cuda/ae_wmma_timing "$dest/.gpu/stage/bin/"
strip "$dest"/.gpu/stage/bin/*
cp -L /usr/lib/x86_64-linux-gnu/libdnnl.so.2 /lib/x86_64-linux-gnu/libOpenCL.so.1 /lib/x86_64-linux-gnu/libpng16.so.16 "$dest/.gpu/stage/lib/"
tar -C "$dest/.gpu/stage" -cf - . | gzip -6 > "$dest/.gpu/bundle.tgz"
rm -rf "$dest/.gpu/stage"
cp bench/gpu/run5.sh "$dest/.gpu/"
du -sh "$dest/.gpu"   # the device tool carries at most 64 MiB with the working tree
