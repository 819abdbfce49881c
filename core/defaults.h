/* Built-in defaults: where the installed program's configuration,
 * modules, pipelines, state and backups are (contracts §1: they point
 * into the install prefix). */
#ifndef NX_DEFAULTS_H
#define NX_DEFAULTS_H

#include <limits.h>

typedef struct nx_defaults {
    char prefix[PATH_MAX];
    char config[PATH_MAX];     /* SYSCONFDIR/nexo-update/nexo-update.ini */
    char pipelines[PATH_MAX];  /* SYSCONFDIR/nexo-update/pipelines */
    char modules[PATH_MAX];    /* PREFIX/LIBDIR/nexo-update */
    char state[PATH_MAX];      /* LOCALSTATEDIR/lib/nexo-update */
    char backups[PATH_MAX];    /* LOCALSTATEDIR/backups/nexo-update */
} nx_defaults;

/* The prefix is the folder above the one holding the running executable
 * when that folder is PREFIX/bin; otherwise the prefix configured at build
 * time. Folders follow GNUInstallDirs: /usr has /etc and /var, /opt/X has
 * /etc/opt/X and /var/opt/X, any other prefix P has P/etc and P/var. */
void nx_defaults_init(nx_defaults *d);
void nx_defaults_for_prefix(nx_defaults *d, const char *prefix);

#endif
