#include "defaults.h"
#include "buildconf.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void nx_defaults_for_prefix(nx_defaults *d, const char *prefix)
{
    char etc[PATH_MAX], var[PATH_MAX];
    snprintf(d->prefix, sizeof d->prefix, "%s", prefix);
    if (strcmp(prefix, "/usr") == 0) {
        snprintf(etc, sizeof etc, "/etc");
        snprintf(var, sizeof var, "/var");
    } else if (strncmp(prefix, "/opt/", 5) == 0) {
        snprintf(etc, sizeof etc, "/etc%.*s", PATH_MAX - 8, prefix);
        snprintf(var, sizeof var, "/var%.*s", PATH_MAX - 8, prefix);
    } else {
        snprintf(etc, sizeof etc, "%.*s/etc", PATH_MAX - 8, strcmp(prefix, "/") ? prefix : "");
        snprintf(var, sizeof var, "%.*s/var", PATH_MAX - 8, strcmp(prefix, "/") ? prefix : "");
    }
    snprintf(d->config, sizeof d->config, "%.*s/nexo-update/nexo-update.ini", PATH_MAX - 64, etc);
    snprintf(d->pipelines, sizeof d->pipelines, "%.*s/nexo-update/pipelines", PATH_MAX - 64, etc);
    snprintf(d->modules, sizeof d->modules, "%.*s/%s/nexo-update", PATH_MAX - 128,
             strcmp(prefix, "/") ? prefix : "", NX_LIBDIR);
    snprintf(d->state, sizeof d->state, "%.*s/lib/nexo-update", PATH_MAX - 64, var);
    snprintf(d->backups, sizeof d->backups, "%.*s/backups/nexo-update", PATH_MAX - 64, var);
}

void nx_defaults_init(nx_defaults *d)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    const char *prefix = NX_CONFIGURED_PREFIX;
    char found[PATH_MAX];
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        size_t bl = strlen(NX_BINDIR);
        if (slash) {
            *slash = '\0'; /* exe is now the executable's folder */
            size_t el = strlen(exe);
            if (el >= bl + 1 && exe[el - bl - 1] == '/' && strcmp(exe + el - bl, NX_BINDIR) == 0) {
                snprintf(found, sizeof found, "%.*s", (int)(el - bl - 1), exe);
                prefix = found[0] ? found : "/";
            }
        }
    }
    nx_defaults_for_prefix(d, prefix);
}
