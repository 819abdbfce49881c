/* The restore step through the fake host (files only, no database): the
 * backup is made by the real backup module, then restored. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "trust.h"

static nx_module *bmod, *rmod;
static char tmp[64];
static char root[128];
static char backups[128];
static char bdir[512];

static char *site_path(const char *rel)
{
    return nx_path_join(root, rel);
}

static void put(const char *rel, const char *text, mode_t mode)
{
    char *p = site_path(rel);
    char *d = nx_dirname(p);
    nx_err e;
    ck_assert_int_eq(nx_mkdirs(d, 0755, &e), 0);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(p, mode), 0);
    free(d);
    free(p);
}

static char *slurp(const char *path)
{
    char *text = NULL;
    size_t len;
    nx_err e;
    if (nx_read_file(path, &text, &len, 1 << 20, &e) != 0)
        return NULL;
    return text;
}

static void host(struct fakehost *fh, const nx_module *m)
{
    fh_init(fh, m->step);
    json_object_set_new(fh->info, "root", json_string(root));
    json_object_set_new(fh->info, "component", json_string("core"));
    json_object_set_new(fh->info, "from_version", json_string("1.0.0"));
    json_object_set_new(fh->info, "to_version", json_string("1.1.0"));
    json_object_set_new(fh->config, "paths.backups", json_string(backups));
    json_object_set_new(fh->config, "site.managed", json_string("core public_html"));
}

/* Make the backup of the site as it is now; bdir names it. */
static void make_backup(void)
{
    struct fakehost fh;
    host(&fh, bmod);
    json_object_set_new(fh.info, "update_id", json_string("20260101-000000-0000000b"));
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    snprintf(bdir, sizeof bdir, "%s",
             json_string_value(json_object_get(fh.state, "backup_dir")));
    fh_free(&fh);
}

static void setup(void)
{
    nx_err e;
    bmod = nx_module_load(NX_TEST_BINDIR "/modules/steps/backup.so", NX_STEP, &e);
    ck_assert_msg(bmod != NULL, "%s", e.msg);
    rmod = nx_module_load(NX_TEST_BINDIR "/modules/steps/restore.so", NX_STEP, &e);
    ck_assert_msg(rmod != NULL, "%s", e.msg);
    snprintf(tmp, sizeof tmp, "/tmp/nx-restore-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(root, sizeof root, "%s/site", tmp);
    snprintf(backups, sizeof backups, "%s/backups", tmp);
    put("core/version.php", "<?php return ['version' => '1.0.0'];\n", 0644);
    put("core/cron.sh", "#!/bin/sh\n", 0750);
    put("public_html/index.php", "old index\n", 0644);
    put("modules/deprecated/m.php", "deleted by a cleanup later\n", 0644);
    put("modules/plugins/p/version.php", "plugin 1\n", 0644);
    put(".env", "APP_KEY=old\n", 0600);
    put("var/logs/site.log", "log 1\n", 0644);
    make_backup();
    /* what an update did afterwards, and the site's own later changes */
    put("core/version.php", "<?php return ['version' => '1.1.0'];\n", 0644);
    put("public_html/new.php", "new in 1.1.0\n", 0644);
    char *dep = site_path("modules/deprecated");
    ck_assert_int_eq(nx_rmtree(dep, &e), 0);
    free(dep);
    put("modules/plugins/p/version.php", "plugin 2\n", 0644);
    put(".env", "APP_KEY=new\n", 0600);
    put("var/logs/site.log", "log 2\n", 0644);
}

static void teardown(void)
{
    nx_err e;
    nx_rmtree(tmp, &e);
    nx_module_unload(rmod);
    nx_module_unload(bmod);
}

static struct fakehost *restore_host(struct fakehost *fh)
{
    host(fh, rmod);
    json_object_set_new(fh->info, "param.backup_dir", json_string(bdir));
    return fh;
}

static char *staged(struct fakehost *fh, const char *rel)
{
    const char *s = json_string_value(json_object_get(fh->shared, "staging_dir"));
    ck_assert_ptr_nonnull(s);
    return nx_path_join(s, rel);
}

START_TEST(run_stages_the_backup_and_undo_removes_it)
{
    struct fakehost fh;
    restore_host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    ck_assert_uint_eq(fh.checkpoints, 1); /* files; no database */
    /* the managed paths are staged with their modes, for replace_files */
    char *v = staged(&fh, "core/version.php");
    char *text = slurp(v);
    ck_assert_ptr_nonnull(strstr(text, "1.0.0"));
    free(text);
    free(v);
    char *cron = staged(&fh, "core/cron.sh");
    struct stat st;
    ck_assert_int_eq(stat(cron, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0750);
    free(cron);
    /* preserved paths stay in the backup */
    char *env = staged(&fh, ".env");
    char *plug = staged(&fh, "modules/plugins");
    ck_assert_int_ne(access(env, F_OK), 0);
    ck_assert_int_ne(access(plug, F_OK), 0);
    free(env);
    free(plug);
    char *live_env = site_path(".env");
    text = slurp(live_env);
    ck_assert_str_eq(text, "APP_KEY=new\n");
    free(text);
    /* the folder a cleanup deleted is back in the site */
    char *dep = site_path("modules/deprecated/m.php");
    ck_assert_int_eq(access(dep, F_OK), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "put back"));
    /* undo in a fresh process: the put-back folder and the staging go */
    struct fakehost fresh;
    restore_host(&fresh);
    json_object_update(fresh.state, fh.state);
    json_object_update(fresh.shared, fh.shared);
    const char *staging = json_string_value(json_object_get(fh.state, "staging"));
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    ck_assert_int_ne(access(dep, F_OK), 0);
    ck_assert_int_ne(access(staging, F_OK), 0);
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0);
    char *plugin = site_path("modules/plugins/p/version.php");
    text = slurp(plugin);
    ck_assert_str_eq(text, "plugin 2\n");
    free(text);
    free(plugin);
    free(dep);
    free(live_env);
    fh_free(&fresh);
    fh_free(&fh);
}
END_TEST

static int there(const char *rel)
{
    char *p = site_path(rel);
    int r = access(p, F_OK) == 0;
    free(p);
    return r;
}

static void plugin_facts(struct fakehost *fh)
{
    json_object_set_new(fh->info, "component", json_string("plugin:forum"));
    json_object_set_new(fh->info, "component_dir", json_string("modules/plugins/forum"));
    json_object_set_new(fh->config, "site.preserve", json_string(".env var modules/plugins"));
}

/* A plugin's backup: its folder is staged for replace_files (the managed
 * path), nothing of it is put into the live site by restore itself, also
 * when the site lacks the folders above it. */
START_TEST(plugin_backup_stages_its_folder)
{
    put("modules/plugins/forum/version.php", "forum 1.0\n", 0644);
    put("modules/plugins/forum/lib/a.php", "a\n", 0640);
    struct fakehost b;
    host(&b, bmod);
    plugin_facts(&b);
    json_object_set_new(b.info, "update_id", json_string("20260101-000000-0000000c"));
    ck_assert_msg(fh_call(&b, "run") == 0, "%s", b.msg);
    snprintf(bdir, sizeof bdir, "%s", json_string_value(json_object_get(b.state, "backup_dir")));
    fh_free(&b);
    /* the plugin's update: a.php gone, b.php new */
    put("modules/plugins/forum/version.php", "forum 1.2\n", 0644);
    put("modules/plugins/forum/lib/b.php", "b\n", 0644);
    char *a = site_path("modules/plugins/forum/lib/a.php");
    ck_assert_int_eq(unlink(a), 0);
    free(a);
    for (int pass = 0; pass < 2; pass++) {
        struct fakehost fh;
        restore_host(&fh);
        plugin_facts(&fh);
        json_object_set_new(fh.info, "update_id", json_string("20260101-000000-0000000d"));
        ck_assert_msg(fh_call(&fh, "validate") == 0, "%s", fh.msg);
        ck_assert_int_eq(fh_call(&fh, "plan"), 0);
        ck_assert_ptr_nonnull(strstr(fh.logbuf, "plugin:forum"));
        ck_assert_ptr_nonnull(strstr(fh.logbuf, "the managed paths (modules/plugins/forum)"));
        ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
        char *v = staged(&fh, "modules/plugins/forum/version.php");
        char *text = slurp(v);
        ck_assert_str_eq(text, "forum 1.0\n");
        free(text);
        free(v);
        char *sa = staged(&fh, "modules/plugins/forum/lib/a.php");
        ck_assert_int_eq(access(sa, F_OK), 0);
        free(sa);
        char *core = staged(&fh, "core");
        ck_assert_int_ne(access(core, F_OK), 0);
        free(core);
        /* the live site: untouched by restore (replace_files swaps) */
        ck_assert(!there("modules/plugins/forum/lib/a.php"));
        ck_assert_int_eq(pass == 0, there("modules/plugins/forum/lib/b.php"));
        ck_assert_ptr_null(json_object_get(fh.state, "put.0"));
        ck_assert_int_eq(fh_call(&fh, "undo"), 0);
        fh_free(&fh);
        /* second pass: the site has no modules/ at all */
        char *mods = site_path("modules");
        nx_err e;
        ck_assert_int_eq(nx_rmtree(mods, &e), 0);
        free(mods);
    }
    ck_assert(!there("modules"));
}
END_TEST

START_TEST(commit_removes_staging_and_marks_the_backup)
{
    struct fakehost fh;
    restore_host(&fh);
    ck_assert_int_eq(fh_call(&fh, "run"), 0);
    char *staging = nx_xstrdup(json_string_value(json_object_get(fh.state, "staging")));
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    ck_assert_int_ne(access(staging, F_OK), 0);
    char *meta = nx_path_join(bdir, "meta.json");
    json_t *m = json_load_file(meta, 0, NULL);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(json_string_value(json_object_get(m, "restored_by")),
                     "20260101-000000-00000000");
    struct stat st;
    ck_assert_int_eq(stat(meta, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    json_decref(m);
    free(meta);
    free(staging);
    fh_free(&fh);
}
END_TEST

START_TEST(damaged_backup_is_refused_before_anything)
{
    char *tar = nx_path_join(bdir, "files.tar.zst");
    int fd = open(tar, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, "X", 1, 40), 1);
    close(fd);
    struct fakehost fh;
    restore_host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EVERIFY);
    ck_assert_ptr_nonnull(strstr(fh.msg, tar));
    ck_assert_ptr_nonnull(strstr(fh.msg, "meta.json says"));
    ck_assert_int_eq(json_object_size(fh.state), 0);
    /* truncated: run's own size check refuses it too */
    ck_assert_int_eq(truncate(tar, 10), 0);
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EVERIFY);
    ck_assert_ptr_nonnull(strstr(fh.msg, "bytes, but meta.json says"));
    ck_assert_int_eq(json_object_size(fh.state), 0);
    free(tar);
    fh_free(&fh);
}
END_TEST

/* Replace the backup's archive by one holding `name`, meta updated. */
static void forge_archive(const char *name)
{
    char *tar = nx_path_join(bdir, "files.tar.zst");
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_zstd(a);
    ck_assert_int_eq(archive_write_open_filename(a, tar), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 4);
    archive_write_header(a, e);
    archive_write_data(a, "evil", 4);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    char hex[NX_SHA256_HEX];
    uint64_t size;
    nx_err err;
    ck_assert_int_eq(nx_sha256_file(tar, hex, &size, &err), 0);
    char *meta = nx_path_join(bdir, "meta.json");
    json_t *m = json_load_file(meta, 0, NULL);
    json_t *f = json_object_get(m, "files");
    json_object_set_new(f, "sha256", json_string(hex));
    json_object_set_new(f, "size", json_integer((json_int_t)size));
    ck_assert_int_eq(json_dump_file(m, meta, 0), 0);
    json_decref(m);
    free(meta);
    free(tar);
}

START_TEST(escaping_entries_are_refused)
{
    static const char *const bad[] = { "../outside.txt", "core/../../outside.txt",
                                       "/etc/evil" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        forge_archive(bad[i]);
        struct fakehost fh;
        restore_host(&fh);
        ck_assert_int_eq(fh_call(&fh, "validate"), 0);
        ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EVERIFY);
        ck_assert_ptr_nonnull(strstr(fh.msg, "not a plain relative name"));
        char out[256];
        snprintf(out, sizeof out, "%s/outside.txt", tmp);
        ck_assert_int_ne(access(out, F_OK), 0);
        ck_assert_int_eq(fh_call(&fh, "undo"), 0);
        ck_assert_int_ne(access(json_string_value(json_object_get(fh.state, "staging")), F_OK),
                         0);
        fh_free(&fh);
    }
}
END_TEST

START_TEST(validate_names_what_is_missing)
{
    struct fakehost fh;
    host(&fh, rmod);
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "no backup to restore"));
    json_object_set_new(fh.settings, "backup", json_string("relative/dir"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "absolute path"));
    char nowhere[256];
    snprintf(nowhere, sizeof nowhere, "%s/nowhere", tmp);
    json_object_set_new(fh.settings, "backup", json_string(nowhere));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(fh.msg, "nowhere/meta.json"));
    /* a database site, a files-only backup */
    json_object_set_new(fh.settings, "backup", json_string(bdir));
    json_object_set_new(fh.config, "database.driver", json_string("sqlite"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EVERIFY);
    ck_assert_ptr_nonnull(strstr(fh.msg, "holds no database dump"));
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("step_restore");
    TCase *tc = tcase_create("restore");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, run_stages_the_backup_and_undo_removes_it);
    tcase_add_test(tc, plugin_backup_stages_its_folder);
    tcase_add_test(tc, commit_removes_staging_and_marks_the_backup);
    tcase_add_test(tc, damaged_backup_is_refused_before_anything);
    tcase_add_test(tc, escaping_entries_are_refused);
    tcase_add_test(tc, validate_names_what_is_missing);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
