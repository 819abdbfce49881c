# The folders of an installation in prefix P (mirrors core/defaults.c):
# /usr has /etc and /var, /opt/X has /etc/opt/X and /var/opt/X, any other
# prefix P has P/etc and P/var. Needs P, NX_LIBDIR, NX_DATADIR, NX_INCLUDEDIR.
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

