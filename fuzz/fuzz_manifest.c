/* libFuzzer target for nexo-release.json (core/manifest.c): any input
 * parses into a manifest that keeps every rule of manifest.h, or fails
 * with one line naming the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = nx_xstrndup((const char *)data, size);
    nx_err e = { { 0 } };
    nx_manifest *m = nx_manifest_parse(text, size, "fuzz.json", &e);
    if (!m) {
        if (strncmp(e.msg, "fuzz.json", 9) != 0 || strchr(e.msg, '\n')) {
            fprintf(stderr, "fuzz_manifest: not one line naming the file: %s\n", e.msg);
            abort();
        }
        free(text);
        return 0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < m->nentries; i++) {
        const nx_entry *en = &m->entries[i];
        if (!nx_manifest_path_ok(en->path) || nx_manifest_find(m, en->path) != en)
            abort();
        if (i > 0 && strcmp(m->entries[i - 1].path, en->path) >= 0)
            abort();
        if (en->type == NX_ENTRY_FILE) {
            total += en->size;
            if (strlen(en->sha256) != 64 || (en->mode & ~0777u))
                abort();
        } else if (en->type == NX_ENTRY_SYMLINK && !en->target) {
            abort();
        }
    }
    if (total != m->total_size || !m->component || !m->version)
        abort();
    nx_manifest_free(m);
    free(text);
    return 0;
}
