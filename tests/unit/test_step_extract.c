/* The extract step through the fake host. Every package is built here
 * with libarchive's writer, so that each hostile case is exactly what it
 * claims to be; manifests are computed with nx_sha256. */
#include <archive.h>
#include <archive_entry.h>
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "testutil.h"
#include "trust.h"
#include "util.h"

#define ID "20260101-000000-00000000"
#define MiB (1024u * 1024u)

static nx_module *mod;
static char root[200];
static char work[200];
static char pkg[220];
static char staging[260];
static char copy[260];

static const char *const formats[] = {"tar.gz", "tar.zst", "zip"};

static void setup(void)
{
    tu_tmp_setup();
    nx_err e;
    mod = nx_module_load(NX_TEST_BINDIR "/modules/steps/extract.so", NX_STEP, &e);
    ck_assert_msg(mod != NULL, "%s", e.msg);
    snprintf(root, sizeof root, "%s/site", tu_dir);
    snprintf(work, sizeof work, "%s/work", tu_dir);
    snprintf(staging, sizeof staging, "%s/.nexo-staging-%s", root, ID);
    snprintf(copy, sizeof copy, "%s/nexo-release.json", work);
    ck_assert_int_eq(mkdir(root, 0755), 0);
    ck_assert_int_eq(mkdir(work, 0700), 0);
    char *index = nx_path_join(root, "index.php");
    FILE *f = fopen(index, "w");
    ck_assert_ptr_nonnull(f);
    fputs("<?php echo 'old';\n", f);
    fclose(f);
    free(index);
}

static void teardown(void)
{
    nx_module_unload(mod);
    tu_tmp_teardown();
}

static void host(struct fakehost *fh)
{
    fh_init(fh, mod->step);
    json_object_set_new(fh->info, "root", json_string(root));
    json_object_set_new(fh->info, "work_dir", json_string(work));
    json_object_set_new(fh->info, "update_id", json_string(ID));
    json_object_set_new(fh->shared, "package_file", json_string(pkg));
}

/* ---- manifests ----------------------------------------------------------- */

static json_t *manifest_new(void)
{
    return json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:{}, s:[], s:i}", "format", 1,
                     "component", "core", "version", "1.1.0", "version_code", 1001000,
                     "release_date", "2026-11-25", "branch", "stable", "build", "20261125",
                     "requires", "files", "total_size", 0);
}

static void mf_add(json_t *m, json_t *entry, uint64_t size)
{
    json_array_append_new(json_object_get(m, "files"), entry);
    json_int_t total = json_integer_value(json_object_get(m, "total_size"));
    json_object_set_new(m, "total_size", json_integer(total + (json_int_t)size));
}

static void mf_file_hex(json_t *m, const char *path, uint64_t size, unsigned mode,
                        const char *hex)
{
    char ms[8];
    snprintf(ms, sizeof ms, "%04o", mode);
    mf_add(m, json_pack("{s:s, s:s, s:I, s:s, s:s}", "path", path, "type", "file", "size",
                        (json_int_t)size, "mode", ms, "sha256", hex), size);
}

static void mf_file(json_t *m, const char *path, const char *data, unsigned mode)
{
    char hex[NX_SHA256_HEX];
    nx_sha256 *s = nx_sha256_new();
    nx_sha256_update(s, data, strlen(data));
    nx_sha256_final(s, hex);
    mf_file_hex(m, path, strlen(data), mode, hex);
}

static void mf_zeros(json_t *m, const char *path, size_t size)
{
    char *z = calloc(1, size ? size : 1);
    char hex[NX_SHA256_HEX];
    nx_sha256 *s = nx_sha256_new();
    nx_sha256_update(s, z, size);
    nx_sha256_final(s, hex);
    free(z);
    mf_file_hex(m, path, size, 0644, hex);
}

static void mf_dir(json_t *m, const char *path, unsigned mode)
{
    char ms[8];
    snprintf(ms, sizeof ms, "%04o", mode);
    mf_add(m, json_pack("{s:s, s:s, s:s}", "path", path, "type", "dir", "mode", ms), 0);
}

static void mf_link(json_t *m, const char *path, const char *target)
{
    mf_add(m, json_pack("{s:s, s:s, s:s}", "path", path, "type", "symlink", "target", target),
           0);
}

/* ---- packages ------------------------------------------------------------ */

static struct archive *pk_open(const char *fmt)
{
    snprintf(pkg, sizeof pkg, "%s/core-1.1.0.%s", tu_dir, fmt);
    struct archive *a = archive_write_new();
    if (strcmp(fmt, "zip") == 0) {
        ck_assert_int_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
    } else {
        ck_assert_int_eq(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (strcmp(fmt, "tar.gz") == 0)
            ck_assert_int_eq(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        else if (strcmp(fmt, "tar.zst") == 0)
            ck_assert_int_eq(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    }
    ck_assert_int_eq(archive_write_open_filename(a, pkg), ARCHIVE_OK);
    return a;
}

static void pk_close(struct archive *a)
{
    ck_assert_int_eq(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}

/* One entry: type AE_IF*, mode (permission bits), data for files, a
 * target for symlinks. */
static void pk_entry(struct archive *a, const char *path, unsigned type, unsigned mode,
                     const void *data, size_t len, const char *target)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_mtime(e, 1764028800, 0);
    archive_entry_set_size(e, type == AE_IFREG ? (la_int64_t)len : 0);
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, target);
    if (type == AE_IFCHR)
        archive_entry_set_rdev(e, makedev(1, 3));
    ck_assert_msg(archive_write_header(a, e) >= ARCHIVE_WARN, "%s: %s", path,
                  archive_error_string(a));
    if (len)
        ck_assert_int_eq(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static void pk_file(struct archive *a, const char *path, const char *data, unsigned mode)
{
    pk_entry(a, path, AE_IFREG, mode, data, strlen(data), NULL);
}

static void pk_dir(struct archive *a, const char *path, unsigned mode)
{
    pk_entry(a, path, AE_IFDIR, mode, NULL, 0, NULL);
}

static void pk_link(struct archive *a, const char *path, const char *target)
{
    pk_entry(a, path, AE_IFLNK, 0777, NULL, 0, target);
}

static void pk_zeros(struct archive *a, const char *path, size_t size)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)size);
    ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
    char *z = calloc(1, 65536);
    for (size_t done = 0; done < size; done += 65536) {
        size_t n = size - done < 65536 ? size - done : 65536;
        ck_assert_int_eq(archive_write_data(a, z, n), (la_ssize_t)n);
    }
    free(z);
    archive_entry_free(e);
}

static void pk_manifest(struct archive *a, const json_t *m)
{
    char *text = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    pk_file(a, "nexo-release.json", text, 0644);
    free(text);
}

/* ---- the happy path ---------------------------------------------------- */

static char *big_text(void)
{
    size_t n = 300 * 1024;
    char *s = malloc(n + 1);
    unsigned v = 12345;
    for (size_t i = 0; i < n; i++) {
        v = v * 1103515245u + 12345u;
        s[i] = (char)('a' + (v >> 16) % 26);
    }
    s[n] = '\0';
    return s;
}

struct src {
    const char *path;
    unsigned type;
    unsigned mode;
    const char *data; /* file content or symlink target */
};

static const struct src tree[] = {
    {"core", AE_IFDIR, 0755, NULL},
    {"core/version.php", AE_IFREG, 0644, "<?php return ['version' => '1.1.0'];\n"},
    {"public_html", AE_IFDIR, 0750, NULL},
    {"public_html/index.php", AE_IFREG, 0640, "<?php require '../core/boot.php';\n"},
    {"public_html/v2", AE_IFDIR, 0755, NULL},
    {"public_html/v2/app.js", AE_IFREG, 0644, "console.log('v2');\n"},
    {"public_html/latest", AE_IFLNK, 0777, "v2"},
    {"bin/run.sh", AE_IFREG, 0755, "#!/bin/sh\necho run\n"}, /* "bin" implied */
    {"var/empty", AE_IFREG, 0600, ""},
    {"ro", AE_IFDIR, 0555, NULL},
    {"ro/readme.txt", AE_IFREG, 0444, "read only\n"},
    {"docs/caf\xc3\xa9.txt", AE_IFREG, 0644, "non-ASCII name\n"},
};
#define NTREE (sizeof tree / sizeof tree[0])

static json_t *tree_manifest(const char *big)
{
    json_t *m = manifest_new();
    for (size_t i = 0; i < NTREE; i++) {
        if (tree[i].type == AE_IFDIR)
            mf_dir(m, tree[i].path, tree[i].mode);
        else if (tree[i].type == AE_IFLNK)
            mf_link(m, tree[i].path, tree[i].data);
        else
            mf_file(m, tree[i].path, tree[i].data, tree[i].mode);
    }
    mf_file(m, "core/big.txt", big, 0644);
    return m;
}

/* The manifest first (tar.gz), in the middle (tar.zst), last (zip). */
static void tree_package(const char *fmt, const char *big)
{
    json_t *m = tree_manifest(big);
    struct archive *a = pk_open(fmt);
    size_t where = strcmp(fmt, "tar.gz") == 0 ? 0 : strcmp(fmt, "zip") == 0 ? NTREE : NTREE / 2;
    for (size_t i = 0; i <= NTREE; i++) {
        if (i == where)
            pk_manifest(a, m);
        if (i == NTREE)
            break;
        if (tree[i].type == AE_IFREG)
            pk_file(a, tree[i].path, tree[i].data, tree[i].mode);
        else if (tree[i].type == AE_IFDIR)
            pk_dir(a, tree[i].path, tree[i].mode);
        else
            pk_link(a, tree[i].path, tree[i].data);
    }
    pk_file(a, "core/big.txt", big, 0644);
    pk_close(a);
    json_decref(m);
}

static void assert_file(const char *base, const char *rel, const char *data, unsigned mode)
{
    char *p = nx_path_join(base, rel);
    struct stat st;
    ck_assert_msg(lstat(p, &st) == 0, "%s: %s", p, strerror(errno));
    ck_assert_msg(S_ISREG(st.st_mode), "%s is not a file", p);
    ck_assert_uint_eq(st.st_mode & 07777, mode);
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    ck_assert_msg(nx_read_file(p, &text, &len, 0, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(len, strlen(data));
    ck_assert_msg(memcmp(text, data, len) == 0, "%s: content differs", p);
    free(text);
    free(p);
}

static void assert_tree(const char *base, const char *big)
{
    for (size_t i = 0; i < NTREE; i++) {
        char *p = nx_path_join(base, tree[i].path);
        struct stat st;
        ck_assert_msg(lstat(p, &st) == 0, "%s: %s", p, strerror(errno));
        if (tree[i].type == AE_IFREG) {
            assert_file(base, tree[i].path, tree[i].data, tree[i].mode);
        } else if (tree[i].type == AE_IFDIR) {
            ck_assert_msg(S_ISDIR(st.st_mode), "%s is not a folder", p);
            ck_assert_uint_eq(st.st_mode & 07777, tree[i].mode);
        } else {
            char target[256] = "";
            ck_assert_msg(S_ISLNK(st.st_mode), "%s is not a symlink", p);
            ck_assert_int_gt(readlink(p, target, sizeof target - 1), 0);
            ck_assert_str_eq(target, tree[i].data);
        }
        free(p);
    }
    assert_file(base, "core/big.txt", big, 0644);
    char *bin = nx_path_join(base, "bin");
    struct stat st;
    ck_assert_int_eq(stat(bin, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0755); /* an implied folder */
    free(bin);
}

/* ROOT holds exactly what it held before: index.php. */
static void assert_root_untouched(void)
{
    DIR *d = opendir(root);
    ck_assert_ptr_nonnull(d);
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "index.php"))
            ck_abort_msg("%s/%s left behind", root, de->d_name);
    }
    closedir(d);
    ck_assert_int_ne(access(copy, F_OK), 0);
}

START_TEST(happy_path)
{
    const char *fmt = formats[_i];
    char *big = big_text();
    tree_package(fmt, big);
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s: %s", fmt, fh.msg);
    assert_tree(staging, big);
    struct stat st;
    ck_assert_int_eq(stat(staging, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0755); /* readable, writable by us only */
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "staging_dir")), staging);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "manifest_file")), copy);
    ck_assert_int_eq(access(copy, R_OK), 0);
    ck_assert_str_eq(json_string_value(json_object_get(fh.state, "staging")), staging);

    /* undo in a "fresh process": only the settings, facts and journal */
    struct fakehost fresh;
    host(&fresh);
    json_object_set_new(fresh.info, "recovering", json_string("1"));
    json_object_update(fresh.state, fh.state);
    ck_assert_msg(fh_call(&fresh, "undo") == 0, "%s", fresh.msg);
    ck_assert_int_ne(access(staging, F_OK), 0);
    assert_root_untouched();
    ck_assert_int_eq(fh_call(&fresh, "undo"), 0); /* again: harmless */
    fh_free(&fh);
    fh_free(&fresh);
    free(big);
}
END_TEST

/* Every entry below dir (not dir itself) belongs to uid/gid; n counts them. */
static void assert_owned(const char *dir, uid_t uid, gid_t gid, unsigned *n)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *p = nx_path_join(dir, de->d_name);
        struct stat st;
        ck_assert_int_eq(lstat(p, &st), 0);
        ck_assert_msg(st.st_uid == uid && st.st_gid == gid, "%s: uid %u gid %u", p,
                      (unsigned)st.st_uid, (unsigned)st.st_gid);
        ++*n;
        if (S_ISDIR(st.st_mode))
            assert_owned(p, uid, gid, n);
        free(p);
    }
    closedir(d);
}

/* As root on a site owned by another user: everything staged stays the
 * running user's until the replace step puts it in place (the site's
 * owner can read the release, never change it); the staging folder is
 * published as a private folder: its path, and its dev:ino. */
START_TEST(staged_files_belong_to_site_owner)
{
    if (geteuid() != 0)
        return; /* chown needs root */
    char *big = big_text();
    tree_package("tar.gz", big);
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(chown(root, 12345, 23456), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    assert_tree(staging, big);
    unsigned n = 0;
    assert_owned(staging, 0, 0, &n);
    ck_assert_uint_ge(n, NTREE + 3); /* + big.txt, bin/, .nexo-release.json */
    struct stat st;
    ck_assert_int_eq(lstat(staging, &st), 0);
    ck_assert_uint_eq(st.st_uid, 0);
    char id[64];
    snprintf(id, sizeof id, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "staging_dir.private")), id);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "staging_path")), staging);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_ne(access(staging, F_OK), 0);
    ck_assert_int_eq(chown(root, 0, 0), 0);
    fh_free(&fh);
    free(big);
}
END_TEST

/* A staging folder the site's owner renamed away and replaced is not the
 * extract step's to remove: undo leaves it (and the renamed one) alone. */
START_TEST(undo_leaves_a_replaced_staging_folder)
{
    char *big = big_text();
    tree_package("tar.gz", big);
    struct fakehost fh;
    host(&fh);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    char aside[PATH_MAX];
    snprintf(aside, sizeof aside, "%s/.aside", root);
    ck_assert_int_eq(rename(staging, aside), 0);
    ck_assert_int_eq(mkdir(staging, 0755), 0);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(access(staging, F_OK), 0);
    ck_assert_int_eq(access(aside, F_OK), 0);
    fh_free(&fh);
    free(big);
}
END_TEST

START_TEST(commit_removes_leftovers)
{
    char *big = big_text();
    tree_package("tar.gz", big);
    struct fakehost fh;
    host(&fh);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    ck_assert_int_ne(access(staging, F_OK), 0);
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    fh_free(&fh);
    free(big);
}
END_TEST

START_TEST(verify_copy_is_reused)
{
    /* The verify step wrote the same manifest already: not ours to remove. */
    json_t *m = manifest_new();
    mf_file(m, "a.txt", "hello\n", 0644);
    char *text = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    struct archive *a = pk_open("tar.gz");
    pk_manifest(a, m);
    pk_file(a, "a.txt", "hello\n", 0644);
    pk_close(a);
    nx_err e;
    ck_assert_int_eq(nx_write_file_atomic(copy, text, strlen(text), 0600, &e), 0);
    struct fakehost fh;
    host(&fh);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    ck_assert_ptr_null(json_object_get(fh.state, "manifest_copy"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(access(copy, F_OK), 0);
    fh_free(&fh);
    free(text);
    json_decref(m);
}
END_TEST

START_TEST(subdir_and_custom_staging)
{
    json_t *m = manifest_new();
    mf_file(m, "version.php", "<?php return [];\n", 0644);
    struct archive *a = pk_open("zip");
    pk_file(a, "version.php", "<?php return [];\n", 0644);
    pk_manifest(a, m);
    pk_close(a);
    json_decref(m);
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.settings, "staging", json_string("stage-here/"));
    json_object_set_new(fh.settings, "subdir", json_string("modules/plugins/foo"));
    json_object_set_new(fh.info, "param.package", json_string("/nonexistent"));
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    char *st = nx_path_join(root, "stage-here");
    char *base = nx_path_join(st, "modules/plugins/foo");
    assert_file(base, "version.php", "<?php return [];\n", 0644);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "staging_dir")), st);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_ne(access(st, F_OK), 0);
    free(base);
    free(st);
    fh_free(&fh);
}
END_TEST

/* A plugin (fact component_dir): its plugin-relative payload lands in
 * STAGING/<component_dir>, with the manifest recorded in the plugin's
 * own folder. */
START_TEST(plugin_payload_in_component_dir)
{
    json_t *m = manifest_new();
    json_object_set_new(m, "component", json_string("plugin:forum"));
    mf_file(m, "version.php", "<?php return ['version' => '1.1.0'];\n", 0644);
    mf_dir(m, "lib", 0750);
    mf_file(m, "lib/a.php", "<?php\n", 0640);
    char *text = json_dumps(m, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    struct archive *a = pk_open("tar.zst");
    pk_manifest(a, m);
    pk_file(a, "version.php", "<?php return ['version' => '1.1.0'];\n", 0644);
    pk_dir(a, "lib", 0750);
    pk_file(a, "lib/a.php", "<?php\n", 0640);
    pk_close(a);
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.info, "component", json_string("plugin:forum"));
    json_object_set_new(fh.info, "param.component", json_string("plugin:forum"));
    json_object_set_new(fh.info, "component_dir", json_string("modules/plugins/forum"));
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "/modules/plugins/forum, every entry checked"));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "would record the verified manifest as "
                                            "modules/plugins/forum/.nexo-release.json"));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    char *base = nx_path_join(staging, "modules/plugins/forum");
    assert_file(base, "version.php", "<?php return ['version' => '1.1.0'];\n", 0644);
    assert_file(base, "lib/a.php", "<?php\n", 0640);
    assert_file(base, ".nexo-release.json", text, 0644);
    char *core = nx_path_join(staging, "core");
    ck_assert_int_ne(access(core, F_OK), 0);
    ck_assert_str_eq(json_string_value(json_object_get(fh.shared, "staging_dir")), staging);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    assert_root_untouched();
    /* an explicit record_manifest is below the plugin's folder too */
    struct fakehost two;
    host(&two);
    json_object_set_new(two.info, "component_dir", json_string("modules/plugins/forum"));
    json_object_set_new(two.settings, "record_manifest", json_string("lib/manifest.json"));
    ck_assert_msg(fh_call(&two, "run") == 0, "%s", two.msg);
    assert_file(base, "lib/manifest.json", text, 0644);
    ck_assert_int_eq(fh_call(&two, "undo"), 0);
    free(core);
    free(base);
    free(text);
    json_decref(m);
    fh_free(&fh);
    fh_free(&two);
}
END_TEST

START_TEST(param_package_when_nothing_downloaded)
{
    json_t *m = manifest_new();
    mf_file(m, "a.txt", "a\n", 0644);
    struct archive *a = pk_open("tar.zst");
    pk_manifest(a, m);
    pk_file(a, "./a.txt", "a\n", 0644);
    pk_close(a);
    json_decref(m);
    struct fakehost fh;
    host(&fh);
    json_object_del(fh.shared, "package_file");
    json_object_set_new(fh.info, "param.package", json_string(pkg));
    ck_assert_msg(fh_call(&fh, "run") == 0, "%s", fh.msg);
    assert_file(staging, "a.txt", "a\n", 0644);
    fh_free(&fh);
}
END_TEST

/* ---- refusals ------------------------------------------------------------ */

/* run refuses, naming the package and `needle`, and leaves nothing. */
static void assert_refused(const char *needle)
{
    struct fakehost fh;
    host(&fh);
    int rc = fh_call(&fh, "run");
    ck_assert_msg(rc != 0, "run accepted a package with %s", needle);
    ck_assert_msg(strstr(fh.msg, pkg) != NULL, "message does not name the package: %s", fh.msg);
    ck_assert_msg(strstr(fh.msg, needle) != NULL, "message does not say \"%s\": %s", needle,
                  fh.msg);
    ck_assert_msg(access(staging, F_OK) != 0, "staging folder left behind (%s)", fh.msg);
    assert_root_untouched();
    ck_assert_ptr_null(json_object_get(fh.shared, "staging_dir"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    fh_free(&fh);
}

/* A good package (manifest, a.txt, d/b.txt) with `extra` before its end. */
static json_t *base_manifest(void)
{
    json_t *m = manifest_new();
    mf_file(m, "a.txt", "hello\n", 0644);
    mf_dir(m, "d", 0755);
    mf_file(m, "d/b.txt", "bee\n", 0644);
    return m;
}

static struct archive *base_package(const char *fmt, const json_t *m)
{
    struct archive *a = pk_open(fmt);
    pk_manifest(a, m);
    pk_file(a, "a.txt", "hello\n", 0644);
    pk_dir(a, "d", 0755);
    return a;
}

static void finish_base(struct archive *a, json_t *m)
{
    pk_file(a, "d/b.txt", "bee\n", 0644);
    pk_close(a);
    json_decref(m);
}

START_TEST(refuses_dotdot)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_file(a, "../evil", "x\n", 0644);
    finish_base(a, m);
    assert_refused("../evil");
}
END_TEST

START_TEST(refuses_dotdot_inside)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("zip", m);
    pk_file(a, "d/../../x", "x\n", 0644);
    finish_base(a, m);
    assert_refused("d/../../x");
}
END_TEST

START_TEST(refuses_absolute)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_file(a, "/etc/passwd", "root::0:0::/:/bin/sh\n", 0644);
    finish_base(a, m);
    assert_refused("/etc/passwd: absolute path");
}
END_TEST

START_TEST(refuses_empty_component)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_file(a, "d//c.txt", "x\n", 0644);
    finish_base(a, m);
    assert_refused("d//c.txt: empty path component");
}
END_TEST

START_TEST(refuses_symlink_to_etc)
{
    json_t *m = base_manifest();
    mf_link(m, "lnk", "a.txt");
    struct archive *a = base_package("tar.gz", m);
    pk_link(a, "lnk", "/etc");
    finish_base(a, m);
    assert_refused("lnk: symlink to /etc");
}
END_TEST

START_TEST(refuses_symlink_outside)
{
    json_t *m = base_manifest();
    mf_link(m, "d/lnk", "../a.txt");
    struct archive *a = base_package("zip", m);
    pk_link(a, "d/lnk", "../../outside");
    finish_base(a, m);
    assert_refused("d/lnk: symlink to ../../outside");
}
END_TEST

START_TEST(refuses_unlisted_symlink)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_link(a, "etc", "/etc");
    finish_base(a, m);
    assert_refused("etc: not in the manifest");
}
END_TEST

START_TEST(refuses_hardlink)
{
    json_t *m = base_manifest();
    mf_file(m, "hl", "", 0644);
    struct archive *a = base_package("tar.gz", m);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "hl");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_hardlink(e, "/etc/passwd");
    archive_entry_set_size(e, 0);
    ck_assert_int_eq(archive_write_header(a, e), ARCHIVE_OK);
    archive_entry_free(e);
    finish_base(a, m);
    assert_refused("hardlink hl -> /etc/passwd not allowed");
}
END_TEST

START_TEST(refuses_fifo)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_entry(a, "d/p", AE_IFIFO, 0644, NULL, 0, NULL);
    finish_base(a, m);
    assert_refused("d/p: a fifo is not allowed");
}
END_TEST

START_TEST(refuses_device)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.zst", m);
    pk_entry(a, "null", AE_IFCHR, 0666, NULL, 0, NULL);
    finish_base(a, m);
    assert_refused("null: a device is not allowed");
}
END_TEST

START_TEST(refuses_setuid)
{
    json_t *m = base_manifest();
    mf_file(m, "suid", "#!/bin/sh\n", 0755);
    struct archive *a = base_package("tar.gz", m);
    pk_entry(a, "suid", AE_IFREG, 04755, "#!/bin/sh\n", 10, NULL);
    finish_base(a, m);
    assert_refused("suid: setuid");
}
END_TEST

START_TEST(refuses_unlisted_entry)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("zip", m);
    pk_file(a, "d/extra.php", "<?php evil();\n", 0644);
    finish_base(a, m);
    assert_refused("d/extra.php: not in the manifest");
}
END_TEST

START_TEST(refuses_missing_entry)
{
    json_t *m = base_manifest();
    mf_file(m, "gone.txt", "gone\n", 0644);
    struct archive *a = base_package("tar.gz", m);
    finish_base(a, m);
    assert_refused("missing from the package: gone.txt");
}
END_TEST

START_TEST(refuses_wrong_type)
{
    json_t *m = base_manifest();
    mf_dir(m, "x", 0755);
    struct archive *a = base_package("tar.gz", m);
    pk_file(a, "x", "not a dir\n", 0644);
    finish_base(a, m);
    assert_refused("x: a file in the package, but a dir in the manifest");
}
END_TEST

START_TEST(refuses_bigger_than_listed)
{
    json_t *m = base_manifest();
    mf_file(m, "big.txt", "12345", 0644);
    mf_file(m, "pad.txt", "padding to leave room in total_size\n", 0644);
    struct archive *a = base_package("tar.gz", m);
    pk_file(a, "big.txt", "1234567890", 0644);
    pk_file(a, "pad.txt", "padding to leave room in total_size\n", 0644);
    finish_base(a, m);
    assert_refused("big.txt: 10 bytes, but the manifest says 5");
}
END_TEST

START_TEST(refuses_sha_mismatch)
{
    json_t *m = base_manifest();
    mf_file(m, "c.txt", "trusted\n", 0644);
    struct archive *a = base_package("zip", m);
    pk_file(a, "c.txt", "evil!!\n\n", 0644);
    finish_base(a, m);
    assert_refused("sha256 mismatch for c.txt");
}
END_TEST

START_TEST(refuses_duplicate)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_file(a, "a.txt", "hello\n", 0644);
    finish_base(a, m);
    assert_refused("a.txt: appears twice");
}
END_TEST

START_TEST(refuses_bomb)
{
    /* The manifest says 1 KiB; the package holds 10 MiB of zeros. */
    json_t *m = manifest_new();
    mf_zeros(m, "zero.bin", 1024);
    struct archive *a = pk_open("tar.gz");
    pk_manifest(a, m);
    pk_zeros(a, "zero.bin", 10 * MiB);
    pk_close(a);
    json_decref(m);
    assert_refused("zero.bin: would unpack more than the manifest's 1024 bytes");
}
END_TEST

START_TEST(refuses_bomb_before_manifest)
{
    /* The stream guard (max_ratio) stops pass 1 before the manifest. */
    json_t *m = manifest_new();
    mf_zeros(m, "zero.bin", 1024);
    struct archive *a = pk_open("tar.gz");
    pk_zeros(a, "zero.bin", 64 * MiB);
    pk_manifest(a, m);
    pk_close(a);
    json_decref(m);
    assert_refused("zero.bin: the package unpacks to more than 100 times its size");
}
END_TEST

/* Make the zip's headers of `name` claim usize bytes (central directory,
 * local header, data descriptor). */
static void zip_lie(const char *path, const char *name, uint32_t usize)
{
    char *data = NULL;
    size_t len = 0;
    nx_err e;
    ck_assert_int_eq(nx_read_file(path, &data, &len, 0, &e), 0);
    unsigned char le[4] = {(unsigned char)usize, (unsigned char)(usize >> 8),
                           (unsigned char)(usize >> 16), (unsigned char)(usize >> 24)};
    size_t nlen = strlen(name);
    int patched = 0, current = 0;
    for (size_t i = 0; i + 46 + nlen < len; i++) {
        if (memcmp(data + i, "PK\x01\x02", 4) == 0 && memcmp(data + i + 46, name, nlen) == 0) {
            memcpy(data + i + 24, le, 4);
            patched++;
        } else if (memcmp(data + i, "PK\x03\x04", 4) == 0) {
            current = memcmp(data + i + 30, name, nlen) == 0;
            if (current && memcmp(data + i + 22, "\0\0\0", 4) != 0)
                memcpy(data + i + 22, le, 4);
        } else if (memcmp(data + i, "PK\x07\x08", 4) == 0 && current) {
            memcpy(data + i + 12, le, 4);
        }
    }
    ck_assert_int_eq(patched, 1);
    ck_assert_int_eq(nx_write_file_atomic(path, data, len, 0644, &e), 0);
    free(data);
}

START_TEST(refuses_lying_zip)
{
    /* Its headers say 1 KiB, its data inflates to 10 MiB: the step stops
     * at the manifest's 1 KiB instead of writing 10 MiB. */
    json_t *m = manifest_new();
    mf_zeros(m, "zero.bin", 1024);
    mf_zeros(m, "room.bin", 1 * MiB);
    struct archive *a = pk_open("zip");
    pk_zeros(a, "zero.bin", 10 * MiB);
    pk_manifest(a, m);
    pk_close(a);
    json_decref(m);
    zip_lie(pkg, "zero.bin", 1024);
    assert_refused("zero.bin: more data than the manifest's 1024 bytes");
}
END_TEST

START_TEST(refuses_write_through_symlink)
{
    /* link -> sub, then link/file: never written through the link. */
    json_t *m = base_manifest();
    mf_dir(m, "sub", 0755);
    mf_link(m, "link", "sub");
    mf_file(m, "sub/file", "x\n", 0644);
    struct archive *a = base_package("tar.gz", m);
    pk_dir(a, "sub", 0755);
    pk_link(a, "link", "sub");
    pk_file(a, "link/file", "x\n", 0644);
    pk_file(a, "sub/file", "x\n", 0644);
    finish_base(a, m);
    assert_refused("link/file");
}
END_TEST

START_TEST(refuses_no_manifest)
{
    struct archive *a = pk_open("zip");
    pk_file(a, "a.txt", "hello\n", 0644);
    pk_close(a);
    assert_refused("no nexo-release.json in the package");
}
END_TEST

START_TEST(refuses_bad_manifest)
{
    struct archive *a = pk_open("tar.gz");
    pk_file(a, "nexo-release.json", "{\"format\": 1, \"files\": [", 0644);
    pk_file(a, "a.txt", "hello\n", 0644);
    pk_close(a);
    assert_refused("nexo-release.json: not valid JSON");
}
END_TEST

START_TEST(refuses_wrong_total)
{
    json_t *m = base_manifest();
    json_object_set_new(m, "total_size", json_integer(1));
    struct archive *a = base_package("tar.gz", m);
    finish_base(a, m);
    assert_refused("nexo-release.json: \"total_size\" 1 is not the sum");
}
END_TEST

START_TEST(refuses_huge_manifest)
{
    char *text = malloc(64 * MiB + 100);
    memset(text, ' ', 64 * MiB + 99);
    text[0] = '{';
    text[64 * MiB + 98] = '}';
    text[64 * MiB + 99] = '\0';
    struct archive *a = pk_open("tar.gz");
    pk_file(a, "nexo-release.json", text, 0644);
    pk_close(a);
    free(text);
    assert_refused("nexo-release.json is larger than 64 MiB");
}
END_TEST

START_TEST(refuses_two_manifests)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    pk_manifest(a, m);
    finish_base(a, m);
    assert_refused("nexo-release.json appears twice");
}
END_TEST

START_TEST(refuses_other_formats)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar", m);
    finish_base(a, m);
    assert_refused("is not a package format");
    FILE *f = fopen(pkg, "w");
    fputs("this is not an archive at all, just some text\n", f);
    fclose(f);
    assert_refused("not a .tar.zst, .tar.gz or .zip package");
}
END_TEST

START_TEST(refuses_other_component)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    finish_base(a, m);
    struct fakehost fh;
    host(&fh);
    json_object_set_new(fh.info, "param.component", json_string("plugin:forum"));
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EVERIFY);
    ck_assert_ptr_nonnull(strstr(fh.msg, "the package is core, but plugin:forum was offered"));
    assert_root_untouched();
    fh_free(&fh);
}
END_TEST

START_TEST(foreign_staging_folder_is_kept)
{
    json_t *m = base_manifest();
    struct archive *a = base_package("tar.gz", m);
    finish_base(a, m);
    ck_assert_int_eq(mkdir(staging, 0755), 0);
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "run"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "is not this update's staging folder"));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(access(staging, F_OK), 0); /* not ours: left alone */
    fh_free(&fh);
}
END_TEST

START_TEST(undo_without_run)
{
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    ck_assert_int_eq(fh_call(&fh, "commit"), 0);
    /* killed after journaling, before mkdir: nothing there, fine */
    json_object_set_new(fh.state, "staging", json_string(staging));
    ck_assert_int_eq(fh_call(&fh, "undo"), 0);
    fh_free(&fh);
}
END_TEST

START_TEST(validate_and_plan)
{
    struct fakehost fh;
    host(&fh);
    ck_assert_int_eq(fh_call(&fh, "validate"), 0);
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "would extract"));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, pkg));
    ck_assert_ptr_nonnull(strstr(fh.logbuf, staging));
    json_object_del(fh.shared, "package_file");
    ck_assert_int_eq(fh_call(&fh, "plan"), 0);
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "depends on the download"));
    json_object_set_new(fh.settings, "max_ratio", json_string("lots"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "max_ratio = lots"));
    json_object_set_new(fh.settings, "max_ratio", json_string("0"));
    json_object_set_new(fh.settings, "subdir", json_string("../up"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "subdir = ../up"));
    json_object_set_new(fh.settings, "subdir", json_string(""));
    json_object_set_new(fh.settings, "staging", json_string("/"));
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "staging = /"));
    json_object_del(fh.info, "root");
    ck_assert_int_eq(fh_call(&fh, "validate"), NEXO_EINVAL);
    ck_assert_ptr_nonnull(strstr(fh.msg, "root is not set"));
    fh_free(&fh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("extract");
    TCase *tc = tcase_create("extract");
    tcase_add_unchecked_fixture(tc, tu_base_setup, tu_base_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, happy_path, 0, 3);
    tcase_add_test(tc, staged_files_belong_to_site_owner);
    tcase_add_test(tc, undo_leaves_a_replaced_staging_folder);
    tcase_add_test(tc, commit_removes_leftovers);
    tcase_add_test(tc, verify_copy_is_reused);
    tcase_add_test(tc, subdir_and_custom_staging);
    tcase_add_test(tc, plugin_payload_in_component_dir);
    tcase_add_test(tc, param_package_when_nothing_downloaded);
    tcase_add_test(tc, refuses_dotdot);
    tcase_add_test(tc, refuses_dotdot_inside);
    tcase_add_test(tc, refuses_absolute);
    tcase_add_test(tc, refuses_empty_component);
    tcase_add_test(tc, refuses_symlink_to_etc);
    tcase_add_test(tc, refuses_symlink_outside);
    tcase_add_test(tc, refuses_unlisted_symlink);
    tcase_add_test(tc, refuses_hardlink);
    tcase_add_test(tc, refuses_fifo);
    tcase_add_test(tc, refuses_device);
    tcase_add_test(tc, refuses_setuid);
    tcase_add_test(tc, refuses_unlisted_entry);
    tcase_add_test(tc, refuses_missing_entry);
    tcase_add_test(tc, refuses_wrong_type);
    tcase_add_test(tc, refuses_bigger_than_listed);
    tcase_add_test(tc, refuses_sha_mismatch);
    tcase_add_test(tc, refuses_duplicate);
    tcase_add_test(tc, refuses_bomb);
    tcase_add_test(tc, refuses_bomb_before_manifest);
    tcase_add_test(tc, refuses_lying_zip);
    tcase_add_test(tc, refuses_write_through_symlink);
    tcase_add_test(tc, refuses_no_manifest);
    tcase_add_test(tc, refuses_bad_manifest);
    tcase_add_test(tc, refuses_wrong_total);
    tcase_add_test(tc, refuses_huge_manifest);
    tcase_add_test(tc, refuses_two_manifests);
    tcase_add_test(tc, refuses_other_formats);
    tcase_add_test(tc, refuses_other_component);
    tcase_add_test(tc, foreign_staging_folder_is_kept);
    tcase_add_test(tc, undo_without_run);
    tcase_add_test(tc, validate_and_plan);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
