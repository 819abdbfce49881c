/* Reversible deletion for <cleanup>: a target is renamed into a trash
 * folder at the top of the site root (the same file system, not served:
 * the web root is a folder below it), the move journaled before it
 * happens. */
#include "migrate.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *trash_dir(const struct nexo_host *h, nexo_ctx *c)
{
    return nx_xasprintf("%s/.nexo-trash-%s", h->info(c, "root"), h->info(c, "update_id"));
}

int mg_trash_move(const struct nexo_host *h, nexo_ctx *c, const char *root, const char *rel,
                  const char *where)
{
    char *src = nx_path_join(root, rel);
    struct stat st;
    int rc = 0;
    if (lstat(src, &st) != 0) {
        if (errno != ENOENT)
            rc = h->fail(c, NEXO_EIO, "%s: cleanup %s: %s", where, src, strerror(errno));
        else
            h->log(c, NEXO_LOG_DEBUG, "%s: cleanup: %s is already gone", where, src);
        free(src);
        return rc;
    }
    const char *n = h->state_get(c, "trash.count");
    int idx = n ? atoi(n) : 0;
    char *dir = trash_dir(h, c);
    char *dst = nx_xasprintf("%s/%d", dir, idx);
    char *rec = nx_xasprintf("%s\t%s", src, dst);
    char key[32], num[16];
    snprintf(key, sizeof key, "trash.%d", idx);
    snprintf(num, sizeof num, "%d", idx + 1);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        rc = h->fail(c, NEXO_EIO, "%s: cannot create %s: %s", where, dir, strerror(errno));
    if (!rc)
        rc = h->state_set(c, key, rec);
    if (!rc)
        rc = h->state_set(c, "trash.count", num);
    if (!rc && rename(src, dst) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cleanup: cannot move %s aside: %s", where, src,
                     strerror(errno));
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "cleanup: removed %s (kept until the update is final)", rel);
    free(rec);
    free(dst);
    free(dir);
    free(src);
    return rc;
}

int mg_trash_restore(const struct nexo_host *h, nexo_ctx *c)
{
    const char *n = h->state_get(c, "trash.count");
    for (int i = n ? atoi(n) : 0; i-- > 0;) {
        char key[32];
        snprintf(key, sizeof key, "trash.%d", i);
        const char *rec = h->state_get(c, key);
        const char *tab = rec ? strchr(rec, '\t') : NULL;
        if (!tab)
            continue;
        char *src = nx_xstrndup(rec, (size_t)(tab - rec));
        const char *dst = tab + 1;
        int rc = 0;
        if (access(dst, F_OK) == 0 && rename(dst, src) != 0)
            rc = h->fail(c, NEXO_EIO, "cannot put %s back from %s: %s", src, dst,
                         strerror(errno));
        free(src);
        if (rc)
            return rc;
    }
    char *dir = trash_dir(h, c);
    rmdir(dir);
    free(dir);
    return 0;
}

int mg_trash_purge(const struct nexo_host *h, nexo_ctx *c)
{
    char *dir = trash_dir(h, c);
    nx_err e;
    int rc = nx_rmtree(dir, &e) == 0 ? 0 : h->fail(c, NEXO_EIO, "%s", e.msg);
    free(dir);
    return rc;
}
