# `cmake --install`: headers, the libraries, the xomni executable and a CMake package so that
# another project can find_package(xomni) and link xomni::core, xomni::parallel, xomni::plugins or
# (for a reward plugin, which needs nothing else) xomni::reward_abi. The package has two
# components, exported separately so that one can be loaded without the other:
#   abi        xomni::reward_abi, header only, no dependencies (find_package(xomni COMPONENTS abi))
#   libraries  the C++ libraries, which bring OpenMP and MPI
# The built-in plugins install themselves (xomni_add_plugin) to lib/xomni/plugins.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)
set(XOMNI_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/xomni)

# Headers: every include/ folder of core, parallel, plugins (and plugin sub-folders), rewards.
file(GLOB XOMNI_INCLUDE_DIRS LIST_DIRECTORIES true
     ${PROJECT_SOURCE_DIR}/core/include ${PROJECT_SOURCE_DIR}/parallel/include
     ${PROJECT_SOURCE_DIR}/plugins/include ${PROJECT_SOURCE_DIR}/plugins/*/include
     ${PROJECT_SOURCE_DIR}/rewards/include)
foreach(dir ${XOMNI_INCLUDE_DIRS})
  if(IS_DIRECTORY ${dir})
    install(DIRECTORY ${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endforeach()

# Libraries exported as xomni::<name> (the component plugins' MODULE libraries install themselves).
set(XOMNI_EXPORTED xomni_core core xomni_parallel parallel xomni_plugins plugins
    xomni_qwen2 qwen2 xomni_bpe_tokenizer bpe_tokenizer xomni_flow_decoder flow_decoder)
set(XOMNI_EXPORT_TARGETS)
while(XOMNI_EXPORTED)
  list(POP_FRONT XOMNI_EXPORTED target name)
  get_target_property(type ${target} TYPE)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    # Installed libraries find each other next to themselves.
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN")
  endif()
  list(APPEND XOMNI_EXPORT_TARGETS ${target})
endwhile()
install(TARGETS ${XOMNI_EXPORT_TARGETS} EXPORT xomniTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set_target_properties(xomni PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
install(TARGETS xomni RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(TARGETS xomni_reward_abi EXPORT xomniAbiTargets
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(EXPORT xomniAbiTargets NAMESPACE xomni:: DESTINATION ${XOMNI_INSTALL_CMAKEDIR})
install(EXPORT xomniTargets NAMESPACE xomni:: DESTINATION ${XOMNI_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/xomniConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/xomniConfig.cmake INSTALL_DESTINATION ${XOMNI_INSTALL_CMAKEDIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/xomniConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/xomniConfig.cmake
        ${CMAKE_CURRENT_BINARY_DIR}/xomniConfigVersion.cmake DESTINATION ${XOMNI_INSTALL_CMAKEDIR})
