/* libFuzzer target for packages as the verify step reads them
 * (steps/verify/verify.c): any bytes as a package give the manifest's
 * text, which is then parsed as verify does, or a refusal naming it. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scratch.h"

#include "fakehost.h"
#include "manifest.h"
#include "verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fakehost fh;
static char pkg[80];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pkg[0]) {
        fh_init(&fh, NULL);
        snprintf(pkg, sizeof pkg, "%s/nexo-fuzz-verify-%ld.pkg", fz_tmp(), (long)getpid());
    }
    FILE *f = fopen(pkg, "w");
    if (!f)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    fh.msg[0] = '\0';
    size_t len = 0;
    char *text = vf_manifest_text(&fh.table, fh_ctx(&fh), pkg, &len);
    if (!text) {
        if (strncmp(fh.msg, pkg, strlen(pkg)) != 0)
            abort();
        return 0;
    }
    if (strlen(text) > len)
        abort();
    nx_err e;
    nx_manifest_free(nx_manifest_parse(text, len, "fuzz.pkg:nexo-release.json", &e));
    free(text);
    return 0;
}
