/* libFuzzer target for packages as the extract step reads them
 * (steps/extract/unpack.c): any bytes as a package are refused naming it,
 * or their manifest is found and the payload unpacked into a folder of
 * our own, every entry checked against the manifest. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch.h"

#include "extract.h"
#include "fakehost.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fakehost fh;
static char pkg[80], stage[80];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pkg[0]) {
        fh_init(&fh, NULL);
        snprintf(pkg, sizeof pkg, "%s/nexo-fuzz-extract-%ld.pkg", fz_tmp(), (long)getpid());
        snprintf(stage, sizeof stage, "%s/nexo-fuzz-extract-%ld.d", fz_tmp(), (long)getpid());
    }
    FILE *f = fopen(pkg, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    if (xt_rmtree(stage) != 0 || mkdir(stage, 0700) != 0)
        abort();
    fh.msg[0] = '\0';
    fh.logbuf[0] = '\0';
    struct xt x;
    memset(&x, 0, sizeof x);
    x.h = &fh.table;
    x.c = fh_ctx(&fh);
    x.pkg = pkg;
    x.pkgfd = open(pkg, O_RDONLY | O_CLOEXEC);
    x.pkgsize = size;
    x.max_ratio = 100;
    x.dfd = -1;
    x.buf = nx_xmalloc(XT_BUFSIZE);
    if (x.pkgfd < 0)
        abort();
    int rc = xt_read_manifest(&x);
    if (rc == 0) {
        x.dfd = open(stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (x.dfd < 0)
            abort();
        rc = xt_unpack(&x);
    }
    if (rc != 0 && (strncmp(fh.msg, pkg, strlen(pkg)) != 0 || strchr(fh.msg, '\n'))) {
        fprintf(stderr, "fuzz_extract: the error does not name the package on one line: %s\n",
                fh.msg);
        abort();
    }
    xt_free(&x);
    return 0;
}
