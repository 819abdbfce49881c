/* The replace_files step through the fake host. */
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
static char staging[160];

static void put(const char *rel, const char *text, int mode)
{
    char *p = nx_path_join(root, rel);
    char *d = nx_dirname(p);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(d, 0755, &e), 0);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    chmod(p, (mode_t)mode);
    free(d);
    free(p);
}

static char *get(const char *rel)
{
    char *p = nx_path_join(root, rel);
    char *text = NULL;
    size_t len;
    nx_err e;
    if (nx_read_file(p, &text, &len, 1 << 20, &e) != 0)
        text = NULL;
    free(p);
    return text;
}

static void is(const char *rel, const char *want)
{
    char *t = get(rel);
    ck_assert_msg(t != NULL, "%s missing", rel);
    ck_assert_str_eq(t, want);
    free(t);
}

static int there(const char *rel)
{
    char *p = nx_path_join(root, rel);
    int r = access(p, F_OK) == 0;
    free(p);
    return r;
}

static unsigned long long ino(const char *rel)
{
    char *p = nx_path_join(root, rel);
    struct stat st;
    unsigned long long r = lstat(p, &st) == 0 ? (unsigned long long)st.st_ino : 0;
    free(p);
    return r;
}

static unsigned mode_of(const char *rel)
{
    char *p = nx_path_join(root, rel);
    struct stat st;
    unsigned r = lstat(p, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
    free(p);
    return r;
}

/* Site: core (old), database (dropped by the release), public_html with
 * uploads (preserved); staging: core, public_html, resources (new). */
static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/replace_files.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(root, sizeof root, "/tmp/nx-repl-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(staging, sizeof staging, "%s/.nexo-staging-x", root);
    put("core/version.php", "1.0", 0644);
    put("database/schema.sql", "old schema", 0600);
    put("public_html/index.php", "old index", 0644);
    put("public_html/uploads/a.png", "upload", 0644);
    put(".env", "SECRET=1", 0600);
    put(".nexo-staging-x/core/version.php", "1.1", 0640);
    put(".nexo-staging-x/core/new.php", "new", 0755);
    put(".nexo-staging-x/public_html/index.php", "new index", 0644);
    put(".nexo-staging-x/resources/r.txt", "res", 0644);
    chmod(staging, 0700);
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
    json_object_set_new(fh->shared, "staging_dir", json_string(staging));
    json_object_set_new(fh->settings, "preserve", json_string(".env var public_html/uploads"));
}

static void is_old(unsigned long long core_ino)
{
    is("core/version.php", "1.0");
    ck_assert(!there("core/new.php"));
    is("database/schema.sql", "old schema");
    ck_assert_uint_eq(mode_of("database/schema.sql"), 0600);
    is("public_html/index.php", "old index");
    is("public_html/uploads/a.png", "upload");
    ck_assert(!there("resources"));
    is(".env", "SECRET=1");
    ck_assert_uint_eq(ino("core"), core_ino);
    is(".nexo-staging-x/core/version.php", "1.1");
}

static void is_new(void)
{
    is("core/version.php", "1.1");
    ck_assert_uint_eq(mode_of("core/version.php"), 0640);
    ck_assert_uint_eq(mode_of("core/new.php"), 0755);
    is("public_html/index.php", "new index");
    is("public_html/uploads/a.png", "upload");
    is("resources/r.txt", "res");
    ck_assert(!there("database"));
    is(".env", "SECRET=1");
}

static void run_undo(const char *exchange)
{
    unsigned long long core_ino = ino("core");
    struct fakehost fh;
    host(&fh);
    if (exchange)
        json_object_set_new(fh.settings, "exchange", json_string(exchange));
    ck_assert_msg(fh_call(&fh, "validate") == 0, "%s", fh.msg);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    is_new();
    ck_assert_uint_eq(fh.checkpoints, 4);
    struct fakehost fresh;
    host(&fresh);
    json_object_update(fresh.state, fh.state);
    ck_assert_msg(fh_call(&fresh, "undo") == 0, "%s", fresh.msg);
    is_old(core_ino);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0); /* again: harmless */
    is_old(core_ino);
    fh_free(&fh);
    fh_free(&fresh);
}

START_TEST(swap_and_undo)
{
    run_undo(NULL);
}
END_TEST

START_TEST(fallback_and_undo)
{
    run_undo("rename");
}
END_TEST

START_TEST(crash_then_undo_in_fresh_process)
{
    unsigned long long core_ino = ino("core");
    struct fakehost fh;
    host(&fh);
    fh.fail_at_checkpoint = 2;
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EINJECTED);
    is("core/version.php", "1.1");
    is("public_html/index.php", "new index");
    ck_assert(!there("resources"));
    struct fakehost fresh;
    host(&fresh);
    json_object_clear(fresh.shared);
    json_object_update(fresh.state, fh.state);
    ck_assert_msg(fh_call(&fresh, "undo") == 0, "%s", fresh.msg);
    is_old(core_ino);
    fh_free(&fh);
    fh_free(&fresh);
}
END_TEST

START_TEST(commit_removes_old_trees)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "exchange", json_string("auto"));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert(there(".nexo-staging-x/core/version.php"));
    ck_assert_msg(fh_call(&fh, "commit") == 0, "%s", fh.msg);
    is_new();
    ck_assert(!there(".nexo-staging-x/core"));
    ck_assert(!there(".nexo-staging-x/public_html"));
    ck_assert(!there(".nexo-staging-x/.nexo-removed-3"));
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    fh_free(&fh);
}
END_TEST

START_TEST(validate_refuses_bad_paths)
{
    const char *bad[] = { "/etc", "core ../x", ".", "core core/lib", "a//b", "var" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct fakehost fh;
        host(&fh);
        json_object_set_new(fh.settings, "managed", json_string(bad[i]));
        ck_assert_msg(fh_call(&fh, "validate") != 0, "accepted %s", bad[i]);
        fh_free(&fh);
    }
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "exchange", json_string("maybe"));
    ck_assert_int_ne(fh_call(&fh, "validate"), 0);
    fh_free(&fh);
}
END_TEST

/* A plugin: component_dir is the one managed path, whatever [site]
 * managed and preserve say (modules/plugins is preserved from core). */
static void plugin_host(struct fakehost *fh)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->info, "root", json_string(root));
    json_object_set_new(fh->info, "component", json_string("plugin:forum"));
    json_object_set_new(fh->info, "component_dir", json_string("modules/plugins/forum"));
    json_object_set_new(fh->shared, "staging_dir", json_string(staging));
    json_object_set_new(fh->config, "site.managed", json_string("core public_html"));
    json_object_set_new(fh->config, "site.preserve", json_string(".env var modules/plugins"));
}

START_TEST(plugin_folder_swap_and_undo)
{
    put("modules/plugins/forum/version.php", "forum 1.0", 0644);
    put("modules/plugins/forum/old.php", "old", 0644);
    put("modules/plugins/other/version.php", "other 3.0", 0644);
    put(".nexo-staging-x/modules/plugins/forum/version.php", "forum 1.2", 0644);
    put(".nexo-staging-x/modules/plugins/forum/lib/new.php", "new", 0640);
    unsigned long long forum_ino = ino("modules/plugins/forum");
    unsigned long long core_ino = ino("core");
    struct fakehost fh;
    plugin_host(&fh);
    ck_assert_msg(fh_call(&fh, "validate") == 0, "%s", fh.msg);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "would replace"));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "/modules/plugins/forum with the staged one"));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_uint_eq(fh.checkpoints, 1);
    is("modules/plugins/forum/version.php", "forum 1.2");
    is("modules/plugins/forum/lib/new.php", "new");
    ck_assert(!there("modules/plugins/forum/old.php"));
    is("modules/plugins/other/version.php", "other 3.0");
    is("core/version.php", "1.0");
    ck_assert_uint_eq(ino("core"), core_ino);
    is(".nexo-staging-x/core/version.php", "1.1"); /* core's staged tree: not touched */
    struct fakehost fresh;
    plugin_host(&fresh);
    json_object_clear(fresh.shared);
    json_object_update(fresh.state, fh.state);
    ck_assert_msg(fh_call(&fresh, "undo") == 0, "%s", fresh.msg);
    is("modules/plugins/forum/version.php", "forum 1.0");
    is("modules/plugins/forum/old.php", "old");
    ck_assert(!there("modules/plugins/forum/lib"));
    ck_assert_uint_eq(ino("modules/plugins/forum"), forum_ino);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    is("modules/plugins/forum/version.php", "forum 1.0");
    /* run again and commit: the old folder goes */
    struct fakehost again;
    plugin_host(&again);
    ck_assert_msg(fh_call(&again, "run") == 0, "%s", again.msg);
    ck_assert_int_eq(fh_call(&again, "commit"), 0);
    is("modules/plugins/forum/version.php", "forum 1.2");
    ck_assert(!there(".nexo-staging-x/modules/plugins/forum"));
    fh_free(&fh);
    fh_free(&fresh);
    fh_free(&again);
}
END_TEST

START_TEST(plugin_new_makes_parents)
{
    put(".nexo-staging-x/modules/plugins/forum/version.php", "forum 1.0", 0644);
    struct fakehost fh;
    plugin_host(&fh);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    is("modules/plugins/forum/version.php", "forum 1.0");
    struct fakehost fresh;
    plugin_host(&fresh);
    json_object_update(fresh.state, fh.state);
    ck_assert_msg(fh_call(&fresh, "undo") == 0, "%s", fresh.msg);
    ck_assert(!there("modules")); /* made by run, removed by undo */
    is(".nexo-staging-x/modules/plugins/forum/version.php", "forum 1.0");
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    /* a folder the site had stays */
    put("modules/plugins/other/version.php", "other", 0644);
    struct fakehost two;
    plugin_host(&two);
    ck_assert_msg(fh_call(&two, "run") == 0, "%s", two.msg);
    is("modules/plugins/forum/version.php", "forum 1.0");
    ck_assert_ptr_null(strstr(json_string_value(json_object_get(two.state, "p.0")), "made"));
    ck_assert_int_eq(fh_call(&two, "undo"), 0);
    ck_assert(!there("modules/plugins/forum"));
    is("modules/plugins/other/version.php", "other");
    fh_free(&fh);
    fh_free(&fresh);
    fh_free(&two);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("step_replace_files");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, swap_and_undo);
    tcase_add_test(tc, fallback_and_undo);
    tcase_add_test(tc, crash_then_undo_in_fresh_process);
    tcase_add_test(tc, commit_removes_old_trees);
    tcase_add_test(tc, validate_refuses_bad_paths);
    tcase_add_test(tc, plugin_folder_swap_and_undo);
    tcase_add_test(tc, plugin_new_makes_parents);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
