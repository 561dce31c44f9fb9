#!/usr/bin/env bash
# Builds ae's libFuzzer targets (preset `fuzz`: clang-14, ASan+UBSan) and runs each for SECONDS
# (default 30), starting from the committed seed corpus fuzz/corpus/<target>/ (so every input that
# ever crashed a reader is replayed first). New inputs go to build-fuzz/corpus/<target>/, findings
# (crash-*, leak-*, timeout-*, oom-*) to build-fuzz/findings/<target>/.
#   bash fuzz/run.sh [SECONDS] [TARGET...]     targets: idx npy csv model spec aec (default: all)
# Ends with "fuzz summary: P passed, F failed" and fails when any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(idx npy csv model spec aec)

if ! command -v clang++-14 >/dev/null; then
  echo "ae: clang++-14 is not installed (Debian: clang-14 libclang-rt-14-dev): fuzz targets not run" >&2
  exit 2
fi
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${AE_JOBS:-$(nproc)}" --target "${targets[@]/#/ae_fuzz_}"

passed=0
failed=0
report=()
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t findings=build-fuzz/findings/$t log=build-fuzz/fuzz-$t.log
  mkdir -p "$work" "$findings"
  start=build-fuzz/fuzz-$t.start
  touch "$start"
  echo "== fuzz $t: $seconds s =="
  set +e
  # -timeout: one input running 10 s is a hang; -rss_limit_mb: no reader may need 2 GiB for a
  # small input; -max_len: model seeds are ~2.7 KB, room to grow their JSON header.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
    build-fuzz/fuzz/ae_fuzz_"$t" "$work" fuzz/corpus/"$t" -dict=fuzz/dict/"$t".dict \
    -max_total_time="$seconds" -seed="${AE_FUZZ_SEED:-1}" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$findings"/ -print_final_stats=1 -print_funcs=0 >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  time_s=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE '[0-9]+ second' | grep -oE '[0-9]+' || echo "$seconds")
  found=$(find "$findings" -type f -newer "$start" | wc -l)  # this run's, not an earlier run's left there
  if ((rc == 0 && found == 0)); then
    passed=$((passed + 1))
    report+=("$t: ${time_s} s, $execs executions, corpus $(ls "$work" | wc -l) inputs, no findings")
  else
    failed=$((failed + 1))
    report+=("$t: FAILED (exit $rc, $found finding(s) in $findings; log $log)")
    grep -E "^==[0-9]+==ERROR|runtime error|SUMMARY|terminate called|what\(\)|Test unit written" "$log" | head -20 >&2 || true
  fi
done
echo
printf '  %s\n' "${report[@]}"
echo "fuzz summary: $passed passed, $failed failed"
((failed == 0))
