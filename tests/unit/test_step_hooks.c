/* The hooks step through the fake host. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"

static nx_module *mod;
static char tmp[64];
static char out[128];

static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/hooks.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(tmp, sizeof tmp, "/tmp/nx-hooks-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(out, sizeof out, "%s/out.log", tmp);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(tmp, &e);
    nx_module_unload(mod);
}

static void host(struct fakehost *fh, const char *event)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->settings, "event", json_string(event));
    json_object_set_new(fh->settings, "dir", json_string(tmp));
    json_object_set_new(fh->info, "root", json_string("/srv/site"));
    json_object_set_new(fh->info, "from_version", json_string("1.0.0"));
    json_object_set_new(fh->info, "to_version", json_string("1.1.0"));
    json_object_set_new(fh->info, "component", json_string("core"));
}

/* Write an executable hook EVENT.d/NAME with the body after "#!/bin/sh". */
static void hook_in(const char *base, const char *event, const char *name, const char *body,
                    mode_t mode)
{
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/%s.d", base, event);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static void hook(const char *event, const char *name, const char *body, mode_t mode)
{
    hook_in(tmp, event, name, body, mode);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(runs_in_order_with_environment)
{
    char body[512];
    snprintf(body, sizeof body, "echo b >> %s", out);
    hook("update.before", "20-b", body, 0755);
    snprintf(body, sizeof body, "echo a >> %s; env | grep '^NEXO_' | sort > %s/env.txt; "
                                "echo hello from a; if read x; then echo stdin-not-empty; fi; true", out, tmp);
    hook("update.before", "10-a", body, 0755);
    snprintf(body, sizeof body, "echo skipped >> %s", out);
    hook("update.before", "30-noexec", body, 0644);
    hook("update.before", ".hidden", body, 0755);
    hook("update.before", "40-old~", body, 0755);
    hook("update.before", "50-x.dpkg-old", body, 0755);
    struct fakehost fh;
    host(&fh, "update.before");
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_str_eq(slurp(out), "a\nb\n");
    char envf[128];
    snprintf(envf, sizeof envf, "%s/env.txt", tmp);
    const char *env = slurp(envf);
    ck_assert_ptr_nonnull(strstr(env, "NEXO_EVENT=update.before\n"));
    ck_assert_ptr_nonnull(strstr(env, "NEXO_FROM_VERSION=1.0.0\n"));
    ck_assert_ptr_nonnull(strstr(env, "NEXO_TO_VERSION=1.1.0\n"));
    ck_assert_ptr_nonnull(strstr(env, "NEXO_SITE_ROOT=/srv/site\n"));
    ck_assert_ptr_nonnull(strstr(env, "NEXO_UPDATE_ID=20260101-000000-00000000\n"));
    ck_assert_ptr_nonnull(strstr(env, "NEXO_COMPONENT=core\n"));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "10-a: hello from a"));
    ck_assert_ptr_null(strstr(fh.logbuf, "stdin-not-empty"));
    ck_assert_str_eq(json_string_value(json_object_get(fh.state, "hook")), "20-b");
    /* undo does not run anything */
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_str_eq(slurp(out), "a\nb\n");
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "not undone"));
    fh_free(&fh);
}
END_TEST

START_TEST(default_dir_is_next_to_config)
{
    char body[256], cf[128];
    snprintf(body, sizeof body, "echo after >> %s", out);
    snprintf(cf, sizeof cf, "%s/hooks", tmp);
    mkdir(cf, 0755);
    hook_in(cf, "update.after", "10-x", body, 0755);
    struct fakehost fh;
    host(&fh, "update.after");
    json_object_del(fh.settings, "dir");
    snprintf(cf, sizeof cf, "%s/nexo-update.ini", tmp);
    json_object_set_new(fh.info, "config_file", json_string(cf));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_str_eq(slurp(out), "after\n");
    fh_free(&fh);
}
END_TEST

START_TEST(nonzero_exit_fails_naming_hook)
{
    char body[256];
    snprintf(body, sizeof body, "echo c >> %s", out);
    hook("update.after", "10-bad", "echo oops >&2; exit 3", 0755);
    hook("update.after", "20-c", body, 0755);
    struct fakehost fh;
    host(&fh, "update.after");
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    char want[256];
    snprintf(want, sizeof want, "hook %s/update.after.d/10-bad exited with 3", tmp);
    ck_assert_msg(strstr(fh.msg, want) != NULL, "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "10-bad: oops"));
    ck_assert_str_eq(slurp(out), ""); /* 20-c never ran */
    fh_free(&fh);
}
END_TEST

START_TEST(timeout_kills)
{
    hook("update.before", "10-slow", "sleep 30; echo done", 0755);
    struct fakehost fh;
    host(&fh, "update.before");
    json_object_set_new(fh.settings, "timeout", json_string("1"));
    time_t t0 = time(NULL);
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_int_lt(time(NULL) - t0, 10);
    ck_assert_msg(strstr(fh.msg, "10-slow did not finish within 1 s") != NULL, "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

START_TEST(world_writable_refused)
{
    char body[256];
    snprintf(body, sizeof body, "echo ran >> %s", out);
    hook("update.before", "10-open", body, 0777);
    struct fakehost fh;
    host(&fh, "update.before");
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_msg(strstr(fh.msg, "10-open: refused") != NULL, "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.msg, "world-writable"));
    ck_assert_str_eq(slurp(out), "");
    fh_free(&fh);
}
END_TEST

START_TEST(missing_folder_is_fine)
{
    struct fakehost fh;
    host(&fh, "update.after");
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "does not exist"));
    fh_free(&fh);
}
END_TEST

START_TEST(rollback_after_runs_in_undo_only)
{
    char body[256];
    snprintf(body, sizeof body, "echo \"rb $NEXO_EVENT\" >> %s", out);
    hook("rollback.after", "10-rb", body, 0755);
    hook("rollback.after", "20-fails", "exit 2", 0755);
    struct fakehost fh;
    host(&fh, "rollback.after");
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_str_eq(slurp(out), "");
    ck_assert_int_eq(fh_call(&fh, "undo"), 0); /* the failing hook does not fail undo */
    ck_assert_str_eq(slurp(out), "rb rollback.after\n");
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "1:a rollback.after hook failed"));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "20-fails exited with 2"));
    fh_free(&fh);
}
END_TEST

START_TEST(validate_refuses)
{
    struct fakehost fh;
    host(&fh, "update.sometime");
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "event = update.sometime"));
    fh_free(&fh);
    host(&fh, "update.after");
    json_object_set_new(fh.settings, "timeout", json_string("soon"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "timeout = soon"));
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hooks");
    TCase *tc = tcase_create("hooks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, runs_in_order_with_environment);
    tcase_add_test(tc, default_dir_is_next_to_config);
    tcase_add_test(tc, nonzero_exit_fails_naming_hook);
    tcase_add_test(tc, timeout_kills);
    tcase_add_test(tc, world_writable_refused);
    tcase_add_test(tc, missing_folder_is_fine);
    tcase_add_test(tc, rollback_after_runs_in_undo_only);
    tcase_add_test(tc, validate_refuses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
