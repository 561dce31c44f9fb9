#!/usr/bin/env bash
# Second GPU run: the kernel tests after the contractive fix, then ae on Fashion-MNIST on the GPU:
# train the default model, kNN and score ranking on cuda against the cpu path on the same model.
set -u
B=$PWD/.gpu
G=/tmp/g
mkdir -p $G && tar -C $G -xzf $B/bundle.tgz
export LD_LIBRARY_PATH=$G/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
F=/usr/share/datasets/fashion-mnist
mkdir -p $F && cp $B/data/* $F/
cd $G/bin
T0=$SECONDS
timeout 60 ./ae_tests_cuda --gtest_brief=1 > $OUT/tests_cuda.txt 2>&1; echo "tests_cuda rc $? $((SECONDS-T0))s"
tail -3 $OUT/tests_cuda.txt
{
  echo "== train --device cuda"; time timeout 60 ./ae train --device cuda --out /tmp/m.st --checkpoint none --quiet
  echo "== train --device cpu (16 threads)"; time timeout 60 ./ae train --device cpu --out /tmp/mc.st --checkpoint none --quiet
  echo "== knn cuda"; time timeout 60 ./ae knn --model /tmp/m.st --device cuda --out /tmp/knn-cuda.csv --quiet
  echo "== knn cpu"; time timeout 60 ./ae knn --model /tmp/m.st --device cpu --out /tmp/knn-cpu.csv --quiet
  cmp /tmp/knn-cuda.csv /tmp/knn-cpu.csv && echo "knn predictions identical"
  echo "== score top"; for d in cuda cpu; do timeout 30 ./ae score --model /tmp/m.st --data $F/t10k-images-idx3-ubyte.gz --device $d --top 10 --contamination 0.01 --out /tmp/s-$d.csv --quiet > /tmp/top-$d.txt; done
  cat /tmp/top-cuda.txt; cmp /tmp/top-cuda.txt /tmp/top-cpu.txt && echo "score listing identical"; cmp /tmp/s-cuda.csv /tmp/s-cpu.csv && echo "score files identical"
  echo "== cluster cuda"; time timeout 60 ./ae cluster --model /tmp/m.st --device cuda --restarts 3 --out /tmp/cl-cuda.csv --quiet
  timeout 60 ./ae cluster --model /tmp/m.st --device cpu --restarts 3 --out /tmp/cl-cpu.csv --quiet >/dev/null; cmp /tmp/cl-cuda.csv /tmp/cl-cpu.csv && echo "cluster assignments identical"
} > $OUT/gpu_workflow.txt 2>&1
echo "workflow done $((SECONDS-T0))s"; cat $OUT/gpu_workflow.txt | tail -60
