#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

char tu_base[64];
char tu_dir[128];

void tu_base_setup(void)
{
    snprintf(tu_base, sizeof tu_base, "/tmp/nx-test-XXXXXX");
    ck_assert_msg(mkdtemp(tu_base) != NULL, "mkdtemp: %s", strerror(errno));
    ck_assert_int_eq(chmod(tu_base, 0755), 0);
}

void tu_base_teardown(void)
{
    nx_err e = {{0}};
    if (nx_rmtree(tu_base, &e) != 0)
        fprintf(stderr, "%s\n", e.msg);
}

void tu_tmp_setup(void)
{
    snprintf(tu_dir, sizeof tu_dir, "%s/t-XXXXXX", tu_base);
    ck_assert_msg(mkdtemp(tu_dir) != NULL, "mkdtemp: %s", strerror(errno));
    ck_assert_int_eq(chmod(tu_dir, 0755), 0);
}

void tu_tmp_teardown(void)
{
    nx_err e = {{0}};
    ck_assert_msg(nx_rmtree(tu_dir, &e) == 0, "rmtree: %s", e.msg);
}

char *tu_write(const char *name, const char *text)
{
    char *path = nx_path_join(tu_dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return path;
}

void tu_copy(const char *src, const char *dst)
{
    nx_err e = {{0}};
    char *data = NULL;
    size_t len = 0;
    ck_assert_msg(nx_read_file(src, &data, &len, 0, &e) == 0, "%s", e.msg);
    ck_assert_msg(nx_write_file_atomic(dst, data, len, 0755, &e) == 0, "%s", e.msg);
    free(data);
}
