/* The health_check step through the fake host. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"

#define NOBODY 65534

static nx_module *mod;
static const char *plugin_dir; /* the fact component_dir, when set */
static const char *sqlite_db; /* [database] driver = sqlite, path = this */
static char tmp[64];
static char site[128];
static char bin[128];

static void mkdir_in(const char *base, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", base, name);
    ck_assert_int_eq(mkdir(out, 0755), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

static void setup(void)
{
    nx_err e;
    char p[256];
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/health_check.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(tmp, sizeof tmp, "/tmp/nx-health-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    chmod(tmp, 0755);
    mkdir_in(tmp, "site", site, sizeof site);
    mkdir_in(site, "core", p, sizeof p);
    mkdir_in(tmp, "bin", bin, sizeof bin);
    snprintf(p, sizeof p, "%s/php", bin);
    write_file(p, "#!/bin/sh\n"
                  "case \"$1\" in\n"
                  "-m) printf '[PHP Modules]\\nCore\\njson\\nPDO\\n\\n[Zend Modules]\\n' ;;\n"
                  "-r) printf '8.2.7' ;;\n"
                  "esac\n", 0755);
    setenv("PATH", bin, 1);
}

static void teardown(void)
{
    plugin_dir = NULL;
    sqlite_db = NULL;
    nx_err e;
    nx_rmtree(tmp, &e);
    nx_module_unload(mod);
}

static void host(struct fakehost *fh)
{
    char p[256];
    fh_init(fh, mod->step);
    json_object_set_new(fh->settings, "check_database", json_string("false"));
    json_object_set_new(fh->info, "root", json_string(site));
    snprintf(p, sizeof p, "%s/state", tmp);
    json_object_set_new(fh->info, "state_dir", json_string(p));
    snprintf(p, sizeof p, "%s/backups", tmp);
    json_object_set_new(fh->info, "backups_dir", json_string(p));
    json_object_set_new(fh->config, "site.managed", json_string("core public_html"));
    json_object_set_new(fh->config, "php.binary", json_string("php"));
    json_object_set_new(fh->config, "php.check", json_string("on"));
    json_object_set_new(fh->info, "config_file", json_string("/etc/nexo-update.ini"));
    if (plugin_dir)
        json_object_set_new(fh->info, "component_dir", json_string(plugin_dir));
    if (sqlite_db) {
        json_object_set_new(fh->config, "database.driver", json_string("sqlite"));
        json_object_set_new(fh->config, "database.path", json_string(sqlite_db));
    }
}

START_TEST(healthy_site_passes)
{
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "no other update is running"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert(mod->step->flags & NEXO_STEP_PRECHECK);
    fh_free(&fh);
}
END_TEST

START_TEST(free_space_refused)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "min_free_mb", json_string("999999999999"));
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_msg(strstr(fh.msg, "MB free on the filesystem of the site root") != NULL, "%s",
                  fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.msg, "999999999999 MB needed"));
    fh_free(&fh);
}
END_TEST

/* Run the step as `uid` in a child; 0 when msg contains `want`. */
static int run_as(uid_t uid, const char *want)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct fakehost fh;
        host(&fh);
        if (uid != geteuid() && (setgid(uid) != 0 || setuid(uid) != 0))
            _exit(2);
        int rc = fh_call(&fh, "run");
        if (!want && rc == 0)
            _exit(0);
        if (rc == 0 || !want || !strstr(fh.msg, want)) {
            fprintf(stderr, "rc %d, message: %s\n", rc, fh.msg);
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

START_TEST(non_writable_managed_path_named)
{
    char core[256], want[300];
    snprintf(core, sizeof core, "%s/core", site);
    ck_assert_int_eq(chmod(core, 0555), 0);
    snprintf(want, sizeof want, "%s is not writable", core);
    uid_t as = geteuid();
    if (as == 0) { /* root may write anything: check as the site's owner */
        ck_assert_int_eq(chown(site, NOBODY, NOBODY), 0);
        ck_assert_int_eq(chown(core, NOBODY, NOBODY), 0);
        as = NOBODY;
    }
    ck_assert_int_eq(run_as(as, want), 0);
    chmod(core, 0755);
}
END_TEST

/* A plugin: its folder and the folder above it (or the nearest one that
 * exists) must be writable; core's managed paths are not its business. */
START_TEST(plugin_folder_and_parent)
{
    char core[256], mods[256], plugins[256], want[700];
    snprintf(core, sizeof core, "%s/core", site);
    snprintf(mods, sizeof mods, "%s/modules", site);
    snprintf(plugins, sizeof plugins, "%s/modules/plugins", site);
    ck_assert_int_eq(chmod(core, 0555), 0);
    plugin_dir = "modules/plugins/forum";
    uid_t as = geteuid();
    if (as == 0) {
        ck_assert_int_eq(chown(site, NOBODY, NOBODY), 0);
        as = NOBODY;
    }
    /* not installed, no modules/ yet: the site root is what it writes */
    ck_assert_int_eq(run_as(as, NULL), 0);
    ck_assert_int_eq(mkdir(mods, 0755), 0);
    ck_assert_int_eq(mkdir(plugins, 0555), 0);
    if (as != geteuid()) {
        ck_assert_int_eq(chown(mods, NOBODY, NOBODY), 0);
        ck_assert_int_eq(chown(plugins, NOBODY, NOBODY), 0);
    }
    snprintf(want, sizeof want, "%s (the folder of %s/forum) is not writable", plugins, plugins);
    ck_assert_int_eq(run_as(as, want), 0);
    chmod(plugins, 0755);
    ck_assert_int_eq(run_as(as, NULL), 0);
    chmod(core, 0755);
}
END_TEST

/* [database] driver = sqlite: the file (if there) and its folder must be
 * writable, checked as the site's owner when running as root. */
START_TEST(sqlite_folder_must_be_writable)
{
    char dbdir[256], db[300], core[256], want[700];
    snprintf(core, sizeof core, "%s/core", site);
    snprintf(dbdir, sizeof dbdir, "%s/data", tmp);
    snprintf(db, sizeof db, "%s/site.db", dbdir);
    ck_assert_int_eq(mkdir(dbdir, 0755), 0);
    uid_t as = geteuid();
    if (as == 0) {
        ck_assert_int_eq(chown(site, NOBODY, NOBODY), 0);
        ck_assert_int_eq(chown(core, NOBODY, NOBODY), 0);
        ck_assert_int_eq(chown(dbdir, NOBODY, NOBODY), 0);
        as = NOBODY;
    }
    sqlite_db = db;
    ck_assert_int_eq(run_as(as, NULL), 0); /* no file yet, the folder writable */
    write_file(db, "", 0644);
    if (as != geteuid())
        ck_assert_int_eq(chown(db, NOBODY, NOBODY), 0);
    ck_assert_int_eq(run_as(as, NULL), 0);
    ck_assert_int_eq(chmod(dbdir, 0555), 0);
    snprintf(want, sizeof want, "%s (the folder of the SQLite database %s) is not writable",
             dbdir, db);
    ck_assert_int_eq(run_as(as, want), 0);
    ck_assert_int_eq(chmod(dbdir, 0755), 0);
    ck_assert_int_eq(chmod(db, 0444), 0);
    snprintf(want, sizeof want, "the SQLite database %s is not writable", db);
    ck_assert_int_eq(run_as(as, want), 0);
    ck_assert_int_eq(chmod(db, 0644), 0);
}
END_TEST

START_TEST(wrong_user_refused_naming_owner)
{
    if (geteuid() == 0) {
        ck_assert_int_eq(chown(site, 12345, 12345), 0);
        ck_assert_int_eq(run_as(NOBODY, "the site's files belong to uid 12345: run as that user"),
                         0);
        return;
    }
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.info, "root", json_string("/"));
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_msg(strstr(fh.msg, "belong to root (uid 0)") != NULL, "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

START_TEST(php_extensions_required)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "php_extensions", json_string("json pdo"));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    json_object_set_new(fh.settings, "php_extensions", json_string("json intl"));
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_msg(strstr(fh.msg, "PHP extension intl is not loaded") != NULL, "%s", fh.msg);
    setenv("PATH", "/nonexistent", 1);
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_msg(strstr(fh.msg, "php_extensions json intl: not checked: [php] binary = php "
                                 "(in /etc/nexo-update.ini) cannot be run: not found on the "
                                 "PATH") != NULL, "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

START_TEST(php_version_requirement)
{
    char mf[256];
    snprintf(mf, sizeof mf, "%s/manifest.json", tmp);
    write_file(mf, "{\"version\": \"2.0.0\", \"requires\": {\"php\": \">=8.3.0\"}}", 0644);
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.shared, "manifest_file", json_string(mf));
    ck_assert_int_ne(fh_call(&fh, "run"), 0);
    ck_assert_msg(strstr(fh.msg, "requires php >=8.3.0, the site has 8.2.7") != NULL, "%s",
                  fh.msg);
    write_file(mf, "{\"requires\": {\"php\": \">=8.1.0\"}}", 0644);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    setenv("PATH", "/nonexistent", 1); /* no php: refused, naming [php] binary */
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_ENOTFOUND);
    ck_assert_msg(strstr(fh.msg, "php >=8.1.0: not checked: [php] binary = php (in "
                                 "/etc/nexo-update.ini) cannot be run") != NULL, "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.msg, "[php] check = off"));
    json_object_set_new(fh.config, "php.check", json_string("off")); /* warned, not checked */
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "php >=8.1.0: not checked ([php] check = off)"));
    fh_free(&fh);
}
END_TEST

/* [php] binary names the PHP the site runs, off the PATH; the manifest's
 * requires.php_extensions are looked for in its -m; one that cannot be
 * run (exits non-zero) is refused like a missing one. */
START_TEST(php_binary_setting)
{
    char mf[256], php74[256], broken[256];
    snprintf(mf, sizeof mf, "%s/manifest.json", tmp);
    snprintf(php74, sizeof php74, "%s/php7.4", tmp);
    snprintf(broken, sizeof broken, "%s/php-broken", tmp);
    write_file(php74, "#!/bin/sh\n"
                      "case \"$1\" in\n"
                      "-m) printf '[PHP Modules]\\nCore\\njson\\nmbstring\\n' ;;\n"
                      "-r) printf '7.4.33' ;;\n"
                      "esac\n", 0755);
    write_file(broken, "#!/bin/sh\nexit 3\n", 0755);
    write_file(mf, "{\"requires\": {\"php\": \">=7.4\", \"php_extensions\": [\"json\", "
                   "\"intl\"]}}", 0644);
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.shared, "manifest_file", json_string(mf));
    json_object_set_new(fh.config, "php.binary", json_string(php74));
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_ENOTFOUND);
    ck_assert_msg(strstr(fh.msg, "the PHP extension intl is not loaded") != NULL, "%s", fh.msg);
    ck_assert_ptr_nonnull(strstr(fh.msg, php74));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "php 7.4.33 meets >=7.4"));
    write_file(mf, "{\"requires\": {\"php\": \">=8.1\", \"php_extensions\": [\"json\"]}}",
               0644);
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_ENOTSUP);
    ck_assert_msg(strstr(fh.msg, "requires php >=8.1, the site has 7.4.33") != NULL, "%s", fh.msg);
    json_object_set_new(fh.config, "php.binary", json_string(broken));
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_ENOTFOUND);
    ck_assert_msg(strstr(fh.msg, "cannot be run") != NULL && strstr(fh.msg, broken) != NULL,
                  "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

START_TEST(database_required)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "check_database", json_string("true"));
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "database is not reachable: no database") != NULL, "%s",
                  fh.msg);
    fh_free(&fh);
}
END_TEST

START_TEST(validate_refuses)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "min_free_mb", json_string("lots"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "min_free_mb = lots"));
    json_object_set_new(fh.settings, "min_free_mb", json_string("10"));
    json_object_set_new(fh.settings, "check_database", json_string("maybe"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "check_database = maybe"));
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("health_check");
    TCase *tc = tcase_create("health_check");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, healthy_site_passes);
    tcase_add_test(tc, free_space_refused);
    tcase_add_test(tc, non_writable_managed_path_named);
    tcase_add_test(tc, plugin_folder_and_parent);
    tcase_add_test(tc, sqlite_folder_must_be_writable);
    tcase_add_test(tc, wrong_user_refused_naming_owner);
    tcase_add_test(tc, php_extensions_required);
    tcase_add_test(tc, php_version_requirement);
    tcase_add_test(tc, php_binary_setting);
    tcase_add_test(tc, database_required);
    tcase_add_test(tc, validate_refuses);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
