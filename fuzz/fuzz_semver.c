/* libFuzzer target for SemVer versions and ranges: "VERSION\nRANGE". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "semver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = nx_xstrndup((const char *)data, size);
    char *nl = strchr(buf, '\n');
    const char *range = "";
    if (nl) {
        *nl = '\0';
        range = nl + 1;
    }
    nx_err e;
    nx_semver a, b;
    if (nx_semver_parse(buf, &a, &e) == 0) {
        char *txt = nx_semver_str(&a);
        /* canonical text parses to an equal version */
        if (nx_semver_parse(txt, &b, &e) != 0 || nx_semver_cmp(&a, &b) != 0)
            abort();
        nx_semver_free(&b);
        free(txt);
        uint64_t code;
        (void)nx_version_code(&a, &code, &e);
        nx_range *r = NULL;
        if (nx_range_parse(range, &r, &e) == 0) {
            (void)nx_range_match(r, &a);
            nx_range_free(r);
        }
        nx_semver_free(&a);
    }
    if (nx_semver_parse_loose(buf, &a, &e) == 0)
        nx_semver_free(&a);
    free(buf);
    return 0;
}
