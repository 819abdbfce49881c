/* libFuzzer target for a backup's files archive as the restore step
 * unpacks it (steps/restore/restore.c): any bytes are refused naming the
 * archive, or unpacked into our staging folder and nowhere else. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch.h"

#include "fakehost.h"
#include "restore.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fakehost fh;
static char archive[80], stage[80];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!archive[0]) {
        fh_init(&fh, NULL);
        snprintf(archive, sizeof archive, "%s/nexo-fuzz-restore-%ld.tar.zst", fz_tmp(),
                 (long)getpid());
        snprintf(stage, sizeof stage, "%s/nexo-fuzz-restore-%ld.d", fz_tmp(), (long)getpid());
    }
    FILE *f = fopen(archive, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    if (fz_rmtree(stage) != 0 || mkdir(stage, 0700) != 0)
        abort();
    fh.msg[0] = '\0';
    fh.logbuf[0] = '\0';
    unsigned long n = 0;
    int rc = rs_unpack(&fh.table, fh_ctx(&fh), archive, stage, ".env var", &n);
    if (rc != 0 && strncmp(fh.msg, archive, strlen(archive)) != 0 &&
        strncmp(fh.msg, stage, strlen(stage)) != 0)
        abort();
    return 0;
}
