# Runs at install time (cmake --install, from core/CMakeLists.txt): writes
# the systemd units for the prefix actually installed to, into
# DATADIR/nexo-update/systemd. Needs NX_SRC, NX_BIN, NX_LIBDIR, NX_DATADIR,
# NX_INCLUDEDIR, NX_BINDIR.
get_filename_component(P "${CMAKE_INSTALL_PREFIX}" ABSOLUTE)
include("${NX_SRC}/core/nexo-paths.cmake")
set(NEXO_BINDIR "${P}/${NX_BINDIR}")
set(gen "${NX_BIN}/install-gen/systemd")
foreach(unit nexo-update-check.service nexo-update-check.timer
             nexo-update-schedule.service nexo-update-schedule.timer)
  configure_file("${NX_SRC}/conf/systemd/${unit}.in" "${gen}/${unit}" @ONLY)
  file(INSTALL "${gen}/${unit}" DESTINATION "${P}/${NX_DATADIR}/nexo-update/systemd"
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endforeach()
