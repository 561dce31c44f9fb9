#!/bin/sh
# Alternates the encode-latency benchmark between two builds of libae.so on one machine, so both
# see the same conditions: before, after, before, after, ... (ROUNDS rounds, default 3), each a
# median of 7 runs of 5000 calls. The benchmark binary is the same; only the library differs
# (ae.h's ABI is unchanged), picked with LD_LIBRARY_PATH.
#   bench/api/compare.sh BEFORE_LIBDIR AFTER_LIBDIR [ROUNDS]
set -eu
before=$1 after=$2 rounds=${3:-3}
bin=$(dirname "$0")/../../build/bench/api/ae_bench_encode_latency
[ -x "$bin" ] || bin=build/bench/api/ae_bench_encode_latency
grep -m1 'model name' /proc/cpuinfo
printf 'cpu family %s, model %s\n' "$(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')" \
  "$(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
i=1
while [ "$i" -le "$rounds" ]; do
  printf 'before: '; LD_LIBRARY_PATH=$before "$bin" | tail -1
  printf 'after:  '; LD_LIBRARY_PATH=$after "$bin" | tail -1
  i=$((i + 1))
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
