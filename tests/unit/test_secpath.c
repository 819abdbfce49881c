/* Unit tests for core/secpath.c: trusted files and folders (contracts §9).
 * Runs as root (the tests chown to uid 33) or skips those cases. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secpath.h"
#include "testutil.h"
#include "util.h"

/* tu_dir/name made with mode (chmod after mkdir: no umask); malloc'ed. */
static char *folder(const char *name, mode_t mode)
{
    char *p = nx_path_join(tu_dir, name);
    ck_assert_msg(mkdir(p, 0700) == 0, "%s: %s", p, strerror(errno));
    ck_assert_int_eq(chmod(p, mode), 0);
    return p;
}

#define REFUSED(call, what)                                                                   \
    do {                                                                                      \
        nx_err e_ = { { 0 } };                                                                \
        ck_assert_msg((call) != 0, "not refused: %s", #call);                                 \
        ck_assert_msg(strstr(e_.msg, what) != NULL, "'%s' not in: %s", what, e_.msg);        \
    } while (0)

START_TEST(test_private_folder_passes)
{
    char *d = folder("state", 0700);
    nx_err e;
    ck_assert_msg(nx_check_secure_dir(d, "[paths] state", 1, &e) == 0, "%s", e.msg);
    free(d);
}
END_TEST

START_TEST(test_writable_folder_refused_by_name)
{
    char *d = folder("state", 0777);
    char *want = nx_xasprintf("[paths] state: %s: refused: folder is world-writable (mode 0777)",
                              d);
    REFUSED(nx_check_secure_dir(d, "[paths] state", 0, &e_), want);
    ck_assert_int_eq(chmod(d, 0770), 0);
    REFUSED(nx_check_secure_dir(d, NULL, 0, &e_), "group-writable (mode 0770)");
    free(want);
    free(d);
}
END_TEST

/* A root-owned sticky folder passes above the checked folder (/tmp), never
 * as the checked folder itself or as one of its entries. */
START_TEST(test_sticky_only_as_ancestor)
{
    if (geteuid() != 0)
        return;
    char *d = folder("sticky", 01777);
    char *sub = nx_path_join(d, "state");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    nx_err e;
    ck_assert_msg(nx_check_secure_dir(sub, "[paths] state", 1, &e) == 0, "%s", e.msg);
    REFUSED(nx_check_secure_dir(d, "[paths] state", 0, &e_), "world-writable (mode 1777)");
    char *top = folder("top", 0700);
    char *entry = nx_path_join(top, "journal");
    ck_assert_int_eq(mkdir(entry, 0700), 0);
    ck_assert_int_eq(chmod(entry, 01777), 0);
    REFUSED(nx_check_secure_dir(top, "[paths] state", 1, &e_), "journal: refused");
    free(entry);
    free(top);
    free(sub);
    free(d);
}
END_TEST

START_TEST(test_entries)
{
    char *d = folder("state", 0700);
    char *f = nx_path_join(d, "lock");
    FILE *fp = fopen(f, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    ck_assert_int_eq(chmod(f, 0620), 0);
    nx_err e;
    ck_assert_msg(nx_check_secure_dir(d, NULL, 0, &e) == 0, "%s", e.msg);
    REFUSED(nx_check_secure_dir(d, NULL, 1, &e_), "lock: refused: file is group-writable");
    free(f);
    free(d);
}
END_TEST

START_TEST(test_foreign_owner)
{
    if (geteuid() != 0)
        return;
    char *d = folder("state", 0700);
    ck_assert_int_eq(chown(d, 33, 33), 0);
    REFUSED(nx_check_secure_dir(d, "[paths] state", 0, &e_), "owned by uid 33");
    char *above = folder("above", 0755);
    char *sub = nx_path_join(above, "x");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    ck_assert_int_eq(chown(above, 33, 33), 0);
    REFUSED(nx_check_secure_dir(sub, NULL, 0, &e_), "owned by uid 33");
    free(sub);
    free(above);
    free(d);
}
END_TEST

/* A link on the way lives in a folder others may write: they could point
 * it elsewhere. The folder as written is refused even though the link's
 * target and the folders above the target are safe. */
START_TEST(test_link_in_writable_folder)
{
    char *safe = folder("safe", 0755);
    char *open_ = folder("open", 0777);
    char *target = nx_path_join(safe, "state");
    ck_assert_int_eq(mkdir(target, 0700), 0);
    char *file = nx_path_join(safe, "m.so");
    FILE *fp = fopen(file, "w");
    ck_assert_ptr_nonnull(fp);
    fclose(fp);
    ck_assert_int_eq(chmod(file, 0644), 0);
    char *link = nx_path_join(open_, "via");
    ck_assert_int_eq(symlink(safe, link), 0);
    char *through = nx_path_join(link, "state");
    char *through_file = nx_path_join(link, "m.so");
    nx_err e;
    ck_assert_msg(nx_check_secure_dir(target, NULL, 0, &e) == 0, "%s", e.msg);
    ck_assert_msg(nx_check_secure_path(file, &e) == 0, "%s", e.msg);
    REFUSED(nx_check_secure_dir(through, NULL, 0, &e_), "open: refused: folder is world-writable");
    REFUSED(nx_check_secure_path(through_file, &e_), "open: refused: folder is world-writable");
    /* the checked folder itself may not be a link */
    REFUSED(nx_check_secure_dir(link, NULL, 0, &e_), "not a folder (a link or a file)");
    free(through_file);
    free(through);
    free(link);
    free(file);
    free(target);
    free(open_);
    free(safe);
}
END_TEST

START_TEST(test_relative_path)
{
    char *d = folder("rel", 0700);
    char cwd[4096];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tu_dir), 0);
    nx_err e;
    int rc = nx_check_secure_dir("rel", NULL, 1, &e);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_msg(rc == 0, "%s", e.msg);
    free(d);
}
END_TEST

static Suite *secpath_suite(void)
{
    Suite *s = suite_create("secpath");
    TCase *tc = tcase_create("dir");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_private_folder_passes);
    tcase_add_test(tc, test_writable_folder_refused_by_name);
    tcase_add_test(tc, test_sticky_only_as_ancestor);
    tcase_add_test(tc, test_entries);
    tcase_add_test(tc, test_foreign_owner);
    tcase_add_test(tc, test_link_in_writable_folder);
    tcase_add_test(tc, test_relative_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(secpath_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
