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
# Configuration the admin may have edited is never overwritten: a file
# that exists and differs from the shipped one stays, and the shipped one
# is written beside it as NAME.new (compare and merge by hand).
function(nx_install_config src destdir name)
  set(dest "${destdir}/${name}")
  if(EXISTS "${dest}")
    file(SHA256 "${src}" a)
    file(SHA256 "${dest}" b)
    if(a STREQUAL b)
      return()
    endif()
    message(STATUS "Kept: ${dest} (edited); the shipped one is ${dest}.new")
    file(INSTALL "${src}" DESTINATION "${destdir}" RENAME "${name}.new"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  else()
    file(INSTALL "${src}" DESTINATION "${destdir}"
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
endfunction()
nx_install_config("${gen}/nexo-update.ini" "${NEXO_SYSCONFDIR}" nexo-update.ini)
file(MAKE_DIRECTORY "${NEXO_SYSCONFDIR}/pipelines")
file(GLOB _pipes "${NX_SRC}/conf/pipelines/*.ini")
foreach(_p ${_pipes})
  get_filename_component(_n "${_p}" NAME)
  nx_install_config("${_p}" "${NEXO_SYSCONFDIR}/pipelines" "${_n}")
endforeach()
file(INSTALL "${gen}/nexo-update.pc" DESTINATION "${NEXO_LIBDIR}/pkgconfig")
