/* Unit tests for steps/lib/migpath.c: the migration path over
 * upgrade_A_B.xml files (spec Appendix C) (Check). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig.h"
#include "testutil.h"
#include "util.h"

/* ---- helpers ----------------------------------------------------------- */

/* A minimal valid migration file dir/upgrade_FROM_TO.xml. */
static void mig(const char *from, const char *to)
{
    char *name = nx_xasprintf("upgrade_%s_%s.xml", from, to);
    char *text = nx_xasprintf("<?xml version=\"1.0\"?>\n<upgrade from=\"%s\" to=\"%s\"/>\n", from, to);
    free(tu_write(name, text));
    free(text);
    free(name);
}

/* Files for "A B C ..." as steps A→B, B→C, ... */
static void chain(const char *versions)
{
    char *copy = nx_xstrdup(versions), *save = NULL;
    const char *prev = strtok_r(copy, " ", &save);
    for (const char *v = strtok_r(NULL, " ", &save); v; v = strtok_r(NULL, " ", &save)) {
        mig(prev, v);
        prev = v;
    }
    free(copy);
}

/* The path from..to must go through exactly `want` ("1.0.0 1.1.0 ..."). */
static void expect_path(const char *from, const char *to, const char *want)
{
    nx_mig_path p;
    nx_err e = {{0}};
    ck_assert_msg(nx_mig_find_path(tu_dir, from, to, &p, &e) == 0, "%s", e.msg);
    char *got = nx_xstrdup(p.versions[0]);
    for (size_t i = 0; i < p.n; i++) {
        char *file = nx_xasprintf("%s/upgrade_%s_%s.xml", tu_dir, p.versions[i], p.versions[i + 1]);
        ck_assert_str_eq(p.files[i], file);
        free(file);
        char *next = nx_xasprintf("%s %s", got, p.versions[i + 1]);
        free(got);
        got = next;
    }
    ck_assert_str_eq(got, want);
    free(got);
    nx_mig_path_free(&p);
}

static void expect_error(const char *from, const char *to, const char *needle)
{
    nx_mig_path p;
    nx_err e = {{0}};
    ck_assert_msg(nx_mig_find_path(tu_dir, from, to, &p, &e) != 0, "found a path %s → %s", from, to);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "'%s' lacks '%s'", e.msg, needle);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "message spans lines: '%s'", e.msg);
    ck_assert_ptr_null(p.files);
    ck_assert_ptr_null(p.versions);
    ck_assert_uint_eq(p.n, 0);
    nx_mig_path_free(&p);
}

/* ---- paths ------------------------------------------------------------------- */

START_TEST(test_chain_in_order)
{
    chain("1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0");
    expect_path("1.0.0", "1.5.0", "1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0");
    expect_path("1.2.0", "1.4.0", "1.2.0 1.3.0 1.4.0");
    expect_path("1.4.0", "1.5.0", "1.4.0 1.5.0");
}
END_TEST

/* Every file of the path loads and says what its name says. */
START_TEST(test_path_files_load)
{
    chain("1.0.0 1.1.0 1.2.0");
    nx_mig_path p;
    nx_err e = {{0}};
    ck_assert_msg(nx_mig_find_path(tu_dir, "1.0.0", "1.2.0", &p, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(p.n, 2);
    for (size_t i = 0; i < p.n; i++) {
        nx_mig *m = nx_mig_load(p.files[i], 0, &e);
        ck_assert_msg(m != NULL, "%s", e.msg);
        ck_assert_str_eq(m->from, p.versions[i]);
        ck_assert_str_eq(m->to, p.versions[i + 1]);
        nx_mig_free(m);
    }
    nx_mig_path_free(&p);
}
END_TEST

START_TEST(test_direct_file_preferred)
{
    chain("1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0");
    mig("1.0.0", "1.5.0");
    expect_path("1.0.0", "1.5.0", "1.0.0 1.5.0");
    expect_path("1.1.0", "1.5.0", "1.1.0 1.2.0 1.3.0 1.4.0 1.5.0");
}
END_TEST

/* Fewest files first, whatever the versions. */
START_TEST(test_fewest_files)
{
    chain("1.0.0 1.1.0 1.2.0 1.3.0 2.0.0");
    chain("1.0.0 1.9.0 2.0.0");
    expect_path("1.0.0", "2.0.0", "1.0.0 1.9.0 2.0.0");
    chain("1.1.0 1.3.0");
    expect_path("1.0.0", "1.3.0", "1.0.0 1.1.0 1.3.0");
}
END_TEST

/* Equal length: the smallest intermediate versions, from the first step. */
START_TEST(test_tie_rule)
{
    chain("1.0.0 1.2.0 1.5.0");
    chain("1.0.0 1.1.0 1.5.0");
    expect_path("1.0.0", "1.5.0", "1.0.0 1.1.0 1.5.0");
}
END_TEST

START_TEST(test_tie_rule_first_step_decides)
{
    chain("1.0.0 1.2.0 1.3.0 2.0.0");
    chain("1.0.0 1.1.0 1.9.0 2.0.0");
    expect_path("1.0.0", "2.0.0", "1.0.0 1.1.0 1.9.0 2.0.0");
}
END_TEST

START_TEST(test_tie_rule_later_step)
{
    chain("1.0.0 1.1.0 1.3.0 2.0.0");
    chain("1.1.0 1.2.0 2.0.0");
    chain("1.0.0 1.4.0 1.5.0 2.0.0");
    expect_path("1.0.0", "2.0.0", "1.0.0 1.1.0 1.2.0 2.0.0");
}
END_TEST

/* The result does not depend on the order the folder lists its files. */
START_TEST(test_deterministic)
{
    const char *steps[][2] = {{"1.0.0", "1.3.0"}, {"1.0.0", "1.1.0"}, {"1.0.0", "1.2.0"},
                              {"1.2.0", "2.0.0"}, {"1.3.0", "2.0.0"}, {"1.1.0", "2.0.0"}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        mig(steps[i][0], steps[i][1]);
    for (int k = 0; k < 3; k++)
        expect_path("1.0.0", "2.0.0", "1.0.0 1.1.0 2.0.0");
}
END_TEST

START_TEST(test_backwards_files_ignored)
{
    chain("1.0.0 1.1.0 1.2.0");
    mig("1.1.0", "1.0.0");
    mig("1.2.0", "1.0.0");
    mig("1.1.0", "1.1.0");
    mig("1.2.0", "1.1.0+build.5");
    expect_path("1.0.0", "1.2.0", "1.0.0 1.1.0 1.2.0");
    expect_error("1.2.0", "1.1.0", "migrations only go forward");
}
END_TEST

START_TEST(test_only_backwards_files)
{
    /* files that do not go forward are no migrations: none lies between
     * 1.0.0 and 1.1.0, so the schema does not change */
    mig("1.1.0", "1.0.0");
    mig("1.0.0", "1.0.0");
    expect_path("1.0.0", "1.1.0", "1.0.0");
}
END_TEST

START_TEST(test_no_file_between_is_no_change)
{
    /* a release without schema changes needs no migration file */
    chain("1.0.0 1.1.0 1.2.0");
    expect_path("1.2.0", "1.3.0", "1.2.0");
    expect_path("1.2.0", "2.0.0", "1.2.0");
    /* but a file inside the interval that the path cannot reach is an error */
    mig("1.3.0", "1.4.0");
    expect_error("1.2.0", "1.4.0", "(reachable from 1.2.0: none)");
}
END_TEST

START_TEST(test_no_path_names_reachable)
{
    chain("1.0.0 1.1.0 1.2.0");
    chain("1.3.0 1.4.0 1.5.0");
    mig("0.9.0", "1.0.0");
    char *want = nx_xasprintf("no migration path from 1.0.0 to 1.5.0 in %s (reachable from 1.0.0: "
                              "1.1.0, 1.2.0)", tu_dir);
    expect_error("1.0.0", "1.5.0", want);
    free(want);
}
END_TEST

START_TEST(test_no_path_past_target)
{
    chain("1.0.0 1.1.0 2.0.0");
    expect_error("1.0.0", "1.5.0", "(reachable from 1.0.0: 1.1.0, 2.0.0)");
}
END_TEST

START_TEST(test_from_equals_to)
{
    nx_mig_path p;
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mig_find_path("/nonexistent/folder", "1.2.0", "1.2.0", &p, &e), 0);
    ck_assert_uint_eq(p.n, 0);
    ck_assert_ptr_nonnull(p.files);
    ck_assert_str_eq(p.versions[0], "1.2.0");
    nx_mig_path_free(&p);
    chain("1.0.0 1.2.0");
    ck_assert_int_eq(nx_mig_find_path(tu_dir, "1.2.0", "1.2.0+b7", &p, &e), 0);
    ck_assert_uint_eq(p.n, 0);
    nx_mig_path_free(&p);
    nx_mig_path_free(&p);
}
END_TEST

START_TEST(test_not_semver)
{
    chain("1.0.0 1.1.0");
    expect_error("1.0", "1.1.0", "invalid version \"1.0\"");
    expect_error("1.0.0", "v1.1.0", "to: invalid version \"v1.1.0\"");
    expect_error("", "1.1.0", "from: invalid version");
}
END_TEST

START_TEST(test_missing_folder)
{
    nx_mig_path p;
    nx_err e = {{0}};
    ck_assert_int_eq(nx_mig_find_path("/nonexistent/folder", "1.0.0", "1.1.0", &p, &e), -1);
    ck_assert_msg(strstr(e.msg, "/nonexistent/folder: cannot open"), "'%s'", e.msg);
}
END_TEST

START_TEST(test_other_files_skipped)
{
    chain("1.0.0 1.1.0");
    free(tu_write("README.md", "x"));
    free(tu_write("upgrade_1.0.0_1.1.0.xml.bak", "x"));
    free(tu_write("Upgrade_1.0.0_1.1.0.xml", "x"));
    free(tu_write("install.xml", "x"));
    free(tu_write("notes_upgrade_1.0_1.1.xml", "x"));
    expect_path("1.0.0", "1.1.0", "1.0.0 1.1.0");
}
END_TEST

static void bad_name(const char *name, const char *needle)
{
    free(tu_write(name, "<upgrade/>"));
    char *want = nx_xasprintf("%s/%s: %s", tu_dir, name, needle);
    expect_error("1.0.0", "1.1.0", want);
    free(want);
    char *path = nx_path_join(tu_dir, name);
    ck_assert_int_eq(remove(path), 0);
    free(path);
}

START_TEST(test_bad_file_names)
{
    chain("1.0.0 1.1.0");
    bad_name("upgrade_1.0_1.1.xml", "bad migration file name: invalid version \"1.0\"");
    bad_name("upgrade_1.0.0_01.1.0.xml", "bad migration file name: invalid version \"01.1.0\"");
    bad_name("upgrade_notes.xml", "not a migration file name upgrade_FROM_TO.xml");
    bad_name("upgrade_1.0.0_1.1.0_2.0.0.xml", "not a migration file name");
    bad_name("upgrade__1.1.0.xml", "not a migration file name");
    bad_name("upgrade_.xml", "not a migration file name");
    expect_path("1.0.0", "1.1.0", "1.0.0 1.1.0");
}
END_TEST

START_TEST(test_folder_named_like_a_file)
{
    chain("1.0.0 1.1.0");
    char *d = nx_path_join(tu_dir, "upgrade_1.1.0_1.2.0.xml");
    ck_assert_int_eq(mkdir(d, 0755), 0);
    expect_error("1.0.0", "1.1.0", "upgrade_1.1.0_1.2.0.xml: not a regular file");
    ck_assert_int_eq(rmdir(d), 0);
    free(d);
}
END_TEST

/* Pre-releases come before their release; numeric identifiers compare as
 * numbers (rc.2 < rc.10), not as text. */
START_TEST(test_prerelease_order)
{
    chain("1.0.0-alpha 1.0.0-alpha.1 1.0.0-beta 1.0.0-rc.2 1.0.0-rc.10 1.0.0");
    mig("1.0.0-rc.10", "1.0.0-rc.2");
    mig("1.0.0", "1.0.0-rc.10");
    expect_path("1.0.0-alpha", "1.0.0", "1.0.0-alpha 1.0.0-alpha.1 1.0.0-beta 1.0.0-rc.2 1.0.0-rc.10 1.0.0");
    expect_path("1.0.0-rc.2", "1.0.0", "1.0.0-rc.2 1.0.0-rc.10 1.0.0");
    expect_error("1.0.0-rc.10", "1.0.0-rc.2", "migrations only go forward");
}
END_TEST

START_TEST(test_prerelease_tie)
{
    chain("0.9.0 1.0.0-rc.1 1.0.0");
    chain("0.9.0 1.0.0-beta 1.0.0");
    expect_path("0.9.0", "1.0.0", "0.9.0 1.0.0-beta 1.0.0");
}
END_TEST

/* Versions are equal by precedence: build metadata in the version asked
 * for still finds the files; two files for one step are an error. */
START_TEST(test_build_metadata)
{
    chain("1.0.0 1.1.0 1.2.0");
    nx_mig_path p;
    nx_err e = {{0}};
    ck_assert_msg(nx_mig_find_path(tu_dir, "1.0.0+b1", "1.2.0+b9", &p, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(p.n, 2);
    ck_assert_str_eq(p.versions[0], "1.0.0+b1");
    ck_assert_str_eq(p.versions[1], "1.1.0");
    ck_assert_str_eq(p.versions[2], "1.2.0+b9");
    nx_mig_path_free(&p);
    mig("1.0.0+x", "1.1.0");
    expect_error("1.0.0", "1.2.0", "upgrade_1.0.0+x_1.1.0.xml and upgrade_1.0.0_1.1.0.xml both "
                 "migrate from 1.0.0+x to 1.1.0");
}
END_TEST

static Suite *migpath_suite(void)
{
    Suite *s = suite_create("migpath");
    TCase *tc = tcase_create("path");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_chain_in_order);
    tcase_add_test(tc, test_path_files_load);
    tcase_add_test(tc, test_direct_file_preferred);
    tcase_add_test(tc, test_fewest_files);
    tcase_add_test(tc, test_tie_rule);
    tcase_add_test(tc, test_tie_rule_first_step_decides);
    tcase_add_test(tc, test_tie_rule_later_step);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_backwards_files_ignored);
    tcase_add_test(tc, test_prerelease_order);
    tcase_add_test(tc, test_prerelease_tie);
    tcase_add_test(tc, test_build_metadata);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, tu_tmp_setup, tu_tmp_teardown);
    tcase_add_test(tc, test_only_backwards_files);
    tcase_add_test(tc, test_no_file_between_is_no_change);
    tcase_add_test(tc, test_no_path_names_reachable);
    tcase_add_test(tc, test_no_path_past_target);
    tcase_add_test(tc, test_from_equals_to);
    tcase_add_test(tc, test_not_semver);
    tcase_add_test(tc, test_missing_folder);
    tcase_add_test(tc, test_other_files_skipped);
    tcase_add_test(tc, test_bad_file_names);
    tcase_add_test(tc, test_folder_named_like_a_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(migpath_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
