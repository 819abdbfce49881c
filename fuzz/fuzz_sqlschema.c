/* libFuzzer target for the SQLite driver's reader of CREATE TABLE text
 * (drivers/sqlite/rebuild.c), which MODIFY_COLUMN rewrites: the first
 * byte picks the new column's type and options, the rest is the table's
 * SQL as sqlite_master holds it. Any text gives a definition or a clear
 * refusal naming the table. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakehost.h"
#include "sqlite_int.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct fakehost fh;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        fh_init(&fh, NULL);
        ready = 1;
    }
    if (size < 1)
        return 0;
    static const char *const names[] = { "c", "Name", "id", "x y" };
    unsigned k = data[0];
    struct nexo_column col = {
        .name = names[k & 3], .type = (enum nexo_coltype)(NEXO_T_TINYINT + (k >> 2) % 18),
        .is_unsigned = (k >> 4) & 1, .length = 10, .scale = 2, .nullable = (k >> 5) & 1,
        .default_value = (k & 0x40) ? "'d'" : NULL,
    };
    struct nexo_op op = { .kind = NEXO_OP_MODIFY_COLUMN, .table = "t", .columns = &col,
                          .ncolumns = 1, .modify_null = (k >> 6) & 1,
                          .modify_default = (k >> 7) & 1, .file = "fuzz.xml", .line = 1 };
    char *sql = nx_xstrndup((const char *)data + 1, size - 1);
    char *create = NULL;
    int autoinc = 0;
    fh.msg[0] = '\0';
    int rc = sq_new_definition(&fh.table, fh_ctx(&fh), &op, sql, "nexo_new_t", &create, &autoinc);
    if (rc == 0) {
        if (!create || strncmp(create, "CREATE TABLE \"nexo_new_t\" (", 27) != 0)
            abort();
        free(create);
    } else if (rc != 1 && !strstr(fh.msg, "modify_column")) {
        abort();
    }
    free(sql);
    return 0;
}
