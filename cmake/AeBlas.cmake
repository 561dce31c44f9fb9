# ae::blas — the GEMM library of the cpu backend: oneDNN's sgemm (Debian libdnnl-dev), chosen by
# measurement in bench/gemm (README there). oneDNN picks its JIT kernels from cpuid feature bits
# (avx512_core, avx2, ...), not from a table of CPU models, and Debian builds it on the same GNU
# OpenMP runtime ae uses, so GEMM threads and ae's elementwise loops share one thread team.
#
# Found by library and header rather than through oneDNN's CMake package: that package also
# requires the OpenCL headers (a GPU runtime ae does not use) which a bare machine may lack.
find_library(AE_DNNL_LIBRARY NAMES dnnl)
find_path(AE_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
if(NOT AE_DNNL_LIBRARY OR NOT AE_DNNL_INCLUDE_DIR)
  message(FATAL_ERROR "ae needs oneDNN for the cpu backend's GEMMs: install the Debian package "
                      "libdnnl-dev (cmake/install-deps.sh does), or point AE_DNNL_LIBRARY and "
                      "AE_DNNL_INCLUDE_DIR at a oneDNN 2.x build.")
endif()
add_library(ae_blas INTERFACE)
target_link_libraries(ae_blas INTERFACE ${AE_DNNL_LIBRARY})
target_include_directories(ae_blas SYSTEM INTERFACE ${AE_DNNL_INCLUDE_DIR})
add_library(ae::blas ALIAS ae_blas)
