# `cpack --config BUILD/CPackConfig.cmake`: lancer_<version>_<arch>.deb, the CLI (component cli)
# in /usr/bin. Its Depends are the shared libraries it links, as dpkg-shlibdeps names their
# packages (so `apt-get install ./lancer_*.deb` fetches them); the C++ library and headers (component
# dev) stay out of it.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lancer)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Builds Lance vector indexes (IVF_FLAT/SQ/PQ/RQ, IVF_HNSW_*), alone or over MPI")
set(CPACK_PACKAGE_CONTACT "lancer developers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL cli)
set(CPACK_DEBIAN_CLI_PACKAGE_NAME lancer)
set(CPACK_DEBIAN_CLI_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# mpirun, for distributed builds; the CLI itself needs only the MPI library.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS openmpi-bin)
include(CPack)
