/*
 * backup — a full backup of the site before it changes: the database
 * through its driver's own snapshot (pg_dump custom format, mariadb-dump,
 * SQLite's online backup API; passwords never on argv) and the site's
 * code — the managed paths, .env and every other path of the site but the
 * preserved data (var, modules/plugins) — as tar + zstd (libarchive), into
 *
 *   BACKUPS/backup_<update id>_<YYYYmmddTHHMMSSZ>/      0700
 *       database.dump   the driver's format (absent without [database])
 *       files.tar.zst   site-relative names, modes and mtimes kept
 *       meta.json       update id, time, component, versions, sizes, sha256
 *
 * all files 0600. Everything is written into NAME.partial, fsync'ed and
 * renamed into place; both names are journaled before anything is
 * created, so undo removes either after a crash. The step refuses to start
 * when the backups file system has less than estimate * 1.1 + reserve_mb
 * MiB free. It publishes shared "db_snapshot" (the migrate step restores
 * from it instead of taking its own) and "backup_dir".
 *
 * A plugin's update (fact component_dir) backs up the database and that
 * plugin's folder only; meta.json names the component (plugin:SLUG), so
 * that a rollback restores exactly that folder.
 *
 * undo: the update failed, the backup was not needed: it is removed.
 * commit: the backup stays; retention ([backup] keep, keep_days) runs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/driver.h>
#include <nexo/step.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "trust.h"
#include "util.h"

#define MIB (1024ull * 1024ull)

static const struct nexo_setting settings[] = {
    { "reserve_mb", "64", 0,
      "MiB that must stay free on the backups file system beyond the backup itself" },
    { NULL, NULL, 0, NULL },
};

struct job {
    const char *root;
    const char *backups;
    const char *driver;  /* [database] driver; NULL: no database */
    char *final;
    char *partial;
    time_t now;
    struct bk_list src;
    uint64_t files_size;
    uint64_t db_size;
};

static const char *backups_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *b = h->config(c, "paths", "backups");
    return b ? b : h->info(c, "backups_dir");
}

/* A non-negative integer, or -1. */
static long to_long(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return (*end || errno || v < 0) ? -1 : v;
}

static long config_long(const struct nexo_host *h, nexo_ctx *c, const char *key, long def)
{
    const char *v = h->config(c, "backup", key);
    return v ? to_long(v) : def;
}

static void job_free(struct job *j)
{
    free(j->final);
    free(j->partial);
    bk_list_free(&j->src);
}

static int job_init(const struct nexo_host *h, nexo_ctx *c, struct job *j)
{
    memset(j, 0, sizeof *j);
    j->root = h->info(c, "root");
    j->backups = backups_dir(h, c);
    j->driver = h->config(c, "database", "driver");
    if (!j->root)
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    if (!j->backups)
        return h->fail(c, NEXO_EINVAL, "[paths] backups is not set");
    j->now = time(NULL);
    struct tm tm;
    gmtime_r(&j->now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y%m%dT%H%M%SZ", &tm);
    const char *id = h->info(c, "update_id");
    char *name = nx_xasprintf("backup_%s_%s", id ? id : "unknown", ts);
    j->final = nx_path_join(j->backups, name);
    j->partial = nx_xasprintf("%s.partial", j->final);
    free(name);
    bk_sources(h, c, j->root, &j->src);
    for (size_t i = 0; i < j->src.n; i++)
        j->files_size += bk_tree_size(j->root, j->src.v[i]);
    const char *dbpath = h->config(c, "database", "path");
    struct stat st;
    if (j->driver && strcmp(j->driver, "sqlite") == 0 && dbpath && stat(dbpath, &st) == 0)
        j->db_size = (uint64_t)st.st_size;
    return 0;
}

/* statvfs of the backups folder, or of its nearest existing parent. */
static int free_bytes(const char *dir, uint64_t *out)
{
    char *p = nx_xstrdup(dir);
    struct statvfs vfs;
    int rc = statvfs(p, &vfs);
    while (rc != 0 && errno == ENOENT && strcmp(p, "/") != 0 && strcmp(p, ".") != 0) {
        char *up = nx_dirname(p);
        free(p);
        p = up;
        rc = statvfs(p, &vfs);
    }
    free(p);
    if (rc == 0)
        *out = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
    return rc;
}

static int check_space(const struct nexo_host *h, nexo_ctx *c, const struct job *j)
{
    long reserve = to_long(h->setting(c, "reserve_mb"));
    uint64_t estimate = j->files_size + j->db_size;
    uint64_t need = estimate + estimate / 10 + (uint64_t)(reserve < 0 ? 64 : reserve) * MIB;
    uint64_t avail = 0;
    if (free_bytes(j->backups, &avail) != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot read the free space: %s", j->backups,
                       strerror(errno));
    if (avail < need)
        return h->fail(c, NEXO_EIO,
                       "not enough free space in %s: %llu bytes free, %llu needed (backup "
                       "estimate %llu bytes + 10%% + reserve_mb %ld MiB)",
                       j->backups, (unsigned long long)avail, (unsigned long long)need,
                       (unsigned long long)estimate, reserve);
    return 0;
}

static int fsync_path(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int ok = fd >= 0 && fsync(fd) == 0;
    int err = errno;
    if (fd >= 0)
        close(fd);
    return ok ? 0 : h->fail(c, NEXO_EIO, "%s: fsync: %s", path, strerror(err));
}

/* {"file","size","sha256"} of a file of the backup, or NULL (fail set). */
static json_t *file_meta(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    char hex[NX_SHA256_HEX];
    uint64_t size = 0;
    nx_err e;
    if (nx_sha256_file(path, hex, &size, &e) != 0) {
        h->fail(c, NEXO_EIO, "%s", e.msg);
        return NULL;
    }
    return json_pack("{s:s, s:I, s:s}", "file", nx_basename(path), "size", (json_int_t)size,
                     "sha256", hex);
}

static int backup_db(const struct nexo_host *h, nexo_ctx *c, const struct job *j,
                     json_t **meta)
{
    *meta = json_null();
    if (!j->driver)
        return 0;
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    char *path = nx_path_join(j->partial, "database.dump");
    h->log(c, NEXO_LOG_INFO, "backing up the %s database", j->driver);
    int rc = db->driver->backup(h, c, db->conn, path);
    if (!rc && chmod(path, 0600) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: chmod: %s", path, strerror(errno));
    if (!rc)
        rc = fsync_path(h, c, path);
    json_t *m = rc ? NULL : file_meta(h, c, path);
    free(path);
    if (!rc && !m)
        rc = NEXO_EIO;
    if (m) {
        json_object_set_new(m, "driver", json_string(j->driver));
        *meta = m;
    }
    return rc;
}

static int backup_files(const struct nexo_host *h, nexo_ctx *c, const struct job *j,
                        json_t **meta)
{
    char *path = nx_path_join(j->partial, "files.tar.zst");
    uint64_t entries = 0;
    h->log(c, NEXO_LOG_INFO, "archiving %zu path(s) of %s (%llu bytes)", j->src.n, j->root,
           (unsigned long long)j->files_size);
    int rc = bk_write_tarball(h, c, j->root, &j->src, path, j->files_size, &entries);
    json_t *m = rc ? NULL : file_meta(h, c, path);
    free(path);
    if (!m)
        return rc ? rc : NEXO_EIO;
    json_object_set_new(m, "entries", json_integer((json_int_t)entries));
    *meta = m;
    return 0;
}

static int write_meta(const struct nexo_host *h, nexo_ctx *c, const struct job *j,
                      json_t *db, json_t *files)
{
    char created[32];
    struct tm tm;
    gmtime_r(&j->now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *m = json_pack("{s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:O, s:O}", "update_id",
                          h->info(c, "update_id"), "created_at", created, "component",
                          h->info(c, "component"), "from_version", h->info(c, "from_version"),
                          "to_version", h->info(c, "to_version"), "pipeline",
                          h->info(c, "pipeline"), "database", db, "files", files);
    char *text = m ? json_dumps(m, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(m);
    if (!text)
        return h->fail(c, NEXO_ERROR, "cannot build meta.json");
    char *path = nx_path_join(j->partial, "meta.json");
    nx_err e;
    int rc = nx_write_file_atomic(path, text, strlen(text), 0600, &e);
    free(text);
    free(path);
    return rc ? h->fail(c, NEXO_EIO, "%s", e.msg) : 0;
}

/* Rename NAME.partial to NAME and make it durable. */
static int finish(const struct nexo_host *h, nexo_ctx *c, const struct job *j)
{
    nx_err e;
    if (nx_fsync_dir(j->partial, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    if (rename(j->partial, j->final) != 0)
        return h->fail(c, NEXO_EIO, "rename %s to %s: %s", j->partial, j->final,
                       strerror(errno));
    if (nx_fsync_dir(j->backups, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    return 0;
}

static int make_partial(const struct nexo_host *h, nexo_ctx *c, const struct job *j)
{
    nx_err e;
    int rc = h->state_set(c, "backup_dir", j->final);
    if (!rc)
        rc = h->state_set(c, "partial", j->partial);
    if (rc)
        return rc;
    if (nx_mkdirs(j->backups, 0700, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    if (access(j->final, F_OK) == 0)
        return h->fail(c, NEXO_EIO, "%s already exists", j->final);
    nx_rmtree(j->partial, &e);
    if (mkdir(j->partial, 0700) != 0 || chmod(j->partial, 0700) != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot create: %s", j->partial, strerror(errno));
    return 0;
}

static int do_backup(const struct nexo_host *h, nexo_ctx *c, const struct job *j)
{
    json_t *db = NULL, *files = NULL;
    int rc = make_partial(h, c, j);
    if (!rc)
        rc = backup_db(h, c, j, &db);
    if (!rc && j->driver)
        rc = h->checkpoint(c, "database");
    if (!rc)
        rc = backup_files(h, c, j, &files);
    if (!rc)
        rc = h->checkpoint(c, "files");
    if (!rc)
        rc = write_meta(h, c, j, db, files);
    json_decref(db);
    json_decref(files);
    if (!rc)
        rc = finish(h, c, j);
    return rc;
}

static int publish(const struct nexo_host *h, nexo_ctx *c, const struct job *j)
{
    int rc = 0;
    if (j->driver) {
        char *dump = nx_path_join(j->final, "database.dump");
        rc = h->shared_set(c, "db_snapshot", dump);
        free(dump);
    }
    if (!rc)
        rc = h->shared_set(c, "backup_dir", j->final);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "backup written to %s", j->final);
    return rc;
}

static int b_run(const struct nexo_host *h, nexo_ctx *c)
{
    struct job j;
    int rc = job_init(h, c, &j);
    if (!rc)
        rc = check_space(h, c, &j);
    if (!rc)
        rc = do_backup(h, c, &j);
    if (!rc)
        rc = publish(h, c, &j);
    job_free(&j);
    return rc;
}

static int remove_tree(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    struct stat st;
    nx_err e;
    if (!path || lstat(path, &st) != 0)
        return 0;
    if (nx_rmtree(path, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    h->log(c, NEXO_LOG_INFO, "removed the unused backup %s", path);
    return 0;
}

static int b_undo(const struct nexo_host *h, nexo_ctx *c)
{
    int rc = remove_tree(h, c, h->state_get(c, "partial"));
    if (!rc)
        rc = remove_tree(h, c, h->state_get(c, "backup_dir"));
    return rc;
}

static int b_commit(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = backups_dir(h, c);
    if (!dir)
        return 0;
    long keep = config_long(h, c, "keep", 5);
    long days = config_long(h, c, "keep_days", 30);
    int n = bk_retention(h, c, dir, h->state_get(c, "backup_dir"), keep < 0 ? 5 : keep,
                         days < 0 ? 30 : days);
    h->log(c, NEXO_LOG_INFO, "retention (keep %ld, keep_days %ld): %d old backup(s) removed",
           keep, days, n);
    return 0;
}

static int b_validate(const struct nexo_host *h, nexo_ctx *c)
{
    if (!backups_dir(h, c))
        return h->fail(c, NEXO_EINVAL, "[paths] backups is not set");
    if (!h->info(c, "root"))
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    const char *r = h->setting(c, "reserve_mb");
    if (to_long(r) < 0)
        return h->fail(c, NEXO_EINVAL, "reserve_mb = %s: expected a number of MiB (0 or more)",
                       r ? r : "");
    if (config_long(h, c, "keep", 5) < 0 || config_long(h, c, "keep_days", 30) < 0)
        return h->fail(c, NEXO_EINVAL, "[backup] keep and keep_days must be 0 or more");
    return 0;
}

static int b_plan(const struct nexo_host *h, nexo_ctx *c)
{
    struct job j;
    int rc = job_init(h, c, &j);
    for (size_t i = 0; !rc && i < j.src.n; i++)
        h->log(c, NEXO_LOG_INFO, "would back up %s/%s (%llu bytes)", j.root, j.src.v[i],
               (unsigned long long)bk_tree_size(j.root, j.src.v[i]));
    if (!rc && j.driver)
        h->log(c, NEXO_LOG_INFO, "would back up the %s database%s", j.driver,
               j.db_size ? "" : " (size known only after the dump)");
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "would write %s (about %llu bytes before compression)",
               j.final, (unsigned long long)(j.files_size + j.db_size));
    job_free(&j);
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "backup",
    .version = "1.0.0",
    .summary = "back up the database and the site's code (all but preserved data) into [paths] backups",
    .settings = settings,
    .validate = b_validate,
    .plan = b_plan,
    .run = b_run,
    .undo = b_undo,
    .commit = b_commit,
};
