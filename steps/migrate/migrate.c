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
 * The database's version is the truth (docs/updates.md): upgrades start
 * from the version system_versions has registered for the component, not
 * from the files' version.php. Files ahead of the database (a release
 * copied by hand) run the database's path first, shown like any other
 * migration; a database ahead of the files is refused, naming both. When
 * nothing is registered yet, the update's from version is used. When the
 * step succeeds (and when it plans) it sets the shared "migrated.COMPONENT"
 * to the version the database reached: register_version registers nothing
 * else.
 *
 * A plugin (fact component_dir, e.g. modules/plugins/forum) keeps its
 * files below its own folder: the source root is STAGING/<component_dir>
 * (or ROOT/<component_dir>). mode = auto installs when neither the
 * database nor the update has a version to upgrade from, and upgrades
 * otherwise. A release without a database/upgrades folder has no
 * migrations (most patch releases); a plugin without its install file
 * has nothing to install; core always needs its install file.
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

#include "dbver.h"
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
    char *from;       /* the version migrated from (NULL: install) */
    char *to;         /* the version the database reaches */
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        nx_mig_free(p->migs[i]);
    free(p->migs);
    free(p->base);
    free(p->from);
    free(p->to);
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

/* mode = install, or auto without a version to upgrade from (none
 * registered in the database, none in the update). */
static int is_install(const struct nexo_host *h, nexo_ctx *c, const char *registered)
{
    const char *mode = h->setting(c, "mode");
    if (strcmp(mode, "auto") == 0) {
        const char *from = version_of(h, c, "from", "from_version");
        return !registered && (!from || !*from);
    }
    return strcmp(mode, "install") == 0;
}

static const char *component_of(const struct nexo_host *h, nexo_ctx *c)
{
    const char *k = h->info(c, "component");
    return k && *k ? k : "custom";
}

/* The folder below the root a plugin occupies; NULL for core. */
static const char *component_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *d = h->info(c, "component_dir");
    return d && *d ? d : NULL;
}

/* A plugin's install file that does not exist: nothing to install
 * (logged). */
static int plugin_has_none(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    if (!component_dir(h, c) || access(path, F_OK) == 0)
        return 0;
    h->log(c, NEXO_LOG_INFO, "%s: not in the plugin: nothing to migrate", path);
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
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT) {
        /* a release whose schema does not change needs no folder */
        h->log(c, NEXO_LOG_INFO, "%s: no such folder in the release: no migrations from %s to "
               "%s", dir, from, to);
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

/* -1, 0, 1 as a < b, a == b, a > b; -2 (message set) when either is not
 * a version. */
static int vcmp(const struct nexo_host *h, nexo_ctx *c, const char *a, const char *b)
{
    nx_err e;
    int cmp = nx_semver_cmp_str(a, b, &e);
    if (cmp == -2)
        h->fail(c, NEXO_EINVAL, "%s", e.msg);
    return cmp;
}

/* The version the upgrade starts from: the one the database registered
 * for the component (the truth), checked against the files' (the update's
 * from version, or from =). Logs a database behind the files; refuses one
 * ahead of them. */
static int upgrade_from(const struct nexo_host *h, nexo_ctx *c, const char *registered,
                        char **from, int quiet)
{
    const char *comp = component_of(h, c);
    const char *files = version_of(h, c, "from", "from_version");
    const char *named = h->setting(c, "from");
    *from = NULL;
    if (!registered) {
        if (!files || !*files)
            return h->fail(c, NEXO_EINVAL, "migrate needs a version to go from: the database "
                           "has no version of %s registered, and the update names none (its "
                           "from version, or from =)", comp);
        if (!quiet)
            h->log(c, NEXO_LOG_INFO, "the database has no version of %s registered: migrating "
                   "from %s%s", comp, files, named ? " (from =)" : ", the files' version");
        *from = nx_xstrdup(files);
        return 0;
    }
    if (files && *files) {
        int cmp = vcmp(h, c, registered, files);
        if (cmp == -2)
            return NEXO_EINVAL;
        if (cmp > 0)
            return h->fail(c, NEXO_EINVAL, "the database of %s is at %s, ahead of the %s %s: "
                           "refused (the files are older than the schema: put back the files "
                           "of %s, or roll back the database)", comp, registered,
                           named ? "version named by from =" : "files' version", files,
                           registered);
        if (cmp < 0 && !quiet)
            h->log(c, NEXO_LOG_WARN, "the database of %s is at %s, behind the %s %s: the "
                   "migrations start from %s, the database's version", comp, registered,
                   named ? "version named by from =" : "files' version", files, registered);
    }
    *from = nx_xstrdup(registered);
    return 0;
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
    const char *to = version_of(h, c, "to", "to_version");
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    char *registered = NULL;
    int rc = nx_db_registered_version(h, c, db, component_of(h, c), &registered);
    if (rc)
        return rc;
    if (is_install(h, c, registered)) {
        free(registered);
        rc = install_plan(h, c, p);
        if (!rc && to)
            p->to = nx_xstrdup(to);
        return rc;
    }
    if (!to) {
        free(registered);
        return h->fail(c, NEXO_EINVAL, "migrate needs the version to go to (the update's to "
                                       "version, or to =)");
    }
    rc = upgrade_from(h, c, registered, &p->from, 0);
    free(registered);
    if (!rc)
        rc = add_path(h, c, p, p->from, to);
    if (!rc)
        p->to = nx_xstrdup(to);
    return rc;
}

/* Tell register_version which version the database reached. */
static int publish_reached(const struct nexo_host *h, nexo_ctx *c, const struct plan *p)
{
    if (!p->to)
        return 0;
    char *key = nx_migrated_key(component_of(h, c));
    int rc = h->shared_set(c, key, p->to);
    free(key);
    return rc;
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

/* " -- parameters: 'a', NULL" for a statement's bound values ("" when it
 * has none), quotes doubled. */
static char *sql_params(const struct nexo_stmt *st)
{
    if (st->nparams <= 0)
        return nx_xstrdup("");
    char *out = nx_xstrdup(" -- parameters:");
    for (int k = 0; k < st->nparams; k++) {
        const char *v = st->params[k];
        char *q = NULL;
        if (v) {
            size_t n = 0;
            for (const char *s = v; *s; s++)
                n += *s == '\'' ? 2 : 1;
            q = nx_xmalloc(n + 3);
            char *w = q;
            *w++ = '\'';
            for (const char *s = v; *s; s++) {
                if (*s == '\'')
                    *w++ = '\'';
                *w++ = *s;
            }
            *w++ = '\'';
            *w = '\0';
        }
        char *next = nx_xasprintf("%s%s %s", out, k ? "," : "", q ? q : "NULL");
        free(out);
        free(q);
        out = next;
    }
    return out;
}

/* Render op and execute its statements; dry: show them (and execute them
 * only on a dry run's private copy of the database, db->scratch, so that
 * what follows renders against the schema the update will have). */
static int exec_stmts(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                      const struct nexo_op *op, int dry)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    int rc = db->driver->render(h, c, db->conn, op, &st, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        /* the plan's line and the run's (-v) are the same text: a dry
         * run shows exactly the statements the update executes */
        char *params = sql_params(&st[i]);
        h->log(c, dry ? NEXO_LOG_INFO : NEXO_LOG_DEBUG, "  %s;%s", st[i].sql, params);
        free(params);
        if (dry && !db->scratch)
            continue;
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

/* Before any step of an update runs: a database ahead of the files is
 * refused now, while nothing has changed (exit 1), not after maintenance
 * mode and the backup. Only for an update that upgrades from a version
 * (`pipeline validate` has none; an install has nothing registered). */
static int ahead_of_files(const struct nexo_host *h, nexo_ctx *c)
{
    const char *files = version_of(h, c, "from", "from_version");
    const char *mode = h->setting(c, "mode");
    const char *id = h->info(c, "update_id");
    if (!files || !*files || strcmp(mode, "install") == 0 || !id || strcmp(id, "validate") == 0)
        return 0;
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    char *registered = NULL, *from = NULL;
    int rc = nx_db_registered_version(h, c, db, component_of(h, c), &registered);
    if (!rc && registered)
        rc = upgrade_from(h, c, registered, &from, 1);
    free(registered);
    free(from);
    return rc;
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
    return ahead_of_files(h, c);
}

static int uses_timestamp(const char *file)
{
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    if (nx_read_file(file, &text, &len, 64u << 20, &e) != 0)
        return 0;
    int uses = strstr(text, "{{TIMESTAMP}}") != NULL;
    free(text);
    return uses;
}

static int m_plan(const struct nexo_host *h, nexo_ctx *c)
{
    struct plan p;
    int rc = load_plan(h, c, &p);
    if (!rc && !h->shared_get(c, "staging_dir"))
        h->log(c, NEXO_LOG_INFO, "nothing is staged (no extract step before this one): "
               "planning from the files in %s", p.base);
    struct nexo_db *db = rc ? NULL : h->db(c);
    if (!rc && !db)
        rc = NEXO_EDB;
    int txn = !rc && db->scratch && (db->driver->flags & NEXO_DRIVER_TRANSACTIONAL_DDL);
    if (!rc) {
        h->log(c, NEXO_LOG_INFO, "%zu migration file(s)%s%s%s%s, SQL in the %s dialect:", p.n,
               p.from ? " from " : "", p.from ? p.from : "", p.to ? " to " : "",
               p.to ? p.to : "", db->driver->dialect);
        if (txn)
            rc = db->driver->begin(h, c, db->conn);
        if (!rc)
            rc = tool_tables(h, c, db, 1);
    }
    for (size_t i = 0; !rc && i < p.n; i++) {
        const nx_mig *m = p.migs[i];
        h->log(c, NEXO_LOG_INFO, "%s (%s%s%s):", m->file, m->from ? m->from : "",
               m->from ? " -> " : "install ", m->to);
        if (uses_timestamp(m->file))
            h->log(c, NEXO_LOG_INFO, "  ({{TIMESTAMP}} is shown as the time of this plan; the "
                   "update uses the time it runs)");
        for (size_t k = 0; !rc && k < m->nops; k++)
            rc = exec_stmts(h, c, db, &m->ops[k], 1);
        for (size_t k = 0; k < m->nscripts; k++)
            h->log(c, NEXO_LOG_INFO, "  custom script %s (not run by a dry run%s)",
                   m->scripts[k].path, db->scratch ? ": what follows it is planned without "
                   "its changes" : "");
        for (size_t k = 0; k < m->ncleanup; k++)
            h->log(c, NEXO_LOG_INFO, "  cleanup: remove %s%s",
                   m->cleanup[k].kind == NX_CLEANUP_CLEAR_CACHE ? "var/cache/" : "",
                   m->cleanup[k].path);
    }
    if (txn) {
        /* the copy is dropped with the work folder either way */
        int rc2 = rc ? db->driver->rollback(h, c, db->conn) : db->driver->commit(h, c, db->conn);
        rc = rc ? rc : rc2;
    }
    if (!rc)
        rc = publish_reached(h, c, &p);
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
        h->log(c, NEXO_LOG_INFO, "%zu migration file(s) applied%s%s%s%s", p.n,
               p.from ? " from " : "", p.from ? p.from : "", p.to ? " to " : "",
               p.to ? p.to : "");
    if (!rc)
        rc = publish_reached(h, c, &p);
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
