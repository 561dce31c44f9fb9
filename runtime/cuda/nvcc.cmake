# The "cuda" flavour (-DAE_ENABLE_CUDA=ON): kernels/cuda/*.cu compiled by nvcc for
# CMAKE_CUDA_ARCHITECTURES (default 80;90) through nvcc-compile.sh, which keeps each ptxas report in
# ${CMAKE_CURRENT_BINARY_DIR}/nvcc/<name>.ptxas.txt and fails the build when a kernel spills. The
# objects form ae_cuda_kernels (a static library of host objects with embedded cubins; no
# separable compilation), linked into ae_obj's consumers with cudart. Included from CMakeLists.txt.
find_package(CUDAToolkit REQUIRED)
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "GPU architectures of the cuda backend" FORCE)
endif()
set(AE_NVCC "${CUDAToolkit_NVCC_EXECUTABLE}" CACHE FILEPATH "nvcc of the cuda backend")
file(GLOB AE_CUDA_KERNEL_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/kernels/cuda/*.cuh
     ${PROJECT_SOURCE_DIR}/kernels/common/*.h)
set(out ${CMAKE_CURRENT_BINARY_DIR}/nvcc)
file(MAKE_DIRECTORY ${out})
set(objs)
foreach(src ${AE_CUDA_KERNEL_SOURCES})
  get_filename_component(name ${src} NAME_WE)
  add_custom_command(
    OUTPUT ${out}/${name}.o ${out}/${name}.ptxas.txt
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/nvcc-compile.sh ${AE_NVCC} ${src} ${out}/${name}.o ${out}/${name}.ptxas.txt
            "${CMAKE_CUDA_ARCHITECTURES}"
    DEPENDS ${src} ${AE_CUDA_KERNEL_HEADERS} ${CMAKE_CURRENT_SOURCE_DIR}/nvcc-compile.sh
    COMMENT "nvcc ${name}.cu (sm ${CMAKE_CUDA_ARCHITECTURES}), ptxas report kept"
    VERBATIM)
  list(APPEND objs ${out}/${name}.o)
endforeach()
set_source_files_properties(${objs} PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)
add_library(ae_cuda_kernels STATIC ${objs})
set_target_properties(ae_cuda_kernels PROPERTIES LINKER_LANGUAGE CXX)
# cuBLASLt: the GEMM reference of `ae bench --device cuda` (runtime/cuda/bench_cuda.cpp).
target_link_libraries(ae_cuda_kernels PUBLIC CUDA::cudart CUDA::cublasLt)
# cuDNN, optional: the convolution reference of `ae bench --device cuda` (runtime/cuda/bench_cudnn.cpp),
# looked for beside the CUDA toolkit or under AE_CUDNN_ROOT. Without it the build goes on and the
# bench says the comparison is left out.
option(AE_CUDNN "ae bench --device cuda: compare the convolutions with cuDNN when it is found" ON)
set(AE_CUDNN_ROOT "" CACHE PATH "where cuDNN is installed, when not beside the CUDA toolkit")
if(AE_CUDNN)
  find_path(AE_CUDNN_INCLUDE_DIR cudnn.h HINTS ${AE_CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(AE_CUDNN_LIBRARY cudnn HINTS ${AE_CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
               PATH_SUFFIXES lib64 lib)
endif()
if(AE_CUDNN AND AE_CUDNN_INCLUDE_DIR AND AE_CUDNN_LIBRARY)
  message(STATUS "cuDNN: ${AE_CUDNN_LIBRARY} (ae bench --device cuda times each convolution beside it)")
  target_link_libraries(ae_cuda_kernels PUBLIC ${AE_CUDNN_LIBRARY})
  set(AE_HAVE_CUDNN ON)
else()
  message(STATUS "cuDNN not found or AE_CUDNN=OFF (cudnn.h, libcudnn; set AE_CUDNN_ROOT): ae bench --device cuda "
                 "leaves the convolution comparison out")
  set(AE_HAVE_CUDNN OFF)
endif()

set(AE_HAVE_CUDA_SIM_BACKEND OFF CACHE INTERNAL "the cuda-sim backend is part of ae_obj")
target_sources(ae_obj PRIVATE ${AE_CUDA_BACKEND_SOURCES})
target_include_directories(ae_obj PUBLIC ${CUDAToolkit_INCLUDE_DIRS})
target_link_libraries(ae_obj PUBLIC ae_cuda_kernels)
target_compile_definitions(ae_obj PRIVATE AE_HAVE_CUDA_BACKEND)
if(AE_HAVE_CUDNN)  # only the file that calls cuDNN sees it
  set_source_files_properties(${CMAKE_CURRENT_SOURCE_DIR}/bench_cudnn.cpp TARGET_DIRECTORY ae_obj PROPERTIES
                              COMPILE_DEFINITIONS AE_HAVE_CUDNN INCLUDE_DIRECTORIES ${AE_CUDNN_INCLUDE_DIR})
endif()
# Consumers (the ae command) may call runtime/cuda/bench_cuda.h, which only this flavour defines.
target_compile_definitions(ae_obj INTERFACE AE_HAVE_CUDA_BENCH)
cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL target_link_libraries ae_shared PRIVATE ae_cuda_kernels)
# One line per kernel file: kernels built, spills (the build already failed if any).
add_custom_target(ae_cuda_ptxas_summary
  COMMAND sh -c "grep -h -A1 'Compiling entry' ${out}/*.ptxas.txt | grep -c 'spill' | xargs echo 'kernel builds reported:'; ! grep -h 'spill stores' ${out}/*.ptxas.txt | grep -v ' 0 bytes spill stores, 0 bytes spill loads'"
  DEPENDS ae_cuda_kernels COMMENT "ptxas summary of the cuda backend" VERBATIM)
