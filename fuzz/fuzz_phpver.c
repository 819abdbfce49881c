/* libFuzzer target for the version.php reader: any input must either parse
 * or fail with a one-line "name:LINE: ..." message, without crashing,
 * leaking or reading out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phpver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nx_err e = { { 0 } };
    json_t *v = nx_phpver_parse((const char *)data, size, "fuzz.php", &e);
    if (v) {
        /* the result must be serialisable (valid UTF-8 everywhere) */
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!s)
            abort();
        free(s);
        json_decref(v);
    } else if (strncmp(e.msg, "fuzz.php:", 9) != 0 || strchr(e.msg, '\n')) {
        abort();
    }
    return 0;
}
