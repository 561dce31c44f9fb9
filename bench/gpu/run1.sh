#!/usr/bin/env bash
# ae's first run on a real GPU (bench/gpu/bundle.sh prepares .gpu/): the nvcc-built binaries (built here, carried with the
# libraries the device image lacks), their GPU tests, compute-sanitizer, and ae bench.
set -u
B=$PWD/.gpu
G=/tmp/g
mkdir -p $G && tar -C $G -xzf $B/bundle.tgz
export LD_LIBRARY_PATH=$G/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
mkdir -p /usr/share/datasets/fashion-mnist && cp $B/data/* /usr/share/datasets/fashion-mnist/
mkdir -p /work/main/build-cuda && cp $G/bin/ae /work/main/build-cuda/ae
cd $G/bin
T0=$SECONDS
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  lscpu | grep -E 'Model name|^CPU\(s\)'; ldd ./ae | grep -E 'not found|cudart|cublas|dnnl'
  which compute-sanitizer; ./ae plan --device cuda 2>&1 | tail -25
} > $OUT/env.txt 2>&1
echo "env done $((SECONDS-T0))s"
timeout 100 ./ae_tests_cuda --gtest_brief=1 > $OUT/tests_cuda.txt 2>&1; echo "tests_cuda rc $? $((SECONDS-T0))s"
tail -5 $OUT/tests_cuda.txt
timeout 70 ./ae bench --device cuda --json > $OUT/bench_cuda.json 2>&1; echo "bench cuda rc $? $((SECONDS-T0))s"
head -c 1500 $OUT/bench_cuda.json
timeout 110 ./ae_tests_runtime_cuda --gtest_brief=1 > $OUT/tests_runtime.txt 2>&1; echo "tests_runtime rc $? $((SECONDS-T0))s"
tail -5 $OUT/tests_runtime.txt
timeout 110 compute-sanitizer --tool memcheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 > $OUT/memcheck.txt 2>&1; echo "memcheck rc $? $((SECONDS-T0))s"
tail -4 $OUT/memcheck.txt
timeout 70 compute-sanitizer --tool racecheck --error-exitcode 9 ./ae_tests_cuda --gtest_brief=1 \
  --gtest_filter='Cases/DenseFwd.*:Cases/DenseBwd.*:Cases/Matmul.*:Shapes/*:Cases/ReduceSum.*:Cases/Sparsity.*' > $OUT/racecheck.txt 2>&1
echo "racecheck rc $? $((SECONDS-T0))s"; tail -4 $OUT/racecheck.txt
timeout 40 ./ae bench --device cpu --json > $OUT/bench_cpu.json 2>&1; echo "bench cpu rc $? $((SECONDS-T0))s"
