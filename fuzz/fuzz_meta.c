/* libFuzzer target for a backup's meta.json (core/backupstore.c): the
 * store lists a folder holding it, finds it and applies retention to it,
 * whatever it holds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "backupstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64], meta[160];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nx_err e;
    if (!root[0]) {
        snprintf(root, sizeof root, "%s/nexo-fuzz-meta-%ld", fz_tmp(), (long)getpid());
        char *dir = nx_xasprintf("%s/backup_u1_20260101T000000Z", root);
        if (nx_mkdirs(dir, 0700, &e) != 0)
            abort();
        snprintf(meta, sizeof meta, "%s/meta.json", dir);
        free(dir);
    }
    FILE *f = fopen(meta, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    nx_backup_list l;
    if (nx_backups_list(root, &l, &e) != 0 || l.n != 1)
        abort();
    const nx_backup *b = &l.v[0];
    if (nx_backups_find(&l, b->name) != b)
        abort();
    if (b->update_id)
        (void)nx_backups_find(&l, b->update_id);
    long long t = b->created_at ? nx_backup_parse_time(b->created_at) : 0;
    if (b->created != (t > 0 ? t : 0))
        abort();
    unsigned char rm[1];
    (void)nx_backups_retention(&l, NULL, 0, 0, 1800000000LL, rm);
    (void)nx_backups_retention(&l, b->name, 1, 30, 1800000000LL, rm);
    nx_backups_free(&l);
    return 0;
}
