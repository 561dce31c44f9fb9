#!/usr/bin/env bash
# Compiles the runtime/sim test kernels (or the .cu files given) with nvcc for sm_80 and sm_90,
# compile only, keeps each ptxas report (-Xptxas -v) under OUT_DIR, prints registers, stack and
# spills per kernel and exits non-zero if any kernel spills to local memory or a compile fails.
#   runtime/sim/nvcc-check.sh [--out OUT_DIR] [file.cu ...]
# Environment: NVCC (default: nvcc on PATH, else /usr/local/cuda/bin/nvcc), AE_NVCC_ARCHS ("80 90"),
# AE_NVCC_JOBS (2). ccache is used when installed (it replays the ptxas report on a hit).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out="$root/build-nvcc-check"
if [[ "${1:-}" == "--out" ]]; then out=$2; shift 2; fi
files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=("$root"/tests/runtime/sim/kernels/*.cu)
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[[ -x "$nvcc" ]] || { echo "nvcc-check: nvcc not found (set NVCC)" >&2; exit 2; }
archs=${AE_NVCC_ARCHS:-80 90}
gencode=()
for a in $archs; do gencode+=(-gencode "arch=compute_$a,code=sm_$a"); done
launcher=()
command -v ccache >/dev/null && launcher=(ccache)
mkdir -p "$out"

compile() {  # one .cu, every arch in one nvcc run
  local f=$1 name
  name=$(basename "$f" .cu)
  if ! "${launcher[@]}" "$nvcc" -std=c++20 -O3 "${gencode[@]}" -I"$root" -I"$root/host/include" -Xptxas -v \
       -c "$f" -o "$out/$name.o" 2>"$out/$name.ptxas.txt"; then
    echo "nvcc-check: $f failed to compile:" >&2
    cat "$out/$name.ptxas.txt" >&2
    return 1
  fi
}
export -f compile
export nvcc out root
export -a launcher gencode 2>/dev/null || true
status=0
pids=()
jobs_max=${AE_NVCC_JOBS:-2}
for f in "${files[@]}"; do
  compile "$f" &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs_max ]]; then wait "${pids[0]}" || status=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[[ $status -eq 0 ]] || exit 1

# ptxas prints, per kernel and arch: "Compiling entry function 'X' for 'sm_NN'", then
# "N bytes stack frame, N bytes spill stores, N bytes spill loads" and "Used N registers".
python3 - "$out" "${files[@]}" <<'PY'
import re, subprocess, sys
out, files = sys.argv[1], sys.argv[2:]
rows = set()
for f in files:
    name = f.rsplit('/', 1)[-1][:-3]
    fn = arch = None
    stack = st = ld = 0
    for line in open(f"{out}/{name}.ptxas.txt"):
        m = re.search(r"Compiling entry function '([^']+)' for '(sm_\w+)'", line)
        if m: fn, arch = m.groups()
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m: stack, st, ld = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m and fn:
            rows.add((arch, int(m.group(1)), stack, st, ld, fn)); fn = None
names = subprocess.run(["c++filt"], input="\n".join(r[5] for r in sorted(rows)), capture_output=True, text=True).stdout.split("\n")
lines = ["%-6s %5s %6s %8s %8s  %s" % ("arch", "regs", "stack", "spill_st", "spill_ld", "kernel")]
spilled = 0
for r, n in zip(sorted(rows), names):
    lines.append("%-6s %5d %6d %8d %8d  %s" % (r[0], r[1], r[2], r[3], r[4], n[:100]))
    spilled += (r[3] + r[4]) > 0
open(f"{out}/summary.txt", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
print(f"nvcc-check: {len(rows)} kernel builds, reports in {out}, {spilled} with local-memory spills")
sys.exit(1 if spilled or not rows else 0)
PY
