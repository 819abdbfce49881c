/* libFuzzer target for the INI reader as pipeline files and as
 * nexo-update.ini: any input parses or fails with "file:line: ...". */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "config.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *scratch(void)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "%s/nexo-fuzz-ini-%ld.ini", fz_tmp(), (long)getpid());
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
    nx_pipeline *p = nx_pipeline_parse(path, &e);
    if (p) {
        json_t *j = nx_pipeline_to_json(p);
        nx_pipeline *q = j ? nx_pipeline_from_json(j, &e) : NULL;
        nx_pipeline_free(q);
        json_decref(j);
        nx_pipeline_free(p);
    } else if (strncmp(e.msg, path, strlen(path)) != 0) {
        abort();
    }
    nx_config *c = nx_config_load(path, &e);
    if (c) {
        json_decref(nx_config_snapshot(c));
        nx_config_free(c);
    } else if (!strstr(e.msg, path)) {
        abort();
    }
    return 0;
}
