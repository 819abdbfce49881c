/* The version of a component the database has registered (dbver.h). */
#include "dbver.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct want {
    const char *component;
    char *version;
};

/* Rows come newest first: keep the first of the component. */
static int row(void *arg, int ncols, const char *const *names, const char *const *values)
{
    (void)names;
    struct want *w = arg;
    if (!w->version && ncols >= 2 && values[0] && values[1] &&
        strcmp(values[0], w->component) == 0)
        w->version = nx_xstrdup(values[1]);
    return 0;
}

int nx_db_registered_version(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                             const char *component, char **version)
{
    *version = NULL;
    int ex = db->driver->exists(h, c, db->conn, "system_versions", NULL, NULL);
    if (ex <= 0)
        return ex;
    /* no bound parameter: placeholders differ between drivers, and every
     * row is read anyway (one per registered version) */
    struct want w = { component, NULL };
    int rc = db->driver->query(h, c, db->conn,
                               "SELECT component, version_number FROM system_versions "
                               "ORDER BY version_code DESC, id DESC", 0, NULL, row, &w);
    if (rc) {
        free(w.version);
        return rc;
    }
    *version = w.version;
    return 0;
}

char *nx_migrated_key(const char *component)
{
    return nx_xasprintf("%s%s", NX_SHARED_MIGRATED, component);
}
