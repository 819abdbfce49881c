# Runs at install time (cmake --install): writes the example configuration,
# the default pipelines and the pkg-config file for the prefix actually
# installed to (CMAKE_INSTALL_PREFIX here is the --prefix given).
# (a relative --prefix is taken from the current folder: the generated
# files name absolute paths)
get_filename_component(P "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
include("${NX_SRC}/core/nexo-paths.cmake")

set(gen "${NX_BIN}/install-gen")
configure_file("${NX_SRC}/conf/nexo-update.ini.in" "${gen}/nexo-update.ini" @ONLY)
configure_file("${NX_SRC}/core/nexo-update.pc.in" "${gen}/nexo-update.pc" @ONLY)
file(INSTALL "${gen}/nexo-update.ini" DESTINATION "${NEXO_SYSCONFDIR}"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
file(INSTALL "${NX_SRC}/conf/pipelines" DESTINATION "${NEXO_SYSCONFDIR}"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE
                           WORLD_READ WORLD_EXECUTE)
file(INSTALL "${gen}/nexo-update.pc" DESTINATION "${NEXO_LIBDIR}/pkgconfig")
