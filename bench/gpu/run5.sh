#!/usr/bin/env bash
# Fifth GPU run (bench/gpu/bundle5.sh stages .gpu/): the tensor-core dense kernels' third version
# (32×32 warp tiles, 128×64 blocks, tf32 rounded at the shared store) — their kernel tests,
# ae_wmma_timing (every tile, round 2's tf32 staging and the other tf32 variants side by side,
# cuBLASLt beside), then compute-sanitizer memcheck, racecheck and synccheck on the same tests.
# Outputs under $OUT; a summary last. As run4.sh, with the timing allowed longer (more rows).
set -u
B=$PWD/.gpu; G=/tmp/g
mkdir -p $G && tar -C $G -xzf $B/bundle.tgz
export LD_LIBRARY_PATH=$G/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
cd $G/bin
T0=$SECONDS
F='*Tc*:LowpRound.*'
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.sm --format=csv
  ldd ./ae_tests_cuda ./ae_wmma_timing | grep -E 'not found|cudart|cublas|dnnl'; which compute-sanitizer
} > $OUT/env.txt 2>&1
echo "env done $((SECONDS-T0))s"
timeout 60 ./ae_tests_cuda --gtest_filter="$F" > $OUT/tests_tc.txt 2>&1; echo "tests_tc rc $? $((SECONDS-T0))s"
grep -E '^\[  (PASSED|FAILED)  \]|tests? from .* ran|SKIPPED' $OUT/tests_tc.txt | head -20
timeout 120 ./ae_wmma_timing > $OUT/timing.txt 2>&1; echo "timing rc $? $((SECONDS-T0))s"
grep -c differs $OUT/timing.txt
timeout 60 compute-sanitizer --tool memcheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 --gtest_filter="$F" > $OUT/memcheck_tc.txt 2>&1
echo "memcheck rc $? $((SECONDS-T0))s"; tail -3 $OUT/memcheck_tc.txt
timeout 70 compute-sanitizer --tool racecheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 --gtest_filter="$F" > $OUT/racecheck_tc.txt 2>&1
echo "racecheck rc $? $((SECONDS-T0))s"; tail -3 $OUT/racecheck_tc.txt
timeout 40 compute-sanitizer --tool synccheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 --gtest_filter="$F" > $OUT/synccheck_tc.txt 2>&1
echo "synccheck rc $? $((SECONDS-T0))s"; tail -3 $OUT/synccheck_tc.txt
grep -E 'N=256 +K=784.*(auto|cuBLAS)|check:' $OUT/timing.txt | cut -c1-120 | head -40
