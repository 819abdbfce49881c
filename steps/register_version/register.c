/*
 * register_version — records the version the update brought in the
 * database's system_versions table (spec §2.3): component, version
 * number, version code, applied_at, description, migration file. The
 * migrate step creates the table when it is missing.
 *
 * A version is registered only when the migrations to it ran: the
 * migrate step of the same update says which version the database reached
 * (shared "migrated.COMPONENT", dbver.h), and anything else is refused,
 * naming the version the database is at. An integrator's pipeline for a
 * component that has no database part says so with require_migrations =
 * no; then the registered version is only checked to be older.
 *
 * Undo deletes exactly the row this run inserted (found by component,
 * version and the journaled applied_at), so it works in a fresh process
 * and a second time. The update_history row is not this step's: the host
 * writes it after the outcome is final, so that failed attempts are
 * recorded too.
 */
#include <nexo/driver.h>
#include <nexo/step.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbver.h"
#include "semver.h"
#include "util.h"

static const struct nexo_setting settings[] = {
    { "component", NULL, 0, "component to register (default: the update's component)" },
    { "version", NULL, 0, "version to register (default: the update's to version)" },
    { "description", NULL, 0, "text for system_versions.description" },
    { "require_migrations", "yes", 0, "yes: register only the version a migrate step of this "
      "update brought the database to; no: the component has no database part" },
    { NULL, NULL, 0, NULL },
};

static const char *component_of(const struct nexo_host *h, nexo_ctx *c)
{
    const char *v = h->setting(c, "component");
    return v ? v : h->info(c, "component");
}

static const char *version_of(const struct nexo_host *h, nexo_ctx *c)
{
    const char *v = h->setting(c, "version");
    return v ? v : h->info(c, "to_version");
}

/* Only these characters go into SQL text (component names, versions). */
static int plain(const char *s)
{
    if (!s || !*s || strlen(s) > 100)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr(".:+_-", *s)))
            return 0;
    return 1;
}

static int check_version(const struct nexo_host *h, nexo_ctx *c, const char *ver,
                         uint64_t *code)
{
    nx_semver v;
    nx_err e;
    if (!ver || nx_semver_parse(ver, &v, &e) != 0)
        return h->fail(c, NEXO_EINVAL, "no version to register: %s",
                       ver ? e.msg : "the update has no to version (version = ...)");
    int rc = nx_version_code(&v, code, &e);
    nx_semver_free(&v);
    return rc ? h->fail(c, NEXO_EINVAL, "%s", e.msg) : 0;
}

static int check_inputs(const struct nexo_host *h, nexo_ctx *c, uint64_t *code)
{
    const char *comp = component_of(h, c), *ver = version_of(h, c);
    if (!plain(comp))
        return h->fail(c, NEXO_EINVAL, "component '%s' cannot be registered", comp ? comp : "");
    return check_version(h, c, ver, code);
}

static int require_migrations(const struct nexo_host *h, nexo_ctx *c)
{
    return strcmp(h->setting(c, "require_migrations"), "no") != 0;
}

static int r_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *req = h->setting(c, "require_migrations");
    if (strcmp(req, "yes") != 0 && strcmp(req, "no") != 0)
        return h->fail(c, NEXO_EINVAL, "require_migrations = %s: expected yes or no", req);
    uint64_t code;
    /* no component fact: a pipeline file checked on its own ('pipeline
     * validate'); only the settings given are checked, the update's facts
     * come with an update (and run checks them again) */
    if (!h->info(c, "component")) {
        const char *comp = h->setting(c, "component"), *ver = h->setting(c, "version");
        if (comp && !plain(comp))
            return h->fail(c, NEXO_EINVAL, "component '%s' cannot be registered", comp);
        return ver ? check_version(h, c, ver, &code) : 0;
    }
    return check_inputs(h, c, &code);
}

/* Nothing is registered unless every migration from the registered
 * version to it ran (docs/updates.md). */
static int migrations_ran(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db)
{
    const char *comp = component_of(h, c), *ver = version_of(h, c);
    char *key = nx_migrated_key(comp);
    const char *reached = h->shared_get(c, key);
    free(key);
    char *registered = NULL;
    int rc = nx_db_registered_version(h, c, db, comp, &registered);
    if (rc)
        return rc;
    nx_err e;
    if (reached && nx_semver_cmp_str(reached, ver, &e) == 0) {
        free(registered);
        return 0;
    }
    if (reached)
        rc = h->fail(c, NEXO_EINVAL, "refused to register %s %s: the migrations of this update "
                     "brought the database to %s", comp, ver, reached);
    else if (require_migrations(h, c))
        rc = h->fail(c, NEXO_EINVAL, "refused to register %s %s: no migrate step of this "
                     "update brought the database to it (the database is at %s); a component "
                     "without a database part says require_migrations = no", comp, ver,
                     registered ? registered : "no registered version");
    else if (registered && nx_semver_cmp_str(registered, ver, &e) > 0)
        rc = h->fail(c, NEXO_EINVAL, "refused to register %s %s: the database is at %s, a "
                     "newer version", comp, ver, registered);
    free(registered);
    return rc;
}

static int exec_op(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                   const struct nexo_op *op)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    int rc = db->driver->render(h, c, db->conn, op, &st, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = db->driver->exec(h, c, db->conn, st[i].sql, st[i].nparams,
                              (const char *const *)st[i].params);
    if (st)
        db->driver->free_stmts(st, n);
    return rc;
}

/* What run and plan check first: the inputs, the database, and that the
 * migrations to the version ran. */
static int ready(const struct nexo_host *h, nexo_ctx *c, uint64_t *code, struct nexo_db **db)
{
    int rc = check_inputs(h, c, code);
    *db = rc ? NULL : h->db(c);
    if (!rc && !*db)
        rc = NEXO_EDB;
    return rc ? rc : migrations_ran(h, c, *db);
}

static int r_run(const struct nexo_host *h, nexo_ctx *c)
{
    uint64_t code;
    struct nexo_db *db;
    int rc = ready(h, c, &code, &db);
    if (rc)
        return rc;
    const char *comp = component_of(h, c), *ver = version_of(h, c);
    char scode[32], sat[32];
    snprintf(scode, sizeof scode, "%llu", (unsigned long long)code);
    snprintf(sat, sizeof sat, "%lld", (long long)time(NULL));
    const char *desc = h->setting(c, "description");
    char *dflt = nx_xasprintf("%s update to %s (update %s)", comp, ver, h->info(c, "update_id"));
    static const char *const names[] = { "component", "version_number", "version_code",
                                         "applied_at", "description" };
    const char *values[] = { comp, ver, scode, sat, desc ? desc : dflt };
    struct nexo_op op = { .kind = NEXO_OP_INSERT, .table = "system_versions", .names = names,
                          .nnames = 5, .values = values, .nrows = 1,
                          .file = "register_version", .line = 0 };
    rc = h->state_set(c, "applied_at", sat);
    if (!rc)
        rc = exec_op(h, c, db, &op);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "registered %s %s (version code %s)", comp, ver, scode);
    free(dflt);
    return rc;
}

static int r_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *at = h->state_get(c, "applied_at");
    const char *comp = component_of(h, c), *ver = version_of(h, c);
    if (!at)
        return 0; /* nothing was inserted */
    if (!plain(comp) || !plain(ver) || !plain(at))
        return h->fail(c, NEXO_EINVAL, "cannot undo the registration of '%s' '%s'", comp, ver);
    struct nexo_db *db = h->db(c);
    if (!db)
        return NEXO_EDB;
    char *where = nx_xasprintf("component = '%s' AND version_number = '%s' AND applied_at = %s",
                               comp, ver, at);
    struct nexo_op op = { .kind = NEXO_OP_DELETE, .table = "system_versions",
                          .where_sql = where, .file = "register_version", .line = 0 };
    int rc = exec_op(h, c, db, &op);
    free(where);
    return rc;
}

static int r_plan(const struct nexo_host *h, nexo_ctx *c)
{
    uint64_t code;
    struct nexo_db *db;
    int rc = ready(h, c, &code, &db);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "would register %s %s in system_versions (version code "
               "%llu)", component_of(h, c), version_of(h, c), (unsigned long long)code);
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "register_version",
    .version = "1.0.0",
    .summary = "record the new version in system_versions (spec §2.3)",
    .settings = settings,
    .validate = r_validate,
    .plan = r_plan,
    .run = r_run,
    .undo = r_undo,
};
