#!/usr/bin/env bash
# Compiles one kernels/cuda .cu with nvcc for the given architectures (the cuda backend's build
# step), keeps the ptxas report (registers, shared memory, spills per kernel) next to the object,
# prints a one-line summary per kernel and fails when any kernel spills to local memory.
#   nvcc-compile.sh NVCC SRC OBJ REPORT "80;90" [extra nvcc flags...]
set -euo pipefail
nvcc=$1 src=$2 obj=$3 report=$4 archs=$5
shift 5
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
gencode=()
for a in ${archs//;/ }; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); done
if ! "$nvcc" -std=c++20 -O3 -DNDEBUG "${gencode[@]}" -Xcompiler=-fPIC -I"$root" -I"$root/host/include" -Xptxas -v "$@" \
     -c "$src" -o "$obj" 2>"$report"; then
  cat "$report" >&2
  exit 1
fi
# ptxas prints "Compiling entry function '<mangled>' for 'sm_80'" then "N bytes spill stores, M bytes spill loads".
awk -v f="$(basename "$src")" '
  /Compiling entry function/ { fn = $0; sub(/.*function .?/, "", fn); sub(/.? for .*/, "", fn); arch = $NF }
  /spill stores/ { st = $(NF-7); ld = $(NF-3); if (st + 0 > 0 || ld + 0 > 0) { bad = 1; print "SPILL " f " " arch " " fn ": " $0 } }
  /Used [0-9]+ registers/ { n++ }
  END { printf "%s: %d kernel builds, %s\n", f, n, bad ? "SPILLS" : "no spills"; exit bad }' "$report"
