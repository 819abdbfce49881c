# Runs at install time (cmake --install): writes the example configuration,
# the default pipelines and the pkg-config file for the prefix actually
# installed to. Mirrors core/defaults.c.
set(P "${CMAKE_INSTALL_PREFIX}")
if(P STREQUAL "/usr")
  set(ETC "/etc")
  set(VAR "/var")
elseif(P MATCHES "^/opt/")
  set(ETC "/etc${P}")
  set(VAR "/var${P}")
else()
  set(ETC "${P}/etc")
  set(VAR "${P}/var")
endif()
set(NEXO_SYSCONFDIR "${ETC}/nexo-update")
set(NEXO_STATEDIR "${VAR}/lib/nexo-update")
set(NEXO_BACKUPDIR "${VAR}/backups/nexo-update")
set(NEXO_MODULEDIR "${P}/${NX_LIBDIR}/nexo-update")
set(NEXO_MAPDIR "${P}/${NX_DATADIR}/nexo-update")
set(NEXO_INCLUDEDIR "${P}/${NX_INCLUDEDIR}")
set(NEXO_LIBDIR "${P}/${NX_LIBDIR}")
set(NEXO_PREFIX "${P}")

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
