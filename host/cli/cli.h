// The `ae` command: shared pieces of its subcommands (each in its own file).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "host/data/idx.h"

namespace ae::cli {

inline const std::string DEFAULT_SPEC = "784-256r-32-256r-784s";
inline const std::string FASHION_DIR = "/usr/share/datasets/fashion-mnist/";
inline const std::string DEFAULT_TRAIN = FASHION_DIR + "train-images-idx3-ubyte.gz";
inline const std::string DEFAULT_TEST = FASHION_DIR + "t10k-images-idx3-ubyte.gz";

// Sets OpenMP and GEMM threads; 0 means all cores.
int apply_threads(int threads);
// Reads a data file (IDX, plain or gzip; more formats arrive with the workflow commands).
Matrix load_data(const std::string& path, int64_t max_rows, const std::string& flag);
// Fails early, before long work, when `path`'s directory does not exist.
void check_output_path(const std::string& path, const std::string& flag);

void add_train(CLI::App& app);
void add_plan(CLI::App& app);
void add_bench(CLI::App& app);
void add_info(CLI::App& app);

}  // namespace ae::cli
