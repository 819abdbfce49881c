/* The maintenance step through the fake host. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"

static nx_module *mod;
static char root[64];
static char flag[128];

static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/maintenance.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(root, sizeof root, "/tmp/nx-maint-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(flag, sizeof flag, "%s/MAINTENANCE", root);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(root, &e);
    nx_module_unload(mod);
}

static void host(struct fakehost *fh, const char *action)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->settings, "action", json_string(action));
    json_object_set_new(fh->info, "root", json_string(root));
}

static json_t *flag_json(void)
{
    json_error_t je;
    json_t *j = json_load_file(flag, 0, &je);
    ck_assert_msg(j != NULL, "%s: %s", flag, je.text);
    return j;
}

START_TEST(on_writes_record_and_undo_removes)
{
    struct fakehost fh;
    host(&fh, "on");
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    json_t *j = flag_json();
    ck_assert_str_eq(json_string_value(json_object_get(j, "update_id")),
                     "20260101-000000-00000000");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(j, "message")), "updated"));
    ck_assert_int_eq(strlen(json_string_value(json_object_get(j, "since"))), 20);
    json_decref(j);
    ck_assert_str_eq(json_string_value(json_object_get(fh.state, "wrote")), "1");
    /* undo in a "fresh process": only the journaled state is kept */
    struct fakehost fresh;
    host(&fresh, "on");
    json_object_update(fresh.state, fh.state);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    ck_assert_int_ne(access(flag, F_OK), 0);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0); /* again: harmless */
    fh_free(&fh);
    fh_free(&fresh);
}
END_TEST

START_TEST(admins_own_file_is_left_alone)
{
    FILE *f = fopen(flag, "w");
    fputs("down for repairs\n", f);
    fclose(f);
    struct fakehost fh;
    host(&fh, "on");
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "already there"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(access(flag, F_OK), 0);
    struct fakehost off;
    host(&off, "off");
    ck_assert_int_eq(fh_call(&off, "run"), 0);
    ck_assert_int_eq(access(flag, F_OK), 0);
    char buf[64] = "";
    f = fopen(flag, "r");
    ck_assert_ptr_nonnull(fgets(buf, sizeof buf, f));
    fclose(f);
    ck_assert_str_eq(buf, "down for repairs\n");
    fh_free(&fh);
    fh_free(&off);
}
END_TEST

START_TEST(off_removes_and_undo_restores)
{
    struct fakehost on, off;
    host(&on, "on");
    json_object_set_new(on.settings, "message", json_string("back at 3"));
    ck_assert_int_eq(fh_call(&on, "run"), 0);
    host(&off, "off");
    ck_assert_int_eq(fh_call(&off, "run"), 0);
    ck_assert_int_ne(access(flag, F_OK), 0);
    ck_assert_int_eq(fh_call(&off, "undo"), 0);
    json_t *j = flag_json();
    ck_assert_str_eq(json_string_value(json_object_get(j, "message")), "back at 3");
    json_decref(j);
    ck_assert_int_eq(fh_call(&off, "undo"), 0);
    ck_assert_int_eq(fh_call(&on, "undo"), 0);
    ck_assert_int_ne(access(flag, F_OK), 0);
    fh_free(&on);
    fh_free(&off);
}
END_TEST

START_TEST(another_updates_file_is_not_removed)
{
    struct fakehost on, off;
    host(&on, "on");
    json_object_set_new(on.info, "update_id", json_string("other-update"));
    ck_assert_int_eq(fh_call(&on, "run"), 0);
    host(&off, "off");
    ck_assert_int_eq(fh_call(&off, "run"), 0);
    ck_assert_int_eq(access(flag, F_OK), 0);
    ck_assert_ptr_nonnull(strstr(off.logbuf, "not this update's"));
    fh_free(&on);
    fh_free(&off);
}
END_TEST

START_TEST(killed_before_writing)
{
    /* The journal says "wrote" but the process died before the file. */
    struct fakehost fh;
    host(&fh, "on");
    json_object_set_new(fh.state, "wrote", json_string("1"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_ne(access(flag, F_OK), 0);
    fh_free(&fh);
}
END_TEST

START_TEST(validate_refuses)
{
    struct fakehost fh;
    host(&fh, "sideways");
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "action = sideways"));
    fh_free(&fh);
    host(&fh, "on");
    json_object_set_new(fh.info, "root", json_string("/nonexistent/site"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "/nonexistent/site is not a folder"));
    fh_free(&fh);
    host(&fh, "on");
    json_object_del(fh.info, "root");
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "root is not set"));
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("maintenance");
    TCase *tc = tcase_create("maintenance");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, on_writes_record_and_undo_removes);
    tcase_add_test(tc, admins_own_file_is_left_alone);
    tcase_add_test(tc, off_removes_and_undo_restores);
    tcase_add_test(tc, another_updates_file_is_not_removed);
    tcase_add_test(tc, killed_before_writing);
    tcase_add_test(tc, validate_refuses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
