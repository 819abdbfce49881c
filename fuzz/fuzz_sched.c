/* libFuzzer target for scheduled jobs, STATE/schedule/ID.json
 * (core/cli_schedule.c): any file is a job whose command reads as
 * run-due runs it and list shows it, or is refused naming the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0])
        snprintf(path, sizeof path, "%s/nexo-fuzz-sched-%ld.json", fz_tmp(), (long)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    nx_err e = { { 0 } };
    char *component = NULL, *text = NULL;
    const char *to = NULL;
    int major = 0;
    json_t *job = nx_sched_job_read(path, &component, &to, &major, &text, &e);
    if (!job) {
        if (strncmp(e.msg, path, strlen(path)) != 0)
            abort();
        return 0;
    }
    if (strcmp(component, "all") != 0 && strcmp(component, "core") != 0 &&
        strncmp(component, "plugin:", 7) != 0)
        abort();
    free(component);
    free(text);
    json_decref(job);
    return 0;
}
