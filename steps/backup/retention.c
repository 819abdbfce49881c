/* Retention of old backups, applied by commit only (after a successful
 * update). Which backups go is decided by nx_backups_retention
 * (core/backupstore.c), the same code `nexo-update backups prune` uses:
 * among the backups with a readable meta.json the newest `keep` stay, and
 * of the others those older than `keep_days` days are removed. The backup
 * just made always stays; folders that are not backups (no meta.json) and
 * *.partial folders are never touched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backup.h"

#include <stdlib.h>
#include <time.h>

#include "backupstore.h"
#include "util.h"

int bk_retention(const struct nexo_host *h, nexo_ctx *c, const char *dir, const char *current,
                 long keep, long keep_days)
{
    nx_backup_list l;
    nx_err e;
    if (nx_backups_list(dir, &l, &e) != 0) {
        h->log(c, NEXO_LOG_WARN, "retention: %s", e.msg);
        return 0;
    }
    unsigned char *rm = nx_xcalloc(l.n, 1);
    nx_backups_retention(&l, current, keep, keep_days, (long long)time(NULL), rm);
    int removed = 0;
    for (size_t i = 0; i < l.n; i++) {
        if (!rm[i])
            continue;
        if (nx_rmtree(l.v[i].path, &e) != 0) {
            h->log(c, NEXO_LOG_WARN, "retention: %s", e.msg);
        } else {
            h->log(c, NEXO_LOG_INFO, "retention: removed old backup %s", l.v[i].path);
            removed++;
        }
    }
    free(rm);
    nx_backups_free(&l);
    return removed;
}
