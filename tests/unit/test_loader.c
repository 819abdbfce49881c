/* Unit tests for core/loader.c (Check). */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "testutil.h"
#include "util.h"

#define MODDIR NX_TEST_BINDIR "/tests/modules"

/* ---- helpers ----------------------------------------------------------- */


/* Copy src to tu_dir/sub/name (sub made with dir_mode); the malloc'ed path. */
static char *copy_module(const char *src, const char *sub, int dir_mode, const char *name,
                         int file_mode)
{
    nx_err e = {{0}};
    char *dir = nx_path_join(tu_dir, sub);
    if (mkdir(dir, 0700) != 0)
        ck_assert_int_eq(errno, EEXIST);
    ck_assert_int_eq(chmod(dir, (mode_t)dir_mode), 0);
    char *data = NULL;
    size_t len = 0;
    ck_assert_msg(nx_read_file(src, &data, &len, 0, &e) == 0, "%s", e.msg);
    char *dst = nx_path_join(dir, name);
    ck_assert_msg(nx_write_file_atomic(dst, data, len, 0755, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(chmod(dst, (mode_t)file_mode), 0);
    free(data);
    free(dir);
    return dst;
}

/* nx_module_load must refuse `path`, naming it and saying `phrase`. */
static void expect_refused(const char *path, enum nx_kind kind, const char *phrase)
{
    nx_err e = {{0}};
    nx_module *m = nx_module_load(path, kind, &e);
    if (m)
        nx_module_unload(m);
    ck_assert_msg(m == NULL, "%s: loaded although it should be refused", path);
    ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "'%s' does not start with '%s'",
                  e.msg, path);
    ck_assert_msg(strstr(e.msg, phrase) != NULL, "'%s' lacks '%s'", e.msg, phrase);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message spans lines: '%s'", e.msg);
}

/* ---- success ----------------------------------------------------------- */

START_TEST(test_load_fake_step)
{
    nx_err e = {{0}};
    nx_module *m = nx_module_load(MODDIR "/fake_step.so", NX_STEP, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_str_eq(m->path, MODDIR "/fake_step.so");
    ck_assert_int_eq(m->kind, NX_STEP);
    ck_assert_ptr_nonnull(m->handle);
    ck_assert_ptr_null(m->driver);
    const struct nexo_step_module *d = m->step;
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(d->abi, NEXO_ABI_VERSION);
    ck_assert_uint_eq(d->size, sizeof(struct nexo_step_module));
    ck_assert_str_eq(d->name, "fake_step");
    ck_assert_str_eq(d->version, "1.0.0");
    ck_assert_uint_eq(d->flags, 0);
    ck_assert_ptr_nonnull(d->run);
    ck_assert_ptr_nonnull(d->undo);
    ck_assert_ptr_nonnull(d->validate);
    ck_assert_ptr_nonnull(d->plan);
    ck_assert_ptr_nonnull(d->commit);

    static const struct {
        const char *name, *def;
        unsigned flags;
    } want[] = {
        { "dir", NULL, NEXO_SETTING_REQUIRED },
        { "checkpoints", "0", 0 },
        { "fail", "none", 0 },
        { "kill", "none", 0 },
        { "sleep_ms", "0", 0 },
    };
    size_t n = 0;
    for (const struct nexo_setting *s = d->settings; s && s->name; s++, n++) {
        ck_assert_msg(n < sizeof want / sizeof want[0], "more settings than declared");
        ck_assert_str_eq(s->name, want[n].name);
        if (want[n].def)
            ck_assert_str_eq(s->default_value, want[n].def);
        else
            ck_assert_ptr_null(s->default_value);
        ck_assert_uint_eq(s->flags, want[n].flags);
        ck_assert_ptr_nonnull(s->help);
    }
    ck_assert_uint_eq(n, 5);
    nx_module_unload(m);
    nx_module_unload(NULL); /* a no-op */
}
END_TEST

START_TEST(test_load_fake_check)
{
    nx_err e = {{0}};
    nx_module *m = nx_module_load(MODDIR "/fake_check.so", NX_STEP, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_str_eq(m->step->name, "fake_check");
    ck_assert_uint_eq(m->step->flags, NEXO_STEP_PRECHECK);
    nx_module_unload(m);
}
END_TEST

START_TEST(test_load_copy_in_safe_folder)
{
    /* A 0755 folder under sticky, root-owned /tmp is fine. */
    char *p = copy_module(MODDIR "/fake_step.so", "safe", 0755, "fake_step.so", 0755);
    nx_err e = {{0}};
    nx_module *m = nx_module_load(p, NX_STEP, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_str_eq(m->step->name, "fake_step");
    nx_module_unload(m);
    free(p);
}
END_TEST

/* ---- refusals ---------------------------------------------------------- */

START_TEST(test_refuse_missing_file)
{
    expect_refused(MODDIR "/no_such_module.so", NX_STEP, "not found");
    expect_refused(MODDIR "/no_such_driver.so", NX_DRIVER, "driver module not found");
}
END_TEST

START_TEST(test_refuse_bad_abi)
{
    expect_refused(MODDIR "/bad_abi.so", NX_STEP, "not binary compatible");
    expect_refused(MODDIR "/bad_abi.so", NX_STEP, "ABI 99");
}
END_TEST

START_TEST(test_refuse_bad_small)
{
    expect_refused(MODDIR "/bad_small.so", NX_STEP, "not binary compatible");
    expect_refused(MODDIR "/bad_small.so", NX_STEP, "descriptor of 16 bytes");
    expect_refused(MODDIR "/bad_small.so", NX_STEP, "needs at least");
}
END_TEST

START_TEST(test_refuse_bad_big)
{
    char want[96];
    snprintf(want, sizeof want, "descriptor of %zu bytes",
             sizeof(struct nexo_step_module) + 64);
    expect_refused(MODDIR "/bad_big.so", NX_STEP, "not binary compatible");
    expect_refused(MODDIR "/bad_big.so", NX_STEP, want);
    expect_refused(MODDIR "/bad_big.so", NX_STEP, "upgrade nexo-update");
}
END_TEST

START_TEST(test_refuse_bad_name)
{
    expect_refused(MODDIR "/bad_name.so", NX_STEP, "calls itself");
    expect_refused(MODDIR "/bad_name.so", NX_STEP, "'another_name'");
    expect_refused(MODDIR "/bad_name.so", NX_STEP, "'bad_name.so'");
}
END_TEST

START_TEST(test_refuse_renamed_copy)
{
    /* The same good module under another file name. */
    char *p = copy_module(MODDIR "/fake_step.so", "ren", 0755, "other_step.so", 0755);
    expect_refused(p, NX_STEP, "calls itself 'fake_step'");
    free(p);
}
END_TEST

START_TEST(test_refuse_bad_noundo)
{
    expect_refused(MODDIR "/bad_noundo.so", NX_STEP, "lacks undo");
}
END_TEST

START_TEST(test_refuse_bad_version)
{
    expect_refused(MODDIR "/bad_version.so", NX_STEP, "not SemVer");
}
END_TEST

START_TEST(test_refuse_bad_unversioned)
{
    expect_refused(MODDIR "/bad_unversioned.so", NX_STEP, "NEXO_1");
}
END_TEST

START_TEST(test_refuse_bad_nosym)
{
    expect_refused(MODDIR "/bad_nosym.so", NX_STEP, "does not export");
    expect_refused(MODDIR "/bad_nosym.so", NX_STEP, NEXO_STEP_SYMBOL);
}
END_TEST

START_TEST(test_refuse_step_as_driver)
{
    expect_refused(MODDIR "/fake_step.so", NX_DRIVER, "does not export");
    expect_refused(MODDIR "/fake_step.so", NX_DRIVER, NEXO_DRIVER_SYMBOL);
}
END_TEST

START_TEST(test_refuse_group_writable_folder)
{
    char *p = copy_module(MODDIR "/fake_step.so", "gw", 0775, "fake_step.so", 0755);
    expect_refused(p, NX_STEP, "writable");
    expect_refused(p, NX_STEP, "folder is group-writable");
    char *dir = nx_path_join(tu_dir, "gw");
    expect_refused(p, NX_STEP, dir);
    free(dir);
    free(p);
}
END_TEST

START_TEST(test_refuse_world_writable_folder_not_sticky)
{
    char *p = copy_module(MODDIR "/fake_step.so", "ww", 0777, "fake_step.so", 0755);
    expect_refused(p, NX_STEP, "folder is world-writable");
    free(p);
}
END_TEST

START_TEST(test_refuse_writable_files)
{
    char *p = copy_module(MODDIR "/fake_step.so", "wf", 0755, "fake_step.so", 0757);
    expect_refused(p, NX_STEP, "writable");
    expect_refused(p, NX_STEP, "file is world-writable");
    ck_assert_int_eq(chmod(p, 0775), 0);
    expect_refused(p, NX_STEP, "file is group-writable");
    ck_assert_int_eq(chmod(p, 0755), 0);
    nx_err e = {{0}};
    nx_module *m = nx_module_load(p, NX_STEP, &e);
    ck_assert_msg(m != NULL, "after chmod 0755: %s", e.msg);
    nx_module_unload(m);
    free(p);
}
END_TEST

START_TEST(test_refuse_symlink_to_writable)
{
    /* The check follows symlinks to the real file. */
    char *p = copy_module(MODDIR "/fake_step.so", "wf", 0755, "fake_step.so", 0666);
    char *ln = copy_module(MODDIR "/fake_step.so", "link", 0755, "fake_step.so", 0755);
    ck_assert_int_eq(unlink(ln), 0);
    ck_assert_int_eq(symlink(p, ln), 0);
    expect_refused(ln, NX_STEP, "world-writable");
    free(ln);
    free(p);
}
END_TEST

START_TEST(test_refuse_foreign_owner)
{
    if (geteuid() != 0)
        return; /* only root can hand a file to someone else */
    char *p = copy_module(MODDIR "/fake_step.so", "own", 0755, "fake_step.so", 0755);
    ck_assert_int_eq(chown(p, 54321, 54321), 0);
    expect_refused(p, NX_STEP, "owned by uid 54321");
    free(p);
}
END_TEST

START_TEST(test_refuse_relative_path)
{
    expect_refused("fake_step.so", NX_STEP, "must be absolute");
    expect_refused("tests/modules/fake_step.so", NX_STEP, "must be absolute");
    expect_refused("./fake_step.so", NX_DRIVER, "must be absolute");
}
END_TEST

START_TEST(test_refuse_not_a_regular_file)
{
    char *d = nx_path_join(tu_dir, "dir.so");
    ck_assert_int_eq(mkdir(d, 0755), 0);
    expect_refused(d, NX_STEP, "not a regular file");
    free(d);
}
END_TEST

START_TEST(test_refuse_not_elf)
{
    char *p = nx_path_join(tu_dir, "junk.so");
    nx_err e = {{0}};
    ck_assert_int_eq(nx_write_file_atomic(p, "not an ELF file\n", 16, 0644, &e), 0);
    expect_refused(p, NX_STEP, "cannot load");
    free(p);
}
END_TEST

/* ---- secure path ------------------------------------------------------- */

START_TEST(test_check_secure_path)
{
    nx_err e = {{0}};
    ck_assert_msg(nx_check_secure_path(MODDIR "/fake_step.so", &e) == 0, "%s", e.msg);
    char *p = copy_module(MODDIR "/bad_abi.so", "gw2", 0770, "x.ini", 0644);
    ck_assert_int_eq(nx_check_secure_path(p, &e), -1);
    ck_assert_msg(strstr(e.msg, p) != NULL && strstr(e.msg, "group-writable") != NULL,
                  "'%s'", e.msg);
    char *missing = nx_path_join(tu_dir, "missing.ini");
    ck_assert_int_eq(nx_check_secure_path(missing, &e), -1);
    ck_assert_msg(strstr(e.msg, missing) != NULL, "'%s'", e.msg);
    free(missing);
    free(p);
}
END_TEST

/* ---- resolve ----------------------------------------------------------- */

START_TEST(test_resolve_names)
{
    nx_err e = {{0}};
    char *p = nx_module_resolve("/usr/lib/nexo-update", NX_STEP, "health_check", &e);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "/usr/lib/nexo-update/steps/health_check.so");
    free(p);
    p = nx_module_resolve("/usr/lib/nexo-update", NX_DRIVER, "pgsql", &e);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "/usr/lib/nexo-update/drivers/pgsql.so");
    free(p);
    p = nx_module_resolve("/m", NX_STEP, "a1_b2", &e);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "/m/steps/a1_b2.so");
    free(p);
    /* An absolute path is taken as it is. */
    p = nx_module_resolve("/m", NX_STEP, "/opt/x/My-Module.so", &e);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "/opt/x/My-Module.so");
    free(p);
    p = nx_module_resolve("/m", NX_DRIVER, "/opt/d.so", &e);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p, "/opt/d.so");
    free(p);
}
END_TEST

START_TEST(test_resolve_invalid)
{
    static const char *const bad[] = { "../x",  "x/y",      "Health",   "a-b", "a.so",
                                       "",      "with space", "./x",    "x\n",
                                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nx_err e = {{0}};
        char *p = nx_module_resolve("/m", NX_STEP, bad[i], &e);
        ck_assert_msg(p == NULL, "'%s' resolved to %s", bad[i], p);
        ck_assert_msg(strstr(e.msg, "invalid step module name") != NULL, "'%s'", e.msg);
        /* the name as given; a control character in it shown escaped
         * (nx_one_line: an error is one line) */
        char *q = nx_xasprintf("'%s'", strcmp(bad[i], "x\n") == 0 ? "x\\n" : bad[i]);
        ck_assert_msg(strstr(e.msg, q) != NULL, "'%s' lacks %s", e.msg, q);
        free(q);
    }
    nx_err e = {{0}};
    ck_assert_ptr_null(nx_module_resolve("/m", NX_DRIVER, "../x", &e));
    ck_assert_msg(strstr(e.msg, "invalid driver module name '../x'") != NULL, "'%s'", e.msg);
    /* 64 characters are fine. */
    char *p = nx_module_resolve(
        "/m", NX_STEP, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &e);
    ck_assert_ptr_nonnull(p);
    free(p);
}
END_TEST

START_TEST(test_resolve_then_load)
{
    /* A modules folder laid out like the installed one. */
    char *p = copy_module(MODDIR "/fake_step.so", "steps", 0755, "fake_step.so", 0755);
    nx_err e = {{0}};
    char *r = nx_module_resolve(tu_dir, NX_STEP, "fake_step", &e);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(r, p);
    nx_module *m = nx_module_load(r, NX_STEP, &e);
    ck_assert_msg(m != NULL, "%s", e.msg);
    ck_assert_str_eq(m->path, p);
    nx_module_unload(m);
    free(r);
    free(p);
}
END_TEST

static Suite *loader_suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("load");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_load_fake_step);
    tcase_add_test(tc, test_load_fake_check);
    tcase_add_test(tc, test_load_copy_in_safe_folder);
    suite_add_tcase(s, tc);

    tc = tcase_create("refuse");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_refuse_missing_file);
    tcase_add_test(tc, test_refuse_bad_abi);
    tcase_add_test(tc, test_refuse_bad_small);
    tcase_add_test(tc, test_refuse_bad_big);
    tcase_add_test(tc, test_refuse_bad_name);
    tcase_add_test(tc, test_refuse_renamed_copy);
    tcase_add_test(tc, test_refuse_bad_noundo);
    tcase_add_test(tc, test_refuse_bad_version);
    tcase_add_test(tc, test_refuse_bad_unversioned);
    tcase_add_test(tc, test_refuse_bad_nosym);
    tcase_add_test(tc, test_refuse_step_as_driver);
    tcase_add_test(tc, test_refuse_group_writable_folder);
    tcase_add_test(tc, test_refuse_world_writable_folder_not_sticky);
    tcase_add_test(tc, test_refuse_writable_files);
    tcase_add_test(tc, test_refuse_symlink_to_writable);
    tcase_add_test(tc, test_refuse_foreign_owner);
    tcase_add_test(tc, test_refuse_relative_path);
    tcase_add_test(tc, test_refuse_not_a_regular_file);
    tcase_add_test(tc, test_refuse_not_elf);
    tcase_add_test(tc, test_check_secure_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("resolve");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_resolve_names);
    tcase_add_test(tc, test_resolve_invalid);
    tcase_add_test(tc, test_resolve_then_load);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(loader_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
