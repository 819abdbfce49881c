/* libFuzzer target for migration and install files (steps/lib/mig.c):
 * any input loads or fails with "file:line: ..." on one line. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "mig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *scratch(void)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "%s/nexo-fuzz-mig-%ld.xml", fz_tmp(), (long)getpid());
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = scratch();
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    nx_err e;
    nx_mig *m = nx_mig_load(path, 1700000000LL, &e);
    if (!m) {
        if (strncmp(e.msg, path, strlen(path)) != 0 || e.msg[strlen(path)] != ':' ||
            strchr(e.msg, '\n'))
            abort();
        return 0;
    }
    for (size_t i = 0; i < m->nops; i++)
        if (!m->ops[i].table || !nx_mig_ident_ok(m->ops[i].table) || m->ops[i].line < 1)
            abort();
    nx_mig_free(m);
    return 0;
}
