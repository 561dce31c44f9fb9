# cmake --install: headers, libae.so and a CMake package so find_package(ae) works elsewhere.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
install(TARGETS ae_shared EXPORT aeTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS ae_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY host/include/ae DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT aeTargets NAMESPACE ae:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ae)
configure_package_config_file(cmake/aeConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/aeConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ae)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/aeConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/aeConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/aeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/ae)
