/* libFuzzer target for the journal reader (what recover and status read
 * after a crash): any file gives records or a clear error. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "journal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "%s/nexo-fuzz-journal-%ld.jnl", fz_tmp(), (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    nx_err e;
    json_t *recs = NULL;
    int torn = 0;
    if (nx_journal_read(path, &recs, &torn, &e) == 0) {
        if (!json_is_array(recs) || json_array_size(recs) == 0)
            abort();
        json_decref(recs);
    } else if (!strstr(e.msg, path)) {
        abort();
    }
    return 0;
}
