/* libFuzzer target for the record of automatic attempts, STATE/auto.json
 * (core/cli_auto.c): any file is a record (the decision for a version is
 * made) or refused naming the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nx_config *cfg;
static char rec[128];

static void setup(void)
{
    char dir[64];
    nx_err e;
    snprintf(dir, sizeof dir, "%s/nexo-fuzz-auto-%ld", fz_tmp(), (long)getpid());
    char *state = nx_path_join(dir, "state");
    char *jdir = nx_path_join(state, "journal");
    char *ini = nx_path_join(dir, "nexo-update.ini");
    char *jnl = nx_path_join(jdir, "20260101-000000-00000001.jnl");
    char *text = nx_xasprintf("[paths]\nstate = %s\n", state);
    const char *j = "{\"seq\":1,\"t\":1,\"ev\":\"begin\",\"id\":\"x\",\"info\":{\"component\":"
                    "\"core\",\"to_version\":\"1.1.0\"}}\n";
    if (nx_mkdirs(jdir, 0700, &e) != 0 || nx_write_file_atomic(ini, text, strlen(text), 0600, &e) ||
        nx_write_file_atomic(jnl, j, strlen(j), 0600, &e) || !(cfg = nx_config_load(ini, &e))) {
        fprintf(stderr, "fuzz_auto: %s\n", e.msg);
        abort();
    }
    snprintf(rec, sizeof rec, "%s/auto.json", state);
    free(state);
    free(jdir);
    free(ini);
    free(jnl);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cfg)
        setup();
    FILE *f = fopen(rec, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    static const char *const comps[] = { "core", "plugin:forum" };
    static const char *const vers[] = { "1.1.0", "2.0.0" };
    for (size_t i = 0; i < 2; i++) {
        nx_err e = { { 0 } };
        char *why = NULL;
        if (nx_auto_record_check(cfg, rec, comps[i], vers[i], &why, &e) != 0) {
            if (strncmp(e.msg, rec, strlen(rec)) != 0)
                abort();
            return 0;
        }
        free(why);
    }
    return 0;
}
