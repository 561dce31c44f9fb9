#!/usr/bin/env bash
# Installs the Debian packages ae needs to build, test and run its default job.
# Does nothing when they are all present; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libdnnl-dev                            # GEMMs of the cpu backend: oneDNN, chosen by measurement (bench/gemm)
  libboost-context-dev                   # fibers of runtime/sim
  nlohmann-json3-dev libcli11-dev zlib1g-dev
  libpng-dev                             # host/data/png.cpp: image grids as PNG (ae sample --grid, figures)
  gnuplot-nox                            # ae report: draws its plots (pngcairo terminal, run as a child process)
  fonts-dejavu-core                      # ae report: the font pngcairo and the page use; without a font, text draws as boxes
  chromium                               # tests/e2e/report_test.cpp renders ae report's page headless and checks the figures show
  libgtest-dev libgmock-dev
  dataset-fashion-mnist                  # ae's default data
  python3-venv                           # check.sh: Python's safetensors reads and writes ae's model files
  python3-dev pybind11-dev               # the Python module (host/python): pybind11 bindings over libae
  python3-numpy python3-sklearn python3-pytest python3-tqdm  # its tests (tests/python): arrays, Pipeline/GridSearchCV, pytest, progress bars
  clang-14 libclang-rt-14-dev            # fuzz/: libFuzzer targets of the parsers (libclang_rt.fuzzer), ASan+UBSan
)
packages+=(${AE_EXTRA_PACKAGES:-})

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "ae: installing missing Debian packages: ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
