/* The cache_clear step through the fake host. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "util.h"

static nx_module *mod;
static char root[64];
static char cache[128];
static char item[160];

static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/cache_clear.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(root, sizeof root, "/tmp/nx-cache-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(cache, sizeof cache, "%s/var/cache", root);
    snprintf(item, sizeof item, "%s/twig.php", cache);
    ck_assert_int_eq(nx_mkdirs(cache, 0755, &e), 0);
    chmod(cache, 0750);
    ck_assert_int_eq(nx_write_file_atomic(item, "x", 1, 0644, &e), 0);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(root, &e);
    nx_module_unload(mod);
}

static void host(struct fakehost *fh)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->info, "root", json_string(root));
}

static unsigned mode_of(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

START_TEST(run_empties_undo_restores)
{
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_int_ne(access(item, F_OK), 0);
    ck_assert_uint_eq(mode_of(cache), 0750);
    struct fakehost fresh;
    host(&fresh);
    json_object_update(fresh.state, fh.state);
    ck_assert_msg(fh_call(&fresh, "undo") == 0, "%s", fresh.msg);
    ck_assert_int_eq(access(item, F_OK), 0);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    ck_assert_int_eq(access(item, F_OK), 0);
    fh_free(&fh);
    fh_free(&fresh);
}
END_TEST

static void owner_of(const char *p, uid_t *uid, gid_t *gid)
{
    struct stat st;
    ck_assert_int_eq(lstat(p, &st), 0);
    *uid = st.st_uid;
    *gid = st.st_gid;
}

/* As root on a site owned by another user: the new cache folder is the
 * old one's owner's; on a root-owned site, as mkdir makes it. */
START_TEST(new_folder_keeps_owner)
{
    if (geteuid() != 0)
        return; /* chown needs root */
    ck_assert_int_eq(chown(root, 12345, 23456), 0);
    ck_assert_int_eq(chown(cache, 12345, 23456), 0);
    struct fakehost fh;
    host(&fh);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    uid_t u;
    gid_t g;
    owner_of(cache, &u, &g);
    ck_assert_uint_eq(u, 12345);
    ck_assert_uint_eq(g, 23456);
    ck_assert_uint_eq(mode_of(cache), 0750);
    ck_assert_msg(fh_call(&fh, "undo") == 0, "%s", fh.msg);
    ck_assert_int_eq(access(item, F_OK), 0);

    ck_assert_int_eq(chown(root, 0, 0), 0); /* root's site: left as made */
    struct fakehost again;
    host(&again);
    json_object_set_new(again.info, "update_id", json_string("second"));
    ck_assert_msg(fh_call(&again, "run") == 0, "%s", again.msg);
    owner_of(cache, &u, &g);
    ck_assert_uint_eq(u, 0);
    ck_assert_uint_eq(g, 0);
    fh_free(&fh);
    fh_free(&again);
}
END_TEST

START_TEST(commit_deletes_old)
{
    struct fakehost fh;
    host(&fh);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    char *aside = nx_xstrdup(json_string_value(json_object_get(fh.state, "aside")));
    ck_assert_int_eq(access(aside, F_OK), 0);
    ck_assert_msg(fh_call(&fh, "commit") == 0, "%s", fh.msg);
    ck_assert_int_ne(access(aside, F_OK), 0);
    ck_assert_int_eq(access(cache, F_OK), 0);
    free(aside);
    fh_free(&fh);
}
END_TEST

START_TEST(missing_and_bad_dir)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "dir", json_string("var/none"));
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    json_object_set_new(fh.settings, "dir", json_string("../x"));
    ck_assert_int_ne(fh_call(&fh, "validate"), 0);
    json_object_set_new(fh.settings, "dir", json_string("/tmp"));
    ck_assert_int_ne(fh_call(&fh, "validate"), 0);
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cache_clear");
    TCase *tc = tcase_create("cache_clear");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, run_empties_undo_restores);
    tcase_add_test(tc, new_folder_keeps_owner);
    tcase_add_test(tc, commit_deletes_old);
    tcase_add_test(tc, missing_and_bad_dir);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
