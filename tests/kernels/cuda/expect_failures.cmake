# cmake -DEXE=<test executable> [-DEXPECT=<regex>] -P expect_failures.cmake: runs a GoogleTest
# executable built with a deliberately broken kernel and succeeds only when the run completes
# (gtest's summary is printed, so no crash or hang) and at least one test failed with EXPECT in its
# output: by default a wrong result (the harness's compare() message "elements fail"); with the
# sim's racecheck on, its hazard report. Prints how many failed.
if(NOT EXE)
  message(FATAL_ERROR "expect_failures.cmake: pass -DEXE=<test executable>")
endif()
if(NOT EXPECT)
  set(EXPECT "elements fail")
endif()
execute_process(COMMAND ${EXE} --gtest_brief=1 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
# gtest's closing lines (also under --gtest_brief): "[==========] N tests from S test suites ran."
# and "[  PASSED  ] P tests."; a crash or hang never prints them.
string(REGEX MATCH "\\[==========\\] ([0-9]+) tests? from [0-9]+ test suites? ran" ran_line "${out}")
set(ran ${CMAKE_MATCH_1})
string(REGEX MATCH "\\[  PASSED  \\] ([0-9]+) tests?" passed_line "${out}")
set(passed ${CMAKE_MATCH_1})
if(rc EQUAL 0 OR NOT ran_line OR NOT passed_line OR NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${EXE}: the broken kernel was not caught (exit ${rc}); its tests said:\n${out}\n${err}")
endif()
math(EXPR failed "${ran} - ${passed}")
message(STATUS "${EXE}: ${failed} of ${ran} tests failed (${EXPECT}), as they must with the barrier removed")
