/* The backup step through the fake host (no database: files only). */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "trust.h"

static nx_module *mod;
static char tmp[64];
static char root[128];
static char backups[128];

static void put(const char *rel, const char *text)
{
    char *p = nx_path_join(root, rel);
    char *d = nx_dirname(p);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(d, 0755, &e), 0);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    free(d);
    free(p);
}

static void setup(void)
{
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/backup.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(tmp, sizeof tmp, "/tmp/nx-backup-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(root, sizeof root, "%s/site", tmp);
    snprintf(backups, sizeof backups, "%s/backups", tmp);
    put("core/lib/a.php", "<?php // a\n");
    put("core/b.php", "<?php // b\n");
    put("public_html/index.php", "<?php echo 1;\n");
    put(".env", "APP_KEY=secret\n");
    put("var/cache/x.html", "not managed\n");
    put("other.txt", "not managed, not preserved: backed up\n");
    put("modules/deprecated/m.php", "<?php // a cleanup may delete it\n");
    put("modules/plugins/p/version.php", "<?php // preserved: not backed up\n");
    char *link = nx_path_join(root, "core/link");
    ck_assert_int_eq(symlink("b.php", link), 0);
    free(link);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(tmp, &e);
    nx_module_unload(mod);
}

static void host(struct fakehost *fh)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->info, "root", json_string(root));
    json_object_set_new(fh->info, "component", json_string("core"));
    json_object_set_new(fh->info, "from_version", json_string("1.0.0"));
    json_object_set_new(fh->info, "to_version", json_string("1.1.0"));
    json_object_set_new(fh->config, "paths.backups", json_string(backups));
    json_object_set_new(fh->config, "site.managed", json_string("core public_html resources"));
}

static const char *state(struct fakehost *fh, const char *key)
{
    return json_string_value(json_object_get(fh->state, key));
}

static int mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    return (int)(st.st_mode & 07777);
}

/* Every entry name of the archive, joined by ' ' after sorting. */
static void archive_names(const char *path, char *out, size_t cap)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_all(a);
    archive_read_support_filter_all(a);
    ck_assert_int_eq(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
    char *names[64];
    size_t n = 0;
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK && n < 64) {
        const char *name = archive_entry_pathname(e);
        if (strcmp(name, "core/link") == 0)
            ck_assert_int_eq(archive_entry_filetype(e), AE_IFLNK);
        names[n++] = strdup(name);
    }
    archive_read_free(a);
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        for (size_t k = i + 1; k < n; k++)
            if (strcmp(names[k], names[i]) < 0) {
                char *t = names[i];
                names[i] = names[k];
                names[k] = t;
            }
    for (size_t i = 0; i < n; i++) {
        strncat(out, names[i], cap - strlen(out) - 2);
        strcat(out, " ");
        free(names[i]);
    }
}

START_TEST(run_writes_backup_and_undo_removes_it)
{
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    const char *dir = state(&fh, "backup_dir");
    ck_assert_ptr_nonnull(dir);
    ck_assert_ptr_nonnull(strstr(dir, "/backups/backup_20260101-000000-00000000_"));
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "backup_dir")), dir);
    ck_assert_ptr_null(json_object_get(fh.shared, "db_snapshot"));
    ck_assert_int_eq(mode_of(dir), 0700);
    char *tar = nx_path_join(dir, "files.tar.zst");
    char *meta = nx_path_join(dir, "meta.json");
    ck_assert_int_eq(mode_of(tar), 0600);
    ck_assert_int_eq(mode_of(meta), 0600);
    char names[1024];
    archive_names(tar, names, sizeof names);
    /* tar names folders with a trailing slash; var/ and modules/plugins/
     * are preserved (the site's data), the rest of the site is there */
    ck_assert_str_eq(names, ".env core/ core/b.php core/lib/ core/lib/a.php core/link "
                            "modules/ modules/deprecated/ modules/deprecated/m.php other.txt "
                            "public_html/ public_html/index.php ");
    json_t *j = json_load_file(meta, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "update_id")),
                     "20260101-000000-00000000");
    ck_assert_str_eq(json_string_value(json_object_get(j, "component")), "core");
    ck_assert_str_eq(json_string_value(json_object_get(j, "from_version")), "1.0.0");
    ck_assert_str_eq(json_string_value(json_object_get(j, "to_version")), "1.1.0");
    ck_assert_int_eq(strlen(json_string_value(json_object_get(j, "created_at"))), 20);
    ck_assert(json_is_null(json_object_get(j, "database")));
    json_t *files = json_object_get(j, "files");
    char hex[NX_SHA256_HEX];
    uint64_t size;
    nx_err e;
    ck_assert_int_eq(nx_sha256_file(tar, hex, &size, &e), 0);
    ck_assert_str_eq(json_string_value(json_object_get(files, "sha256")), hex);
    ck_assert_int_eq(json_integer_value(json_object_get(files, "size")), (json_int_t)size);
    ck_assert_str_eq(json_string_value(json_object_get(files, "file")), "files.tar.zst");
    ck_assert_int_eq(json_integer_value(json_object_get(files, "entries")), 12);
    json_decref(j);
    /* undo in a "fresh process" from the journaled state, twice */
    struct fakehost fresh;
    host(&fresh);
    json_object_update(fresh.state, fh.state);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    ck_assert_int_ne(access(dir, F_OK), 0);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    free(tar);
    free(meta);
    fh_free(&fh);
    fh_free(&fresh);
}
END_TEST

/* A plugin's update: its folder alone (nothing of core, nothing
 * preserved in it); meta.json names the plugin. Not installed yet: an
 * empty files archive. */
START_TEST(plugin_backs_up_its_folder_only)
{
    put("modules/plugins/forum/version.php", "<?php // forum\n");
    put("modules/plugins/forum/lib/x.php", "<?php // x\n");
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.info, "component", json_string("plugin:forum"));
    json_object_set_new(fh.info, "component_dir", json_string("modules/plugins/forum"));
    json_object_set_new(fh.config, "site.preserve", json_string(".env var modules/plugins"));
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "would back up"));
    ck_assert_ptr_null(strstr(fh.logbuf, "/core"));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    const char *dir = state(&fh, "backup_dir");
    char *tar = nx_path_join(dir, "files.tar.zst");
    char names[1024];
    archive_names(tar, names, sizeof names);
    ck_assert_str_eq(names, "modules/plugins/forum/ modules/plugins/forum/lib/ "
                            "modules/plugins/forum/lib/x.php "
                            "modules/plugins/forum/version.php ");
    char *meta = nx_path_join(dir, "meta.json");
    json_t *j = json_load_file(meta, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "component")), "plugin:forum");
    json_decref(j);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    free(tar);
    free(meta);
    fh_free(&fh);

    struct fakehost fresh;
    host(&fresh);
    json_object_set_new(fresh.info, "component", json_string("plugin:blog"));
    json_object_set_new(fresh.info, "component_dir", json_string("modules/plugins/blog"));
    ck_assert_msg(fh_call(&fresh, "run") == 0, "%s", fresh.msg);
    tar = nx_path_join(state(&fresh, "backup_dir"), "files.tar.zst");
    archive_names(tar, names, sizeof names);
    ck_assert_str_eq(names, "");
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    free(tar);
    fh_free(&fresh);
}
END_TEST

START_TEST(undo_removes_partial_after_crash)
{
    struct fakehost fh;
    host(&fh);
    char partial[300], final[256];
    snprintf(final, sizeof final, "%s/backup_x_20260101T000000Z", backups);
    snprintf(partial, sizeof partial, "%s.partial", final);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(partial, 0700, &e), 0);
    json_object_set_new(fh.state, "backup_dir", json_string(final));
    json_object_set_new(fh.state, "partial", json_string(partial));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_ne(access(partial, F_OK), 0);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    /* no state at all: nothing to do */
    struct fakehost none;
    host(&none);
    ck_assert_int_eq(fh_call(&none, "undo"), 0);
    fh_free(&fh);
    fh_free(&none);
}
END_TEST

START_TEST(refuses_without_free_space)
{
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "reserve_mb", json_string("999999999999"));
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EIO);
    ck_assert_ptr_nonnull(strstr(fh.msg, "not enough free space in"));
    ck_assert_ptr_nonnull(strstr(fh.msg, backups));
    ck_assert_ptr_null(state(&fh, "backup_dir"));
    ck_assert_int_ne(access(backups, F_OK), 0);
    json_object_set_new(fh.settings, "reserve_mb", json_string("-1"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    fh_free(&fh);
}
END_TEST

static void fake_backup(const char *name, time_t created)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", backups, name);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(dir, 0700, &e), 0);
    char ts[32];
    struct tm tm;
    gmtime_r(&created, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *j = json_pack("{s:s, s:s}", "update_id", name, "created_at", ts);
    char *meta = nx_path_join(dir, "meta.json");
    ck_assert_int_eq(json_dump_file(j, meta, 0), 0);
    free(meta);
    json_decref(j);
}

static int exists_in_backups(const char *name)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", backups, name);
    return access(p, F_OK) == 0;
}

START_TEST(retention_at_commit)
{
    time_t now = time(NULL);
    const long hour = 3600, day = 86400;
    fake_backup("backup_a", now - hour);
    fake_backup("backup_b", now - day - hour);
    fake_backup("backup_c", now - day - 12 * hour);
    fake_backup("backup_d", now - day - 20 * hour);
    fake_backup("backup_e", now - 3 * day);
    fake_backup("backup_f", now - 5 * day);
    fake_backup("backup_g", now - 10 * day);
    char other[256];
    snprintf(other, sizeof other, "%s/backup_not_ours", backups);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(other, 0700, &e), 0);
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.config, "backup.keep", json_string("3"));
    json_object_set_new(fh.config, "backup.keep_days", json_string("2"));
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    ck_assert_int_eq(access(state(&fh, "backup_dir"), F_OK), 0);
    /* newest 3 (the new one, a, b); c and d are younger than 2 days */
    ck_assert(exists_in_backups("backup_a") && exists_in_backups("backup_b"));
    ck_assert(exists_in_backups("backup_c") && exists_in_backups("backup_d"));
    ck_assert(!exists_in_backups("backup_e") && !exists_in_backups("backup_f"));
    ck_assert(!exists_in_backups("backup_g"));
    ck_assert(exists_in_backups("backup_not_ours"));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "removed old backup"));
    ck_assert_int_eq(fh_call(&fh, "commit"), 0); /* again: harmless */
    ck_assert_int_eq(access(state(&fh, "backup_dir"), F_OK), 0);
    fh_free(&fh);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("step_backup");
    TCase *tc = tcase_create("backup");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, run_writes_backup_and_undo_removes_it);
    tcase_add_test(tc, plugin_backs_up_its_folder_only);
    tcase_add_test(tc, undo_removes_partial_after_crash);
    tcase_add_test(tc, refuses_without_free_space);
    tcase_add_test(tc, retention_at_commit);
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
