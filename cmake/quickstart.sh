#!/usr/bin/env bash
# ae's main job, from a bare machine: installs what is missing, builds the `ae` command, trains
# the default autoencoder (784-256r-32-256r-784s) on Fashion-MNIST, reports the test-set
# reconstruction error per pixel and where the model was written. Extra arguments go to `ae train`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash cmake/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target ae_cli -j "${AE_JOBS:-$(nproc)}" >/dev/null
exec ./build/ae train --out "${AE_MODEL:-ae-model.safetensors}" "$@"
