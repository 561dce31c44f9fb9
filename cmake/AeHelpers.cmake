# Small helpers shared by every CMakeLists in ae.

# Use ccache for C, C++ and CUDA when it is installed: nvcc and the test suite are slow to rebuild.
function(ae_use_ccache)
  find_program(AE_CCACHE ccache)
  if(AE_CCACHE)
    foreach(lang C CXX CUDA)
      set(CMAKE_${lang}_COMPILER_LAUNCHER ${AE_CCACHE} PARENT_SCOPE)
    endforeach()
  endif()
endfunction()

# ae_add_test(NAME SOURCES... [LIBS libs...] [LABELS labels...])
# One GoogleTest executable linked against the static core; its cases are registered with CTest.
function(ae_add_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES} ${T_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ae_static GTest::gtest GTest::gtest_main ${T_LIBS})
  target_compile_definitions(${name} PRIVATE AE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
                                            AE_BINARY_DIR="${PROJECT_BINARY_DIR}")
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()
