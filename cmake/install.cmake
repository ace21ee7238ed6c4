# `cmake --install BUILD [--prefix P]`: the CLI (component cli) and, for C++ users (component dev),
# the library, the public headers and a CMake package, so that
#   find_package(lancer) + target_link_libraries(app lancer::lancer)
# works (tests/install builds such a consumer against a temporary prefix).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The library is one archive, liblancer.a, of the objects every stage behind the public API already
# compiled (no second compile); its users see include/lancer/ only, as src/mpi and python/ do. It
# is not -fPIC: link it into programs (PIE is fine), not into shared libraries.
set(lancer_objects $<TARGET_OBJECTS:lancer_proto>)
foreach(stage core storage simd linalg graph quant train lance dataset ivf pipeline search)
  list(APPEND lancer_objects $<TARGET_OBJECTS:lancer_${stage}>)
endforeach()
add_library(lancer_library STATIC ${lancer_objects})
set_target_properties(lancer_library PROPERTIES OUTPUT_NAME lancer EXPORT_NAME lancer
                                                ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/lib)
target_include_directories(lancer_library INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
# What the stages link, in an order a static link resolves (the Rust bridge before what it uses).
if(LANCER_OBJECT_STORE)
  get_target_property(bridge_archive lancer_object_store_bridge IMPORTED_LOCATION)
  install(FILES ${bridge_archive} DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
  get_filename_component(bridge_name ${bridge_archive} NAME)
  target_link_libraries(lancer_library INTERFACE
                        "$<INSTALL_INTERFACE:$<INSTALL_PREFIX>/${CMAKE_INSTALL_LIBDIR}/${bridge_name}>")
endif()
target_link_libraries(lancer_library INTERFACE protobuf::libprotobuf roaring::roaring zstd
                      "$<BUILD_INTERFACE:${LANCER_OPENBLAS_LIBRARY}>" "$<INSTALL_INTERFACE:openblas>"
                      Threads::Threads ${CMAKE_DL_LIBS} m)

install(TARGETS lancer_library EXPORT lancerTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev)
install(DIRECTORY include/lancer DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/lancer)
install(EXPORT lancerTargets NAMESPACE lancer:: DESTINATION ${config_dir} COMPONENT dev)
configure_package_config_file(cmake/lancerConfig.cmake.in ${PROJECT_BINARY_DIR}/lancerConfig.cmake
                              INSTALL_DESTINATION ${config_dir})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/lancerConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/lancerConfig.cmake ${PROJECT_BINARY_DIR}/lancerConfigVersion.cmake
        DESTINATION ${config_dir} COMPONENT dev)

if(LANCER_BUILD_CLI)
  install(TARGETS lancer RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
endif()
