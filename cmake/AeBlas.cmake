# ae::blas — the GEMM library of the cpu backend. Placeholder: OpenBLAS until bench/gemm decides.
find_package(PkgConfig REQUIRED)
pkg_check_modules(AE_OPENBLAS REQUIRED IMPORTED_TARGET openblas)
add_library(ae_blas INTERFACE)
target_link_libraries(ae_blas INTERFACE PkgConfig::AE_OPENBLAS)
add_library(ae::blas ALIAS ae_blas)
