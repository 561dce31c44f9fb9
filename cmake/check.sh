#!/usr/bin/env bash
# ae's whole test suite, from a bare machine: installs the Debian packages ae needs, builds
# (Release, Ninja, ccache), runs every GoogleTest case with CTest, then the runtime/sim tests
# again under AddressSanitizer+UBSan, then compiles the sim's test kernels with nvcc for
# sm_80/sm_90 (when nvcc is installed) and checks their ptxas reports for spills, and runs the
# libFuzzer targets of the parsers (fuzz/run.sh, AE_FUZZ_SECONDS each, default 30) with sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${AE_JOBS:-$(nproc)}

bash cmake/install-deps.sh
start=$SECONDS
summary=()
failed_total=0
passed_total=0
skipped_total=0

# ctest_run <label> <args...>: runs ctest, keeps its counts for the closing summary. A skipped
# test is counted apart, never as passed.
ctest_run() {
  local label=$1; shift
  local log; log=$(mktemp)
  set +e
  ctest "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  local line; line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1 || true)
  local skipped; skipped=$(grep -cE '^[[:space:]]+[0-9]+ - .* \(Skipped\)$' "$log" || true)
  rm -f "$log"
  if [[ -z "$line" ]]; then
    echo "ae: $label: ctest printed no summary (exit $rc)" >&2
    failed_total=$((failed_total + 1))
    summary+=("$label: no tests ran (exit $rc)")
    return
  fi
  local total failed
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  failed=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed_total=$((passed_total + total - failed - skipped))
  failed_total=$((failed_total + failed))
  skipped_total=$((skipped_total + skipped))
  if ((rc != 0 && failed == 0)); then failed_total=$((failed_total + 1)); fi
  local note=""
  if ((skipped > 0)); then note=", $skipped skipped"; fi
  summary+=("$label: $((total - failed - skipped)) passed, $failed failed$note")
}

echo "== build (Release) =="
cmake --preset default >/dev/null
cmake --build --preset default -j "$jobs"
echo "== tests =="
ctest_run "tests" --preset default -j "$jobs" --timeout 900

# DESIGN.md promises model files that Python's safetensors opens: check it both ways with the real
# package from PyPI, in a venv under build/ (tests/host/safetensors_interop.py).
echo "== model files and Python's safetensors =="
if /usr/bin/python3 -m venv build/pyenv && build/pyenv/bin/pip install -q --disable-pip-version-check safetensors numpy &&
   build/pyenv/bin/python tests/host/safetensors_interop.py build/tests/ae_tests_runtime; then
  summary+=("safetensors interop (Python): 1 passed, 0 failed"); passed_total=$((passed_total + 1))
else
  summary+=("safetensors interop (Python): 0 passed, 1 failed"); failed_total=$((failed_total + 1))
fi

# The Python module (host/python + python/ae, built into build/python by the default preset) under
# pytest with Debian's interpreter, numpy, scikit-learn and tqdm: tests/python.
echo "== Python module: pytest tests/python =="
if [[ -f build/python/ae/__init__.py ]]; then
  log=$(mktemp)
  set +e
  PYTHONPATH=$root/build/python AE_BIN=$root/build/ae /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^=*\s*[0-9]+ (passed|failed)' "$log" | tail -1 || true)
  [[ -n "$line" ]] || line=$(grep -E '[0-9]+ (passed|failed)' "$log" | tail -1 || true)
  rm -f "$log"
  py_passed=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  py_failed=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  py_errors=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  py_skipped=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)
  py_failed=$((py_failed + py_errors))
  if ((rc != 0 && py_failed == 0)); then py_failed=1; fi
  passed_total=$((passed_total + py_passed)); failed_total=$((failed_total + py_failed)); skipped_total=$((skipped_total + py_skipped))
  note=""; ((py_skipped == 0)) || note=", $py_skipped skipped"
  summary+=("Python module (pytest): $py_passed passed, $py_failed failed$note")
else
  summary+=("Python module: not built (pybind11 or Python headers missing), 0 passed, 1 failed"); failed_total=$((failed_total + 1))
fi

# The IDX, NPY, CSV, model-file, spec and .aec parsers under libFuzzer with ASan+UBSan, each for a fixed
# time from the committed corpus (which replays every input that once crashed them): fuzz/README.md.
fuzz_seconds=${AE_FUZZ_SECONDS:-30}
if command -v clang++-14 >/dev/null; then
  echo "== fuzz: 6 parsers × ${fuzz_seconds} s under libFuzzer, ASan+UBSan =="
  log=$(mktemp)
  set +e
  AE_JOBS=$jobs bash fuzz/run.sh "$fuzz_seconds" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  line=$(grep -E '^fuzz summary: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)
  rm -f "$log"
  if [[ -n "$line" ]]; then
    fz_passed=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
    fz_failed=$(sed -E 's/.*, ([0-9]+) failed.*/\1/' <<<"$line")
    passed_total=$((passed_total + fz_passed))
    failed_total=$((failed_total + fz_failed))
    summary+=("fuzz (${fuzz_seconds} s each): $fz_passed passed, $fz_failed failed")
  else
    summary+=("fuzz: did not run (exit $rc)"); failed_total=$((failed_total + 1))
  fi
else
  echo "ae: clang++-14 not installed: fuzz targets not run" >&2
  summary+=("fuzz: skipped (no clang++-14)")
fi

if [[ -f /usr/local/cuda/include/cuda_runtime.h && -f tests/runtime/sim/CMakeLists.txt ]]; then
  echo "== runtime/sim under ASan+UBSan =="
  cmake --preset sim-asan >/dev/null
  targets=(ae_tests_sim)
  [[ -f tests/kernels/cuda/CMakeLists.txt ]] && targets+=(ae_tests_cuda_sim)
  cmake --build --preset sim-asan -j "$jobs" --target "${targets[@]}"
  ctest_run "sim + cuda kernels (asan+ubsan)" --test-dir build-asan -L "^(sim|cuda-sim)$" \
    -j "$jobs" --output-on-failure --timeout 600
fi

if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  if [[ -x runtime/sim/nvcc-check.sh ]]; then
    echo "== nvcc sm_80/sm_90: sim test kernels and ae's CUDA kernels, ptxas report =="
    shopt -s nullglob
    if bash runtime/sim/nvcc-check.sh --out "$root/build/nvcc-check" tests/runtime/sim/kernels/*.cu kernels/cuda/*.cu; then
      summary+=("nvcc check: 1 passed, 0 failed"); passed_total=$((passed_total + 1))
    else
      summary+=("nvcc check: 0 passed, 1 failed"); failed_total=$((failed_total + 1))
    fi
  fi
  echo "== cuda backend with nvcc (AE_ENABLE_CUDA=ON, sm_80/sm_90): build, then its tests (GPU tests skip without a GPU) =="
  if cmake --preset cuda >/dev/null && cmake --build --preset cuda -j "$jobs" && build-cuda/ae plan --device cuda >/dev/null; then
    summary+=("nvcc cuda backend build: 1 passed, 0 failed"); passed_total=$((passed_total + 1))
    echo "== the CUDA kernel and backend tests against the nvcc kernels (a device test skips without a GPU) =="
    ctest_run "nvcc cuda tests" --test-dir build-cuda -j "$jobs" --output-on-failure --timeout 600
    no_gpu=$(grep -c "no CUDA device" build-cuda/Testing/Temporary/LastTest.log || true)
    ((no_gpu == 0)) || summary+=("  ($no_gpu of them skipped with \"no CUDA device\")")
  else
    summary+=("nvcc cuda backend build: 0 passed, 1 failed (its tests not run)"); failed_total=$((failed_total + 1))
  fi
else
  echo "ae: nvcc not installed: CUDA compile checks not run" >&2
fi
[[ -f /usr/local/cuda/include/cuda_runtime.h ]] || echo "ae: no CUDA headers: runtime/sim and the cuda-sim tests were not built" >&2

echo
echo "== summary ($((SECONDS - start)) s) =="
printf '  %s\n' "${summary[@]}"
echo "total: $passed_total passed, $failed_total failed, $skipped_total skipped"
((failed_total == 0))
