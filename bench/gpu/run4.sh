#!/usr/bin/env bash
# Fourth GPU run (bench/gpu/bundle4.sh stages .gpu/): the tensor-core dense kernels (dense_fwd_tc,
# dense_bwd_tc: fp16, bf16, tf32) on a real GPU — their kernel tests, ae_wmma_timing (ae's fp32 and
# tensor-core kernels beside cuBLASLt on the default model's shapes), then compute-sanitizer
# memcheck, racecheck and synccheck on the same tests. Outputs under $OUT; a summary last.
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
timeout 45 ./ae_tests_cuda --gtest_filter="$F" > $OUT/tests_tc.txt 2>&1; echo "tests_tc rc $? $((SECONDS-T0))s"
grep -E '^\[  (PASSED|FAILED)  \]|tests? from .* ran|SKIPPED' $OUT/tests_tc.txt | head -20
timeout 60 ./ae_wmma_timing > $OUT/timing.txt 2>&1; echo "timing rc $? $((SECONDS-T0))s"
timeout 80 compute-sanitizer --tool memcheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 --gtest_filter="$F" > $OUT/memcheck_tc.txt 2>&1
echo "memcheck rc $? $((SECONDS-T0))s"; tail -3 $OUT/memcheck_tc.txt
timeout 100 compute-sanitizer --tool racecheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 --gtest_filter="$F" > $OUT/racecheck_tc.txt 2>&1
echo "racecheck rc $? $((SECONDS-T0))s"; tail -3 $OUT/racecheck_tc.txt
timeout 60 compute-sanitizer --tool synccheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 --gtest_filter="$F" > $OUT/synccheck_tc.txt 2>&1
echo "synccheck rc $? $((SECONDS-T0))s"; tail -3 $OUT/synccheck_tc.txt
grep -E 'N=256 +K=784|check' $OUT/timing.txt | cut -c1-118
