/*
 * migrate — brings the database from one version to another with the
 * migration files of spec §5 (mode = upgrade), or creates a fresh one from
 * database/schema/install.xml (mode = install). Either way the tables
 * nexo-update owns are created when missing.
 *
 * Every file of the path is read and validated before anything changes.
 * Before the first change the step takes a snapshot of the whole database
 * (driver->backup into the update's work folder; or the backup step's
 * dump when that step published one as shared "db_snapshot"), and undo
 * restores it: the database returns to exactly its state before the step
 * on every driver, also after a crash (recover) and also when the
 * migrations had been committed and a later step failed.
 *
 * Where DDL is transactional (PostgreSQL, SQLite) all files run in one
 * transaction, so a failure inside the step leaves nothing behind even
 * before the snapshot is restored; a custom script runs between
 * transactions (it connects on its own and must see the schema before
 * it). On MariaDB, whose DDL commits at once, the journal records how
 * many files ran. A checkpoint follows every file (contracts §8).
 *
 * <cleanup> moves files aside into ROOT/.nexo-trash-<update id>/ (undo puts
 * them back, commit deletes them); <clear_cache> does that to
 * ROOT/var/cache/<name>.
 *
 * A plugin (fact component_dir, e.g. modules/plugins/forum) keeps its
 * files below its own folder: the source root is STAGING/<component_dir>
 * (or ROOT/<component_dir>). mode = auto installs when the update has no
 * from version (the plugin is not installed yet) and upgrades otherwise.
 * A plugin without a database/upgrades folder (or, installing, without
 * its install file) has nothing to migrate; core always needs them.
 */
#include <nexo/driver.h>
#include <nexo/step.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mig.h"
#include "migrate.h"
#include "tables.h"
#include "semver.h"
#include "util.h"

static const struct nexo_setting settings[] = {
    { "mode", "upgrade", 0, "upgrade (database/upgrades, from -> to), install (install.xml "
                            "on an empty database) or auto (install when the update has no "
                            "from version, else upgrade: plugins)" },
    { "upgrades", "database/upgrades", 0, "folder of upgrade_A_B.xml below the source root" },
    { "schema", "database/schema/install.xml", 0, "install file below the source root" },
    { "from", NULL, 0, "version to migrate from (default: the update's from version)" },
    { "to", NULL, 0, "version to migrate to (default: the update's to version)" },
    { "script_timeout", "300", 0, "seconds a custom script may run" },
    { NULL, NULL, 0, NULL },
};

/* What run (and plan) will do, read and validated up front. */
struct plan {
    char *base;       /* source root: the staged package, else the site */
    nx_mig **migs;
    size_t n;
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        nx_mig_free(p->migs[i]);
    free(p->migs);
    free(p->base);
    memset(p, 0, sizeof *p);
}

/* A setting naming a path: absolute as it is, else below the source root. */
static char *below(const char *base, const char *rel)
{
    return rel[0] == '/' ? nx_xstrdup(rel) : nx_path_join(base, rel);
}

static const char *version_of(const struct nexo_host *h, nexo_ctx *c, const char *key,
                              const char *fact)
{
    const char *v = h->setting(c, key);
    return v && *v ? v : h->info(c, fact);
}

/* mode = install, or auto without a version to upgrade from. */
static int is_install(const struct nexo_host *h, nexo_ctx *c)
{
    const char *mode = h->setting(c, "mode");
    if (strcmp(mode, "auto") == 0) {
        const char *from = version_of(h, c, "from", "from_version");
        return !from || !*from;
    }
    return strcmp(mode, "install") == 0;
}

/* The folder below the root a plugin occupies; NULL for core. */
static const char *component_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *d = h->info(c, "component_dir");
    return d && *d ? d : NULL;
}

/* A plugin's path that does not exist: nothing to migrate (logged). In a
 * dry run nothing is staged: the installed plugin's files are all there
 * is to plan with. */
static int plugin_has_none(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    if (!component_dir(h, c) || access(path, F_OK) == 0)
        return 0;
    if (h->shared_get(c, "staging_dir"))
        h->log(c, NEXO_LOG_INFO, "%s: not in the plugin: nothing to migrate", path);
    else
        h->log(c, NEXO_LOG_INFO, "%s: not there (the package is staged only when the update "
               "runs): nothing planned", path);
    return 1;
}

static int add_file(const struct nexo_host *h, nexo_ctx *c, struct plan *p, const char *path)
{
    nx_err e;
    nx_mig *m = nx_mig_load(path, (long long)time(NULL), &e);
    if (!m)
        return h->fail(c, NEXO_EINVAL, "%s", e.msg);
    p->migs = nx_xrealloc(p->migs, (p->n + 1) * sizeof *p->migs);
    p->migs[p->n++] = m;
    return 0;
}

/* Add the upgrade files from `from` to `to` found below the base. */
static int add_path(const struct nexo_host *h, nexo_ctx *c, struct plan *p, const char *from,
                    const char *to)
{
    char *dir = below(p->base, h->setting(c, "upgrades"));
    nx_mig_path path;
    nx_err e;
    int rc = 0;
    if (plugin_has_none(h, c, dir)) {
        free(dir);
        return 0;
    }
    if (nx_mig_find_path(dir, from, to, &path, &e) != 0) {
        free(dir);
        return h->fail(c, NEXO_ENOTFOUND, "%s", e.msg);
    }
    for (size_t i = 0; !rc && i < path.n; i++)
        rc = add_file(h, c, p, path.files[i]);
    nx_mig_path_free(&path);
    free(dir);
    return rc;
}

/* An install file describes the schema of its version X. Installing
 * release V: X = V is the install file alone; X older than V is the
 * install file followed by the upgrade path X -> V of the same release
 * (a release may keep an older install.xml); X newer than V is refused. */
static int install_plan(const struct nexo_host *h, nexo_ctx *c, struct plan *p)
{
    char *f = below(p->base, h->setting(c, "schema"));
    if (plugin_has_none(h, c, f)) {
        free(f);
        return 0;
    }
    int rc = add_file(h, c, p, f);
    if (!rc && !p->migs[0]->is_install)
        rc = h->fail(c, NEXO_EINVAL, "%s: expected an <install> file", f);
    const char *to = version_of(h, c, "to", "to_version");
    if (!rc && to && *to) {
        const char *x = p->migs[0]->to;
        nx_err e;
        int cmp = nx_semver_cmp_str(x, to, &e);
        if (cmp == -2)
            rc = h->fail(c, NEXO_EINVAL, "%s: %s", f, e.msg);
        else if (cmp > 0)
            rc = h->fail(c, NEXO_EINVAL, "%s describes version %s, newer than the %s being "
                         "installed: refused", f, x, to);
        else if (cmp < 0) {
            h->log(c, NEXO_LOG_INFO, "%s describes %s: the upgrades %s -> %s follow it", f, x,
                   x, to);
            rc = add_path(h, c, p, x, to);
        }
    }
    free(f);
    return rc;
}

static int load_plan(const struct nexo_host *h, nexo_ctx *c, struct plan *p)
{
    memset(p, 0, sizeof *p);
    const char *staged = h->shared_get(c, "staging_dir");
    const char *root = h->info(c, "root");
    if (!staged && h->shared_get(c, "staging_dir.private"))
        return NEXO_EVERIFY; /* the host refused the staging folder (message set) */
    if (!staged && !root)
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    const char *dir = component_dir(h, c);
    p->base = dir ? nx_path_join(staged ? staged : root, dir) : nx_xstrdup(staged ? staged : root);
    if (is_install(h, c))
        return install_plan(h, c, p);
    const char *from = version_of(h, c, "from", "from_version");
    const char *to = version_of(h, c, "to", "to_version");
    if (!from || !to)
        return h->fail(c, NEXO_EINVAL, "migrate needs the versions to go from and to (the "
                                       "update's from/to versions, or from = and to =)");
    return add_path(h, c, p, from, to);
}

static int check_cleanup_and_scripts(const struct nexo_host *h, nexo_ctx *c, struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        const nx_mig *m = p->migs[i];
        for (size_t k = 0; k < m->nscripts; k++) {
            char *s = nx_path_join(p->base, m->scripts[k].path);
            int ok = access(s, X_OK) == 0;
            free(s);
            if (!ok)
                return h->fail(c, NEXO_ENOTFOUND, "%s:%d: custom script %s is not an "
                               "executable file below %s", m->file, m->scripts[k].line,
                               m->scripts[k].path, p->base);
        }
    }
    return 0;
}

static int exec_stmts(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                      const struct nexo_op *op, int dry)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    int rc = db->driver->render(h, c, db->conn, op, &st, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        if (dry) {
            h->log(c, NEXO_LOG_INFO, "  %s;", st[i].sql);
            continue;
        }
        rc = db->driver->exec(h, c, db->conn, st[i].sql, st[i].nparams,
                              (const char *const *)st[i].params);
        if (rc && op->file && op->line > 0) {
            char *msg = nx_xstrdup(h->errmsg(c));
            h->fail(c, rc, "%s:%d: %s", op->file, op->line, msg);
            free(msg);
        }
    }
    if (st)
        db->driver->free_stmts(st, n);
    return rc;
}

/* Create the tables nexo-update owns when they are missing. */
static int tool_tables(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db, int dry)
{
    size_t n;
    const struct nexo_op *ops = mg_tool_tables(&n);
    for (size_t i = 0; i < n; i++) {
        int ex = db->driver->exists(h, c, db->conn, ops[i].table, NULL, NULL);
        if (ex < 0)
            return ex;
        if (ex)
            continue;
        if (dry)
            h->log(c, NEXO_LOG_INFO, "nexo-update's table %s:", ops[i].table);
        int rc = exec_stmts(h, c, db, &ops[i], dry);
        if (rc)
            return rc;
    }
    return 0;
}

static int m_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *mode = h->setting(c, "mode");
    if (strcmp(mode, "upgrade") != 0 && strcmp(mode, "install") != 0 &&
        strcmp(mode, "auto") != 0)
        return h->fail(c, NEXO_EINVAL, "mode = %s: expected upgrade, install or auto", mode);
    int t = atoi(h->setting(c, "script_timeout"));
    if (t <= 0)
        return h->fail(c, NEXO_EINVAL, "script_timeout = %s: expected seconds > 0",
                       h->setting(c, "script_timeout"));
    return 0;
}

static int m_plan(const struct nexo_host *h, nexo_ctx *c)
{
    struct plan p;
    int rc = load_plan(h, c, &p);
    if (rc == NEXO_ENOTFOUND && component_dir(h, c) && !h->shared_get(c, "staging_dir")) {
        /* a plugin's new migrations come with its package, which a dry
         * run does not stage: the installed ones cannot plan the path */
        h->log(c, NEXO_LOG_INFO, "%s; the new release's migrations come with its package, "
               "which is staged only when the update runs: not planned", h->errmsg(c));
        plan_free(&p);
        return 0;
    }
    struct nexo_db *db = rc ? NULL : h->db(c);
    if (!rc && !db)
        rc = NEXO_EDB;
    if (!rc) {
        h->log(c, NEXO_LOG_INFO, "%zu migration file(s), SQL in the %s dialect:", p.n,
               db->driver->dialect);
        rc = tool_tables(h, c, db, 1);
    }
    for (size_t i = 0; !rc && i < p.n; i++) {
        const nx_mig *m = p.migs[i];
        h->log(c, NEXO_LOG_INFO, "%s (%s%s%s):", m->file, m->from ? m->from : "",
               m->from ? " -> " : "install ", m->to);
        for (size_t k = 0; !rc && k < m->nops; k++)
            rc = exec_stmts(h, c, db, &m->ops[k], 1);
        for (size_t k = 0; k < m->nscripts; k++)
            h->log(c, NEXO_LOG_INFO, "  custom script %s", m->scripts[k].path);
        for (size_t k = 0; k < m->ncleanup; k++)
            h->log(c, NEXO_LOG_INFO, "  cleanup: remove %s%s",
                   m->cleanup[k].kind == NX_CLEANUP_CLEAR_CACHE ? "var/cache/" : "",
                   m->cleanup[k].path);
    }
    plan_free(&p);
    return rc;
}

/* Snapshot the database before the first change; journaled first so that
 * undo knows where it is (a snapshot that did not complete is removed). */
static int snapshot(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db)
{
    const char *shared = h->shared_get(c, "db_snapshot");
    if (shared && access(shared, R_OK) == 0) {
        int rc = h->state_set(c, "snapshot", shared);
        return rc ? rc : h->state_set(c, "snapshot_ok", "1");
    }
    const char *work = h->info(c, "work_dir");
    if (!work)
        return h->fail(c, NEXO_EINVAL, "no work folder for the database snapshot");
    char *path = nx_xasprintf("%s/%s.db-snapshot", work, h->info(c, "step"));
    int rc = h->state_set(c, "snapshot", path);
    if (!rc)
        rc = h->state_set(c, "own_snapshot", "1");
    if (!rc) {
        h->log(c, NEXO_LOG_INFO, "taking a snapshot of the database");
        rc = db->driver->backup(h, c, db->conn, path);
    }
    if (!rc)
        rc = h->state_set(c, "snapshot_ok", "1");
    free(path);
    return rc;
}

static int txn_begin(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db)
{
    int rc = h->state_set(c, "txn", "1");
    return rc ? rc : db->driver->begin(h, c, db->conn);
}

static int txn_commit(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db)
{
    int rc = h->state_set(c, "committed", "1");
    if (!rc)
        rc = db->driver->commit(h, c, db->conn);
    return rc ? rc : h->state_set(c, "txn", NULL);
}

static int cleanup_one(const struct nexo_host *h, nexo_ctx *c, const nx_mig *m,
                       const nx_cleanup *cl)
{
    char where[4200];
    snprintf(where, sizeof where, "%s:%d", m->file, cl->line);
    const char *root = h->info(c, "root");
    if (cl->kind == NX_CLEANUP_CLEAR_CACHE) {
        char *rel = nx_xasprintf("var/cache/%s", cl->path);
        int rc = mg_trash_move(h, c, root, rel, where);
        free(rel);
        return rc;
    }
    return mg_trash_move(h, c, root, cl->path, where);
}

static int apply_file(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                      const struct plan *p, const nx_mig *m, int transactional)
{
    int rc = 0;
    h->log(c, NEXO_LOG_INFO, "applying %s", m->file);
    for (size_t k = 0; !rc && k < m->nops; k++)
        rc = exec_stmts(h, c, db, &m->ops[k], 0);
    if (!rc && m->nscripts && transactional)
        rc = txn_commit(h, c, db);
    int timeout = atoi(h->setting(c, "script_timeout"));
    for (size_t k = 0; !rc && k < m->nscripts; k++) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%d", m->file, m->scripts[k].line);
        rc = mg_run_script(h, c, p->base, m->scripts[k].path, m->from, m->to, timeout, where);
    }
    if (!rc && m->nscripts && transactional)
        rc = txn_begin(h, c, db);
    for (size_t k = 0; !rc && k < m->ncleanup; k++)
        rc = cleanup_one(h, c, m, &m->cleanup[k]);
    return rc;
}

static int m_run(const struct nexo_host *h, nexo_ctx *c)
{
    struct plan p;
    int rc = load_plan(h, c, &p);
    if (!rc)
        rc = check_cleanup_and_scripts(h, c, &p);
    struct nexo_db *db = rc ? NULL : h->db(c);
    if (!rc && !db)
        rc = NEXO_EDB;
    if (!rc)
        rc = snapshot(h, c, db);
    int transactional = db && (db->driver->flags & NEXO_DRIVER_TRANSACTIONAL_DDL);
    if (!rc)
        rc = h->state_set(c, "applying", "1");
    if (!rc && transactional)
        rc = txn_begin(h, c, db);
    if (!rc)
        rc = tool_tables(h, c, db, 0);
    for (size_t i = 0; !rc && i < p.n; i++) {
        rc = apply_file(h, c, db, &p, p.migs[i], transactional);
        char num[32];
        snprintf(num, sizeof num, "%zu", i + 1);
        if (!rc)
            rc = h->state_set(c, "files_done", num);
        h->progress(c, "#migration files", i + 1, p.n);
        if (!rc)
            rc = h->checkpoint(c, nx_basename(p.migs[i]->file));
    }
    if (!rc && transactional)
        rc = txn_commit(h, c, db);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "%zu migration file(s) applied", p.n);
    plan_free(&p);
    return rc;
}

static int restore_snapshot(const struct nexo_host *h, nexo_ctx *c)
{
    const char *snap = h->state_get(c, "snapshot");
    if (!snap || !h->state_get(c, "snapshot_ok"))
        return 0;
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    h->log(c, NEXO_LOG_INFO, "restoring the database from its snapshot");
    return db->driver->restore(h, c, db->conn, snap);
}

static int m_undo(const struct nexo_host *h, nexo_ctx *c)
{
    int in_process = strcmp(h->info(c, "recovering"), "1") != 0;
    int rc = 0;
    if (in_process && h->state_get(c, "txn")) {
        /* a transaction of this very process is still open: roll it back */
        struct nexo_db *db = h->db(c);
        if (db)
            db->driver->rollback(h, c, db->conn);
        rc = h->state_set(c, "txn", NULL);
    }
    if (!rc)
        rc = mg_trash_restore(h, c);
    /* Even a rolled-back transaction leaves traces: PostgreSQL sequences
     * do not roll back. So whatever happened, the snapshot is restored. */
    if (!rc && h->state_get(c, "applying") && !h->state_get(c, "restored")) {
        rc = restore_snapshot(h, c);
        if (!rc)
            rc = h->state_set(c, "restored", "1");
    }
    if (!rc && h->state_get(c, "own_snapshot") && h->state_get(c, "snapshot"))
        unlink(h->state_get(c, "snapshot"));
    return rc;
}

static int m_commit(const struct nexo_host *h, nexo_ctx *c)
{
    int rc = mg_trash_purge(h, c);
    if (h->state_get(c, "own_snapshot")) {
        const char *snap = h->state_get(c, "snapshot");
        if (snap)
            unlink(snap);
    }
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "migrate",
    .version = "1.0.0",
    .summary = "run the database migrations (or the install schema), undo by snapshot",
    .settings = settings,
    .validate = m_validate,
    .plan = m_plan,
    .run = m_run,
    .undo = m_undo,
    .commit = m_commit,
};
