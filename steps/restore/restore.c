/*
 * restore — puts a backup made by the backup step back: the heart of
 * `nexo-update rollback` (conf/pipelines/rollback.ini).
 *
 * Input: the backup folder (setting `backup`, default the fact
 * param.backup_dir the rollback command records), holding meta.json,
 * files.tar.zst and, with a database, database.dump.
 *
 * run, in this order:
 *   1. check   (in validate, before any step runs) every file meta.json
 *              lists has its size and sha256, the backup's database driver
 *              is the configured one: a damaged backup is refused before
 *              anything changes (run checks the sizes again).
 *   2. files   the archive, but its preserved paths ([site] preserve:
 *              .env, var, modules/plugins — the site's own data, never
 *              overwritten), is unpacked into ROOT/.nexo-restore-<update
 *              id> (journaled before it is made; entries are checked: no
 *              absolute names, no "..", no devices; modes, owners (as
 *              root) and mtimes restored) and published as shared
 *              "staging_dir": the replace_files step after it swaps the
 *              managed paths into the site, and its undo swaps back.
 *              Other paths the backup has and the site lacks (a
 *              migration's <cleanup> deleted them, e.g. modules/deprecated)
 *              are moved into the site here; undo removes them again.
 *   3. database  the rows of update_history are read first; the database
 *              is restored from database.dump (the driver makes it equal to
 *              the dump: schema, rows, sequences); then the history rows
 *              the dump does not have are written back, so the record of
 *              what happened is never lost.
 * A checkpoint after the files and after the database.
 *
 * undo: when the database restore had begun, the database is restored
 * from the snapshot taken just before it (shared "db_snapshot" from the
 * backup step that runs before this one in the rollback pipeline, else
 * the step's own snapshot in the work folder); the staging folder is
 * removed. Works in a fresh process and twice.
 * commit: removes the staging folder (replace_files' commit has removed
 * the trees it swapped out) and records in the backup's meta.json that it
 * was restored (restored_by, restored_at), so a later plain `rollback`
 * goes one backup further back.
 *
 * A plugin's backup (the rollback runs as component plugin:SLUG, fact
 * component_dir) holds that plugin's folder alone: it is the managed
 * path, nothing is preserved, and replace_files swaps it back (or, if
 * the update had installed the plugin, takes it out of the site).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/driver.h>
#include <nexo/schema.h>
#include <nexo/step.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backupstore.h"
#include "fsat.h"
#include "offer.h"
#include "restore.h"
#include "trust.h"
#include "util.h"

#define META_MAX (1024 * 1024)

static const struct nexo_setting settings[] = {
    { "backup", "", 0, "the backup folder to restore (default: the fact param.backup_dir, "
                       "which `nexo-update rollback` records)" },
    { "managed", "", 0, "paths below the root to restore (default: [site] managed)" },
    { "preserve", "", 0, "paths never restored (default: [site] preserve)" },
    { NULL, NULL, 0, NULL },
};

static const char *mstr(json_t *m, const char *key)
{
    const char *s = json_string_value(json_object_get(m, key));
    return s ? s : "?";
}

static const char *backup_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *b = h->setting(c, "backup");
    if (b && *b)
        return b;
    b = h->info(c, "param.backup_dir");
    return b && *b ? b : NULL;
}

/* The folder a plugin occupies; NULL for core. */
static const char *component_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *d = h->info(c, "component_dir");
    return d && *d ? d : NULL;
}

static const char *managed_list(const struct nexo_host *h, nexo_ctx *c)
{
    const char *m = h->setting(c, "managed");
    if (m && *m)
        return m;
    if (component_dir(h, c))
        return component_dir(h, c);
    m = h->config(c, "site", "managed");
    return m ? m : "core public_html resources database";
}

static const char *preserve_list(const struct nexo_host *h, nexo_ctx *c)
{
    const char *m = h->setting(c, "preserve");
    if (m && *m)
        return m;
    if (component_dir(h, c))
        return "";
    m = h->config(c, "site", "preserve");
    return m ? m : ".env var modules/plugins";
}

/* Is the name one of the paths of the list, or below one? */
static int in_paths(const char *list, const char *name)
{
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        while (len > 1 && p[len - 1] == '/')
            len--;
        if (len && strncmp(name, p, len) == 0 && (name[len] == '\0' || name[len] == '/'))
            return 1;
        p += len;
    }
    return 0;
}

/* Is the name a folder above one of the paths of the list? */
static int above_paths(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '/')
            return 1;
        p += len;
    }
    return 0;
}

/* meta.json of the backup, or NULL with the failure set. */
static json_t *read_meta(const struct nexo_host *h, nexo_ctx *c, const char *dir)
{
    char *path = nx_path_join(dir, "meta.json");
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    json_t *m = NULL;
    if (nx_read_file(path, &text, &len, META_MAX, &e) != 0) {
        h->fail(c, NEXO_ENOTFOUND, "%s", e.msg);
    } else {
        json_error_t je;
        m = json_loadb(text, len, 0, &je);
        if (!m || !json_is_object(m)) {
            h->fail(c, NEXO_EINVAL, "%s:%d: not a backup's meta.json: %s", path, je.line,
                    m ? "not an object" : je.text);
            json_decref(m);
            m = NULL;
        }
    }
    free(text);
    free(path);
    return m;
}

/* One file of the backup against its meta entry {"file","size","sha256"}. */
static int check_file(const struct nexo_host *h, nexo_ctx *c, const char *dir, json_t *ent,
                      const char *what, int full)
{
    const char *file = json_string_value(json_object_get(ent, "file"));
    const char *sha = json_string_value(json_object_get(ent, "sha256"));
    json_int_t size = json_integer_value(json_object_get(ent, "size"));
    if (!file || !sha || strchr(file, '/'))
        return h->fail(c, NEXO_EVERIFY, "%s/meta.json: the %s entry has no file name or "
                       "sha256", dir, what);
    char *path = nx_path_join(dir, file);
    char hex[NX_SHA256_HEX];
    uint64_t got = 0;
    nx_err e;
    int rc = 0;
    struct stat st;
    if (!full) {
        if (stat(path, &st) != 0)
            rc = h->fail(c, NEXO_EVERIFY, "%s: %s", path, strerror(errno));
        else if ((json_int_t)st.st_size != size)
            rc = h->fail(c, NEXO_EVERIFY, "%s: %lld bytes, but meta.json says %lld: the "
                         "backup changed since it was checked", path, (long long)st.st_size,
                         (long long)size);
        free(path);
        return rc;
    }
    h->log(c, NEXO_LOG_DEBUG, "checking %s", path);
    if (nx_sha256_file(path, hex, &got, &e) != 0)
        rc = h->fail(c, NEXO_EVERIFY, "%s: the backup is incomplete: %s", dir, e.msg);
    else if ((json_int_t)got != size)
        rc = h->fail(c, NEXO_EVERIFY, "%s: %llu bytes, but meta.json says %lld: the backup "
                     "is damaged; nothing was changed", path, (unsigned long long)got,
                     (long long)size);
    else if (strcmp(hex, sha) != 0)
        rc = h->fail(c, NEXO_EVERIFY, "%s: sha256 %s, but meta.json says %s: the backup is "
                     "damaged; nothing was changed", path, hex, sha);
    free(path);
    return rc;
}

/* full: sizes and sha256 (validate, before anything changes); else sizes
 * only (run: validate hashed them moments ago, the folder is the owner's). */
static int check_backup(const struct nexo_host *h, nexo_ctx *c, const char *dir, json_t *m,
                        int full)
{
    json_t *files = json_object_get(m, "files");
    if (!json_is_object(files))
        return h->fail(c, NEXO_EVERIFY, "%s/meta.json: no files archive recorded", dir);
    int rc = check_file(h, c, dir, files, "files", full);
    json_t *db = json_object_get(m, "database");
    const char *driver = h->config(c, "database", "driver");
    if (!rc && driver && !json_is_object(db))
        rc = h->fail(c, NEXO_EVERIFY, "%s holds no database dump, but the site has a %s "
                     "database: refused", dir, driver);
    if (!rc && json_is_object(db)) {
        const char *bd = json_string_value(json_object_get(db, "driver"));
        if (!driver || !bd || strcmp(driver, bd) != 0)
            rc = h->fail(c, NEXO_EINVAL, "%s holds a %s database dump, but the site's database "
                         "is %s: refused", dir, bd ? bd : "(unknown)",
                         driver ? driver : "not configured");
        if (!rc)
            rc = check_file(h, c, dir, db, "database", full);
    }
    return rc;
}

/* ---- files --------------------------------------------------------------- */

/* A safe relative archive name: not absolute, no "..", no empty part. */
static int safe_name(const char *n)
{
    if (!n || !*n || n[0] == '/')
        return 0;
    for (const char *p = n; *p;) {
        size_t len = strcspn(p, "/");
        if ((len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len;
        while (*p == '/')
            p++;
    }
    return 1;
}

struct unpack {
    const struct nexo_host *h;
    nexo_ctx *c;
    const char *archive_path;
    const char *staging;      /* named in messages */
    const char *write_base;   /* where entries are written (NULL: staging) */
    const char *preserve;
    struct archive *in;
    struct archive *out;
    uint64_t total;
    uint64_t done;
    unsigned long entries;
};

static int copy_data(struct unpack *u, const char *name)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(u->in, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return u->h->fail(u->c, NEXO_EIO, "%s: %s: %s", u->archive_path, name,
                              archive_error_string(u->in));
        if (archive_write_data_block(u->out, buf, len, off) < ARCHIVE_WARN)
            return u->h->fail(u->c, NEXO_EIO, "%s/%s: %s", u->staging, name,
                              archive_error_string(u->out));
        u->done += len;
        u->h->progress(u->c, "restoring files", u->done, u->total);
    }
}

static int unpack_entry(struct unpack *u, struct archive_entry *ent)
{
    char *name = nx_xstrdup(archive_entry_pathname(ent) ? archive_entry_pathname(ent) : "");
    for (size_t n = strlen(name); n > 1 && name[n - 1] == '/'; n--)
        name[n - 1] = '\0';
    int rc = 0;
    mode_t type = archive_entry_filetype(ent);
    const char *link = archive_entry_hardlink(ent);
    if (!safe_name(name) || (link && !safe_name(link)))
        rc = u->h->fail(u->c, NEXO_EVERIFY, "%s: entry '%s' is not a plain relative name: "
                        "refused", u->archive_path, name);
    else if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
        rc = u->h->fail(u->c, NEXO_EVERIFY, "%s: entry '%s' is not a file, folder or symlink: "
                        "refused", u->archive_path, name);
    if (rc || in_paths(u->preserve, name)) {
        if (!rc)
            u->h->log(u->c, NEXO_LOG_DEBUG, "%s: a preserved path: left in the backup", name);
        free(name);
        return rc;
    }
    const char *base = u->write_base ? u->write_base : u->staging;
    char *dest = nx_path_join(base, name);
    archive_entry_set_pathname(ent, dest);
    if (link) {
        char *ldest = nx_path_join(base, link);
        archive_entry_set_hardlink(ent, ldest);
        free(ldest);
    }
    int w = archive_write_header(u->out, ent);
    if (w < ARCHIVE_WARN)
        rc = u->h->fail(u->c, NEXO_EIO, "%s: %s", dest, archive_error_string(u->out));
    else if (type == AE_IFREG && archive_entry_size(ent) > 0)
        rc = copy_data(u, name);
    if (!rc && archive_write_finish_entry(u->out) < ARCHIVE_WARN)
        rc = u->h->fail(u->c, NEXO_EIO, "%s: %s", dest, archive_error_string(u->out));
    u->entries++;
    free(dest);
    free(name);
    return rc;
}

static int unpack_all(struct unpack *u)
{
    u->in = archive_read_new();
    u->out = archive_write_disk_new();
    archive_read_support_filter_all(u->in);
    archive_read_support_format_tar(u->in);
    int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_NO_OVERWRITE;
    if (geteuid() == 0)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(u->out, flags);
    archive_write_disk_set_standard_lookup(u->out);
    int rc = 0;
    if (archive_read_open_filename(u->in, u->archive_path, 65536) != ARCHIVE_OK)
        rc = u->h->fail(u->c, NEXO_EIO, "%s: %s", u->archive_path,
                        archive_error_string(u->in));
    struct archive_entry *ent;
    while (!rc) {
        int r = archive_read_next_header(u->in, &ent);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = u->h->fail(u->c, NEXO_EIO, "%s: %s", u->archive_path,
                            archive_error_string(u->in));
            break;
        }
        rc = unpack_entry(u, ent);
    }
    /* closing the writer applies the folders' modes and times */
    if (archive_write_close(u->out) != ARCHIVE_OK && !rc)
        rc = u->h->fail(u->c, NEXO_EIO, "%s: %s", u->staging, archive_error_string(u->out));
    archive_write_free(u->out);
    archive_read_free(u->in);
    return rc;
}

int rs_unpack(const struct nexo_host *h, nexo_ctx *c, const char *archive, const char *staging,
              const char *preserve, unsigned long *entries)
{
    struct unpack u = { .h = h, .c = c, .archive_path = archive, .staging = staging,
                        .preserve = preserve };
    int rc = unpack_all(&u);
    *entries = u.entries;
    return rc;
}

/* Paths outside the managed ones that the backup has and the site lacks
 * (a migration's <cleanup> deleted them): each topmost missing one is
 * journaled ("put.N") and renamed from the staging folder into the site;
 * undo removes them again. Paths the site has are left as they are. */
struct putback {
    const struct nexo_host *h;
    nexo_ctx *c;
    const char *root;
    const char *staging;   /* a path through the staging folder's descriptor */
    const char *shown;     /* its path, for messages */
    int rootfd;
    const char *managed;
    unsigned n;
};

/* The folder of ROOT/rel, opened from the site root's descriptor without
 * following a link on the way (a link of the site owner's never leads the
 * put-back outside the site); -1 with errno and e. */
static int site_parent(struct putback *p, const char *rel, nx_err *e)
{
    char *dir = nx_dirname(rel);
    int dfd = strcmp(dir, ".") == 0 ? dup(p->rootfd) : nx_open_below(p->rootfd, dir, p->root, e);
    if (dfd < 0 && strcmp(dir, ".") == 0)
        nx_seterr(e, "%s: %s", p->root, strerror(errno));
    free(dir);
    return dfd;
}

static int site_lstat(struct putback *p, const char *rel, struct stat *st)
{
    nx_err e;
    int dfd = site_parent(p, rel, &e);
    if (dfd < 0)
        return -1;
    int rc = fstatat(dfd, nx_basename(rel), st, AT_SYMLINK_NOFOLLOW);
    int err = errno;
    close(dfd);
    errno = err;
    return rc;
}

static int site_rename_in(struct putback *p, const char *src, const char *rel)
{
    nx_err e;
    int dfd = site_parent(p, rel, &e);
    if (dfd < 0)
        return p->h->fail(p->c, NEXO_EIO, "cannot put %s/%s back: %s", p->root, rel, e.msg);
    int rc = renameat(AT_FDCWD, src, dfd, nx_basename(rel));
    int err = errno;
    close(dfd);
    if (rc != 0)
        return p->h->fail(p->c, NEXO_EIO, "cannot put %s/%s back: %s", p->root, rel,
                          strerror(err));
    return 0;
}

static int put_back(struct putback *p, const char *rel)
{
    char *src = nx_path_join(p->staging, rel);
    char *dst = nx_path_join(p->root, rel);
    struct stat ss, ds;
    int rc = 0;
    /* a managed path is replace_files' (a plugin's folder below modules/),
     * and so is a folder above one that the site lacks */
    int above = above_paths(p->managed, rel);
    if (in_paths(p->managed, rel) || lstat(src, &ss) != 0 ||
        (above && site_lstat(p, rel, &ds) != 0)) {
        free(src);
        free(dst);
        return 0;
    }
    if (!above && site_lstat(p, rel, &ds) != 0 && errno == ENOENT) {
        char key[32];
        snprintf(key, sizeof key, "put.%u", p->n++);
        rc = p->h->state_set(p->c, key, rel);
        if (!rc)
            rc = site_rename_in(p, src, rel);
        if (!rc)
            p->h->log(p->c, NEXO_LOG_INFO, "put back %s (the site no longer had it)", dst);
    } else if (S_ISDIR(ss.st_mode) && S_ISDIR(ds.st_mode)) {
        struct dirent **names = NULL;
        int n = scandir(src, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            const char *d = names[i]->d_name;
            if (!rc && strcmp(d, ".") != 0 && strcmp(d, "..") != 0) {
                char *sub = nx_path_join(rel, d);
                rc = put_back(p, sub);
                free(sub);
            }
            free(names[i]);
        }
        free(names);
    }
    free(src);
    free(dst);
    return rc;
}

static int put_back_missing(const struct nexo_host *h, nexo_ctx *c, const char *staging,
                            const char *shown)
{
    const char *managed = managed_list(h, c);
    struct putback p = { .h = h, .c = c, .root = h->info(c, "root"), .staging = staging,
                         .shown = shown, .managed = managed };
    p.rootfd = open(p.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (p.rootfd < 0)
        return h->fail(c, NEXO_EIO, "%s: %s", p.root, strerror(errno));
    struct dirent **names = NULL;
    int n = scandir(staging, &names, NULL, alphasort);
    int rc = n < 0 ? h->fail(c, NEXO_EIO, "%s: %s", shown, strerror(errno)) : 0;
    for (int i = 0; i < n; i++) {
        const char *d = names[i]->d_name;
        if (!rc && strcmp(d, ".") != 0 && strcmp(d, "..") != 0 && !in_paths(managed, d))
            rc = put_back(&p, d);
        free(names[i]);
    }
    free(names);
    close(p.rootfd);
    return rc;
}

static int remove_put_back(const struct nexo_host *h, nexo_ctx *c)
{
    const char *root = h->info(c, "root");
    for (unsigned i = 0;; i++) {
        char key[32];
        snprintf(key, sizeof key, "put.%u", i);
        const char *rel = h->state_get(c, key);
        if (!rel)
            return 0;
        char *path = nx_path_join(root, rel);
        struct stat st;
        nx_err e;
        int rc = 0;
        if (lstat(path, &st) == 0 && nx_rmtree(path, &e) != 0)
            rc = h->fail(c, NEXO_EIO, "%s", e.msg);
        else
            h->log(c, NEXO_LOG_INFO, "removed %s again", path);
        free(path);
        if (rc)
            return rc;
    }
}

static char *staging_path(const struct nexo_host *h, nexo_ctx *c)
{
    char *name = nx_xasprintf(".nexo-restore-%s", h->info(c, "update_id"));
    char *p = nx_path_join(h->info(c, "root"), name);
    free(name);
    return p;
}

static int restore_files(const struct nexo_host *h, nexo_ctx *c, const char *dir, json_t *m)
{
    char *staging = staging_path(h, c);
    struct stat st;
    int rc = 0;
    if (lstat(staging, &st) == 0)
        rc = h->fail(c, NEXO_EINVAL, "%s already exists: remove it (a left-over of another "
                     "update?)", staging);
    if (!rc)
        rc = h->state_set(c, "staging", staging);
    if (!rc && mkdir(staging, 0700) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot make the staging folder: %s", staging,
                     strerror(errno));
    /* From here on the folder (in the site root, which its owner may
     * rename in) is used only through this descriptor: unpacked into with
     * it as the working folder, read through /proc/self/fd/N, published as
     * a private folder (core/pdir.h) for replace_files. */
    int sfd = rc ? -1 : open(staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    char id[64] = "", via[48] = "";
    if (!rc && (sfd < 0 || fstat(sfd, &st) != 0))
        rc = h->fail(c, NEXO_EIO, "%s: cannot open the staging folder: %s", staging,
                     strerror(errno));
    else if (!rc && st.st_uid != geteuid())
        rc = h->fail(c, NEXO_EVERIFY, "%s: refused: the staging folder just made belongs to "
                     "uid %u (replaced by someone else)", staging, (unsigned)st.st_uid);
    if (!rc) {
        nx_pdir_id(&st, id, sizeof id);
        snprintf(via, sizeof via, "/proc/self/fd/%d", sfd);
        rc = h->state_set(c, "staging_id", id);
    }
    if (!rc) {
        const char *file = json_string_value(json_object_get(json_object_get(m, "files"),
                                                             "file"));
        char *archive = nx_path_join(dir, file);
        struct unpack u = { .h = h, .c = c, .archive_path = archive, .staging = staging,
                            .write_base = ".", .preserve = preserve_list(h, c) };
        json_t *st_size = json_object_get(json_object_get(m, "files"), "unpacked_size");
        u.total = json_is_integer(st_size) ? (uint64_t)json_integer_value(st_size) : 0;
        h->log(c, NEXO_LOG_INFO, "unpacking %s into %s", archive, staging);
        int back = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (back < 0 || fchdir(sfd) != 0)
            rc = h->fail(c, NEXO_EIO, "%s: cannot enter the staging folder: %s", staging,
                         strerror(errno));
        if (!rc)
            rc = unpack_all(&u);
        if (back >= 0 && fchdir(back) != 0 && !rc)
            rc = h->fail(c, NEXO_EIO, "cannot return to the working folder: %s",
                         strerror(errno));
        if (back >= 0)
            close(back);
        if (!rc)
            h->log(c, NEXO_LOG_INFO, "%lu entries restored into the staging folder", u.entries);
        free(archive);
    }
    if (!rc)
        rc = put_back_missing(h, c, via, staging);
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_STAGING, staging);
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_STAGING NX_PDIR_SUFFIX, id);
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_STAGING_PATH, staging);
    if (sfd >= 0)
        close(sfd);
    free(staging);
    return rc;
}

/* ---- database ------------------------------------------------------------ */

static const char *const HIST_COLS[] = { "update_id", "component", "from_version",
                                         "to_version", "outcome", "started_at", "finished_at",
                                         "maintenance_seconds", "error" };
#define NHIST (sizeof HIST_COLS / sizeof HIST_COLS[0])

static int collect_row(void *arg, int ncols, const char *const *names,
                       const char *const *values)
{
    (void)names;
    json_t *row = json_array();
    for (int i = 0; i < ncols; i++)
        json_array_append_new(row, values[i] ? json_string(values[i]) : json_null());
    json_array_append_new((json_t *)arg, row);
    return 0;
}

/* Every row of update_history (an array of arrays in HIST_COLS order);
 * an empty array when the table does not exist. */
static json_t *read_history(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                            int *rc)
{
    json_t *rows = json_array();
    *rc = 0;
    int ex = db->driver->exists(h, c, db->conn, "update_history", NULL, NULL);
    if (ex < 0) {
        *rc = NEXO_EDB;
        return rows;
    }
    if (ex == 0)
        return rows;
    char sql[512] = "SELECT ";
    for (size_t i = 0; i < NHIST; i++) {
        char q[64];
        if (db->driver->quote_ident(HIST_COLS[i], q, sizeof q) != 0) {
            *rc = h->fail(c, NEXO_EINVAL, "cannot quote %s", HIST_COLS[i]);
            return rows;
        }
        strcat(sql, q);
        strcat(sql, i + 1 < NHIST ? ", " : " FROM update_history ORDER BY id");
    }
    *rc = db->driver->query(h, c, db->conn, sql, 0, NULL, collect_row, rows);
    return rows;
}

static int have_update(void *arg, int ncols, const char *const *names,
                       const char *const *values)
{
    (void)ncols;
    (void)names;
    (void)values;
    *(int *)arg = 1;
    return 0;
}

/* Write back the rows of `saved` that the restored database lacks. */
static int put_back_history(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                            json_t *saved)
{
    if (json_array_size(saved) == 0)
        return 0;
    int ex = db->driver->exists(h, c, db->conn, "update_history", NULL, NULL);
    if (ex <= 0) {
        h->log(c, NEXO_LOG_WARN, "the restored database has no update_history table: %zu "
               "history row(s) of later updates not kept", json_array_size(saved));
        return ex < 0 ? NEXO_EDB : 0;
    }
    const char *sql = strcmp(db->driver->name, "pgsql") == 0
                          ? "SELECT 1 FROM update_history WHERE update_id = $1 AND outcome = $2"
                          : "SELECT 1 FROM update_history WHERE update_id = ? AND outcome = ?";
    size_t added = 0;
    size_t i;
    json_t *row;
    json_array_foreach(saved, i, row) {
        const char *vals[NHIST];
        for (size_t k = 0; k < NHIST; k++)
            vals[k] = json_string_value(json_array_get(row, k));
        int found = 0;
        const char *key[2] = { vals[0], vals[4] };
        int rc = db->driver->query(h, c, db->conn, sql, 2, key, have_update, &found);
        if (rc)
            return rc;
        if (found)
            continue;
        struct nexo_op op = { .kind = NEXO_OP_INSERT, .table = "update_history",
                              .names = HIST_COLS, .nnames = NHIST, .values = vals, .nrows = 1,
                              .file = "update_history" };
        struct nexo_stmt *st = NULL;
        size_t n = 0;
        rc = db->driver->render(h, c, db->conn, &op, &st, &n);
        for (size_t s = 0; !rc && s < n; s++)
            rc = db->driver->exec(h, c, db->conn, st[s].sql, st[s].nparams,
                                  (const char *const *)st[s].params);
        if (st)
            db->driver->free_stmts(st, n);
        if (rc)
            return rc;
        added++;
    }
    h->log(c, NEXO_LOG_INFO, "kept %zu update_history row(s) written after the backup", added);
    return 0;
}

/* The snapshot undo restores from: the backup step's, else our own. */
static int undo_snapshot(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db)
{
    const char *snap = h->shared_get(c, "db_snapshot");
    if (snap && *snap && access(snap, R_OK) == 0)
        return h->state_set(c, "snapshot", snap);
    const char *work = h->info(c, "work_dir");
    if (!work)
        return h->fail(c, NEXO_EINVAL, "no snapshot of the database to undo with: put a "
                       "backup step before restore, or run it from nexo-update");
    char *path = nx_path_join(work, "restore-undo.dump");
    int rc = h->state_set(c, "snapshot", path);
    if (!rc) {
        h->log(c, NEXO_LOG_INFO, "taking a snapshot of the database before restoring it");
        rc = db->driver->backup(h, c, db->conn, path);
    }
    free(path);
    return rc;
}

static int restore_db(const struct nexo_host *h, nexo_ctx *c, const char *dir, json_t *m)
{
    json_t *dbm = json_object_get(m, "database");
    if (!json_is_object(dbm))
        return 0;
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    int rc = undo_snapshot(h, c, db);
    if (rc)
        return rc;
    json_t *saved = read_history(h, c, db, &rc);
    char *dump = nx_path_join(dir, json_string_value(json_object_get(dbm, "file")));
    if (!rc)
        rc = h->state_set(c, "db_restoring", "1");
    if (!rc) {
        h->log(c, NEXO_LOG_INFO, "restoring the %s database from %s", db->driver->name, dump);
        rc = db->driver->restore(h, c, db->conn, dump);
    }
    if (!rc)
        rc = put_back_history(h, c, db, saved);
    free(dump);
    json_decref(saved);
    return rc;
}

/* ---- the step ------------------------------------------------------------ */

static int r_run(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = backup_dir(h, c);
    json_t *m = read_meta(h, c, dir);
    if (!m)
        return NEXO_ENOTFOUND;
    int rc = check_backup(h, c, dir, m, 0);
    if (!rc)
        rc = restore_files(h, c, dir, m);
    if (!rc)
        rc = h->checkpoint(c, "files");
    if (!rc)
        rc = restore_db(h, c, dir, m);
    if (!rc && json_is_object(json_object_get(m, "database")))
        rc = h->checkpoint(c, "database");
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "backup %s restored (the site was at %s before update %s)",
               dir, mstr(m, "from_version"), mstr(m, "update_id"));
    json_decref(m);
    return rc;
}

static int remove_staging(const struct nexo_host *h, nexo_ctx *c)
{
    const char *s = h->state_get(c, "staging");
    const char *want = h->state_get(c, "staging_id");
    struct stat st;
    nx_err e;
    if (!s || lstat(s, &st) != 0)
        return 0;
    char have[64];
    nx_pdir_id(&st, have, sizeof have);
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (want && strcmp(have, want) != 0)) {
        h->log(c, NEXO_LOG_WARN, "%s is not the staging folder this update made (replaced by "
               "someone else?): left alone", s);
        return 0;
    }
    if (nx_rmtree(s, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    return 0;
}

static int r_undo(const struct nexo_host *h, nexo_ctx *c)
{
    int rc = 0;
    if (h->state_get(c, "db_restoring") && !h->state_get(c, "db_undone")) {
        const char *snap = h->state_get(c, "snapshot");
        struct nexo_db *db = h->db(c);
        if (!db)
            return NEXO_EDB;
        if (!snap)
            return h->fail(c, NEXO_ERROR, "the snapshot of the database is unknown");
        h->log(c, NEXO_LOG_INFO, "restoring the database as it was before the rollback (%s)",
               snap);
        rc = db->driver->restore(h, c, db->conn, snap);
        if (!rc)
            rc = h->state_set(c, "db_undone", "1");
    }
    if (!rc)
        rc = remove_put_back(h, c);
    if (!rc)
        rc = remove_staging(h, c);
    return rc;
}

/* Note in the restored backup's meta.json that it was restored. */
static void mark_restored(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = backup_dir(h, c);
    json_t *m = dir ? read_meta(h, c, dir) : NULL;
    if (!m)
        return;
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_set_new(m, "restored_by", json_string(h->info(c, "update_id")));
    json_object_set_new(m, "restored_at", json_string(when));
    char *text = json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    char *path = nx_path_join(dir, "meta.json");
    nx_err e;
    if (!text || nx_write_file_atomic(path, text, strlen(text), 0600, &e) != 0)
        h->log(c, NEXO_LOG_WARN, "%s: cannot note the restore: %s", path,
               text ? e.msg : "out of memory");
    free(path);
    free(text);
    json_decref(m);
}

/* Undoing a rollback (restoring the backup a rollback took of the state
 * before it): the backup that rollback had restored is usable again, so
 * a later plain `rollback` goes back to it. */
static void unmark_undone_rollback(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = backup_dir(h, c);
    json_t *m = dir ? read_meta(h, c, dir) : NULL;
    const char *pipeline = json_string_value(json_object_get(m, "pipeline"));
    const char *rollback_id = json_string_value(json_object_get(m, "update_id"));
    const char *store = h->config(c, "paths", "backups");
    nx_backup_list l = { 0 };
    nx_err e;
    if (m && pipeline && strcmp(pipeline, "rollback") == 0 && rollback_id && store &&
        nx_backups_list(store, &l, &e) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            const char *by = json_string_value(json_object_get(l.v[i].meta, "restored_by"));
            if (!by || strcmp(by, rollback_id) != 0)
                continue;
            json_t *om = json_deep_copy(l.v[i].meta);
            json_object_del(om, "restored_by");
            json_object_del(om, "restored_at");
            char *text = json_dumps(om, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            char *path = nx_path_join(l.v[i].path, "meta.json");
            nx_err we;
            if (text && nx_write_file_atomic(path, text, strlen(text), 0600, &we) == 0)
                h->log(c, NEXO_LOG_INFO, "rollback %s undone: backup %s can be restored again",
                       rollback_id, l.v[i].name);
            free(path);
            free(text);
            json_decref(om);
        }
    }
    nx_backups_free(&l);
    json_decref(m);
}

static int r_commit(const struct nexo_host *h, nexo_ctx *c)
{
    unmark_undone_rollback(h, c);
    mark_restored(h, c);
    const char *own = h->state_get(c, "snapshot");
    const char *shared = h->shared_get(c, "db_snapshot");
    if (own && (!shared || strcmp(own, shared) != 0))
        unlink(own);
    return remove_staging(h, c);
}

static int r_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = backup_dir(h, c);
    /* no component fact: a pipeline file checked on its own ('pipeline
     * validate'); 'nexo-update rollback' names the backup */
    if (!dir && !h->info(c, "component"))
        return 0;
    if (!dir)
        return h->fail(c, NEXO_EINVAL, "no backup to restore: set backup = FOLDER (or run it "
                       "through 'nexo-update rollback')");
    if (dir[0] != '/')
        return h->fail(c, NEXO_EINVAL, "backup = %s: an absolute path is needed", dir);
    if (!h->info(c, "root"))
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    json_t *m = read_meta(h, c, dir);
    if (!m)
        return NEXO_ENOTFOUND;
    int rc = check_backup(h, c, dir, m, 1);
    json_decref(m);
    return rc;
}

static int r_plan(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = backup_dir(h, c);
    json_t *m = read_meta(h, c, dir);
    if (!m)
        return NEXO_ENOTFOUND;
    h->log(c, NEXO_LOG_INFO, "would restore %s (%s %s, taken %s before update %s): the "
           "managed paths (%s)%s", dir, mstr(m, "component"), mstr(m, "from_version"),
           mstr(m, "created_at"), mstr(m, "update_id"), managed_list(h, c),
           json_is_object(json_object_get(m, "database")) ? " and the database" : "");
    json_decref(m);
    return 0;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "restore",
    .version = "1.0.0",
    .summary = "put a backup back: stage its files for replace_files and restore the database",
    .settings = settings,
    .validate = r_validate,
    .plan = r_plan,
    .run = r_run,
    .undo = r_undo,
    .commit = r_commit,
};
