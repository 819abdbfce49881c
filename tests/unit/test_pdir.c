/* Unit tests for core/pdir.c: private folders reached only through a
 * descriptor the host checked (contracts §9). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pdir.h"
#include "testutil.h"
#include "util.h"

static char *made(const char *name, char id[64])
{
    char *p = nx_path_join(tu_dir, name);
    ck_assert_msg(mkdir(p, 0755) == 0, "%s: %s", p, strerror(errno));
    ck_assert_int_eq(chmod(p, 0755), 0);
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    nx_pdir_id(&st, id, 64);
    return p;
}

static void put(const char *dir, const char *name, const char *text)
{
    char *p = nx_path_join(dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    free(p);
}

/* The checked path leads into the folder made, and keeps leading there
 * after its name was taken by another folder. */
START_TEST(test_checked_path_survives_a_rename)
{
    char id[64], why[NX_ERRLEN];
    char *d = made("staging", id);
    put(d, "genuine.txt", "genuine");
    struct nx_pdirs p = { .n = 0 };
    const char *via = nx_pdir_get(&p, "staging_dir", d, id, why, sizeof why);
    ck_assert_msg(via != NULL, "%s", why);
    ck_assert_msg(strncmp(via, "/proc/self/fd/", 14) == 0, "%s", via);
    /* the site's owner renames it away and puts its own in its place */
    char *aside = nx_path_join(tu_dir, "aside");
    ck_assert_int_eq(rename(d, aside), 0);
    ck_assert_int_eq(mkdir(d, 0755), 0);
    put(d, "evil.txt", "evil");
    char *g = nx_path_join(via, "genuine.txt"), *x = nx_path_join(via, "evil.txt");
    ck_assert_int_eq(access(g, R_OK), 0);
    ck_assert_int_ne(access(x, F_OK), 0);
    /* asked again with the same path: the descriptor already checked */
    ck_assert_str_eq(nx_pdir_get(&p, "staging_dir", d, id, why, sizeof why), via);
    nx_pdirs_close(&p);
    /* a fresh process (recover): the replacement is refused by name */
    ck_assert_ptr_null(nx_pdir_get(&p, "staging_dir", d, id, why, sizeof why));
    ck_assert_msg(strstr(why, "refused: it is not the folder this update made") != NULL, "%s",
                  why);
    ck_assert_msg(strncmp(why, d, strlen(d)) == 0, "%s", why);
    nx_pdirs_close(&p);
    free(g);
    free(x);
    free(aside);
    free(d);
}
END_TEST

START_TEST(test_link_writable_foreign_refused)
{
    char id[64], why[NX_ERRLEN];
    char *d = made("staging", id);
    struct nx_pdirs p = { .n = 0 };
    ck_assert_int_eq(chmod(d, 0775), 0);
    ck_assert_ptr_null(nx_pdir_get(&p, "k", d, id, why, sizeof why));
    ck_assert_msg(strstr(why, "writable by group or others") != NULL, "%s", why);
    ck_assert_int_eq(chmod(d, 0755), 0);
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(d, 33, 33), 0);
        ck_assert_ptr_null(nx_pdir_get(&p, "k", d, id, why, sizeof why));
        ck_assert_msg(strstr(why, "no longer belongs to the running user") != NULL, "%s", why);
        ck_assert_int_eq(chown(d, 0, 0), 0);
    }
    char *real = nx_path_join(tu_dir, "real");
    ck_assert_int_eq(rename(d, real), 0);
    ck_assert_int_eq(symlink(real, d), 0); /* the name now a link to it */
    ck_assert_ptr_null(nx_pdir_get(&p, "k", d, id, why, sizeof why));
    ck_assert_msg(strstr(why, "replaced by something else") != NULL, "%s", why);
    nx_pdirs_close(&p);
    free(real);
    free(d);
}
END_TEST

START_TEST(test_messages_show_the_path)
{
    char id[64], why[NX_ERRLEN];
    char *d = made("staging", id);
    struct nx_pdirs p = { .n = 0 };
    const char *via = nx_pdir_get(&p, "staging_dir", d, id, why, sizeof why);
    ck_assert_ptr_nonnull(via);
    char msg[NX_ERRLEN];
    /* fd N must not be taken for fd N0 */
    snprintf(msg, sizeof msg, "%s/database/x.xml: bad; %s0/y stays", via, via);
    nx_pdir_unmask(&p, msg, sizeof msg);
    char *want = nx_xasprintf("%s/database/x.xml: bad; %s0/y stays", d, via);
    ck_assert_str_eq(msg, want);
    free(want);
    nx_pdirs_close(&p);
    free(d);
}
END_TEST

static Suite *pdir_suite(void)
{
    Suite *s = suite_create("pdir");
    TCase *tc = tcase_create("pdir");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_checked_path_survives_a_rename);
    tcase_add_test(tc, test_link_writable_foreign_refused);
    tcase_add_test(tc, test_messages_show_the_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pdir_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
