/* The services the host hands to modules (struct nexo_host). */
#include "engine.h"
#include "buildconf.h"
#include "loader.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *step_name(const nexo_ctx *c)
{
    return c->run->pl->steps[c->idx].name;
}

static void h_vlog(nexo_ctx *c, int level, const char *fmt, va_list ap)
{
    nx_progress_end(c->run->out, &c->prog);
    if (c->run->pdirs.n == 0) {
        nx_vlog(c->run->out, level, step_name(c), fmt, ap);
        return;
    }
    char buf[NX_ERRLEN * 2];
    vsnprintf(buf, sizeof buf, fmt, ap);
    nx_pdir_unmask(&c->run->pdirs, buf, sizeof buf);
    nx_log(c->run->out, level, step_name(c), "%s", buf);
}

static void h_log(nexo_ctx *c, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    h_vlog(c, level, fmt, ap);
    va_end(ap);
}

static void h_progress(nexo_ctx *c, const char *what, uint64_t done, uint64_t total)
{
    nx_progress_draw(c->run->out, &c->prog, step_name(c), what ? what : "", done, total);
}

static int h_fail(nexo_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    nx_pdir_unmask(&c->run->pdirs, c->msg, sizeof c->msg);
    nx_one_line(c->msg, sizeof c->msg);
    c->has_msg = 1;
    return code;
}

static const char *h_setting(nexo_ctx *c, const char *key)
{
    if (!key)
        return NULL;
    return nx_step_setting(&c->run->pl->steps[c->idx], key);
}

static const char *h_config(nexo_ctx *c, const char *section, const char *key)
{
    if (!section || !key)
        return NULL;
    return nx_config_get(c->run->cfg, section, key);
}

/* A plugin's slug (docs/releases.md): 1-64 of a-z 0-9 _ -, starting with
 * a letter or digit. */
static int slug_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n &&
           s[0] != '_' && s[0] != '-';
}

/* Facts derived from the component: "slug" (plugin:SLUG; NULL for core)
 * and "component_dir", the folder below the site root the component
 * occupies ("" for core: the root itself; "modules/plugins/SLUG"). */
static const char *component_fact(nx_run *r, const char *name)
{
    const char *comp = json_string_value(json_object_get(r->info, "component"));
    const char *slug = comp && strncmp(comp, "plugin:", 7) == 0 && slug_ok(comp + 7)
                           ? comp + 7 : NULL;
    if (strcmp(name, "slug") == 0)
        return slug;
    if (!slug)
        return "";
    if (!json_object_get(r->info, "component_dir")) {
        char *dir = nx_xasprintf("modules/plugins/%s", slug);
        json_object_set_new(r->info, "component_dir", json_string(dir));
        free(dir);
    }
    return json_string_value(json_object_get(r->info, "component_dir"));
}

/* The step instances undone so far in this run, in the order they were
 * undone ("replace, migrate, backup"); NULL when none. */
static const char *undone_list(nx_run *r)
{
    char buf[4096] = "";
    size_t off = 0;
    for (size_t k = r->pl->nsteps; k-- > 0;) {
        if (!r->st || !r->st[k].undone)
            continue;
        int n = snprintf(buf + off, sizeof buf - off, "%s%s", off ? ", " : "",
                         r->pl->steps[k].name);
        if (n < 0 || (size_t)n >= sizeof buf - off)
            break;
        off += (size_t)n;
    }
    if (!off)
        return NULL;
    json_object_set_new(r->info, "undone", json_string(buf));
    return json_string_value(json_object_get(r->info, "undone"));
}

static const char *h_info(nexo_ctx *c, const char *name)
{
    if (!name)
        return NULL;
    if (strcmp(name, "step") == 0)
        return step_name(c);
    if (strcmp(name, "phase") == 0)
        return c->phase;
    if (strcmp(name, "dry_run") == 0)
        return c->run->dry_run ? "1" : "0";
    if (strcmp(name, "recovering") == 0)
        return c->run->recovering ? "1" : "0";
    if (strcmp(name, "root") == 0)
        return nx_config_get(c->run->cfg, "site", "root");
    if (strcmp(name, "state_dir") == 0)
        return nx_config_get(c->run->cfg, "paths", "state");
    if (strcmp(name, "backups_dir") == 0)
        return nx_config_get(c->run->cfg, "paths", "backups");
    if (strcmp(name, "modules_dir") == 0)
        return nx_config_get(c->run->cfg, "paths", "modules");
    if (strcmp(name, "config_file") == 0)
        return nx_config_file(c->run->cfg);
    if (strcmp(name, "component_dir") == 0 || strcmp(name, "slug") == 0)
        return component_fact(c->run, name);
    if (strcmp(name, "error") == 0)
        return c->run->error[0] ? c->run->error : NULL;
    if (strcmp(name, "undone") == 0)
        return undone_list(c->run);
    return json_string_value(json_object_get(c->run->info, name));
}

static json_t *my_state(nexo_ctx *c)
{
    return json_array_get(c->run->states, c->idx);
}

static int journal_kv(nexo_ctx *c, const char *ev, const char *key, const char *value)
{
    nx_run *r = c->run;
    if (!r->j)
        return 0; /* validate/plan: nothing is journaled, nothing changes */
    nx_err e;
    json_t *f = json_pack("{s:I, s:s, s:s?}", "step", (json_int_t)c->idx, "key", key,
                          "value", value);
    if (!f || nx_journal_append(r->j, ev, f, &e) != 0) {
        h_fail(c, NEXO_EIO, "cannot journal %s '%s': %s", ev, key, f ? e.msg : "bad UTF-8");
        return NEXO_EIO;
    }
    return 0;
}

static int set_kv(nexo_ctx *c, json_t *obj, const char *ev, const char *key, const char *value)
{
    if (!obj || !key || !*key)
        return h_fail(c, NEXO_EINVAL, "%s: empty key", ev);
    /* a plan may tell later plans what it found (shared only) */
    int plan_shared = strcmp(c->phase, "plan") == 0 && strcmp(ev, "shared") == 0;
    if (strcmp(c->phase, "run") != 0 && strcmp(c->phase, "undo") != 0 &&
        strcmp(c->phase, "commit") != 0 && !plan_shared)
        return h_fail(c, NEXO_EINVAL, "%s '%s': journaled state can only be set in run, undo "
                                      "or commit%s (not in %s)", ev, key,
                      strcmp(ev, "shared") == 0 ? " (shared state also in plan)" : "", c->phase);
    json_t *v = value ? json_string(value) : NULL;
    if (value && !v)
        return h_fail(c, NEXO_EINVAL, "%s '%s': value is not UTF-8", ev, key);
    int rc = journal_kv(c, ev, key, value);
    if (rc != 0) {
        json_decref(v);
        return rc;
    }
    if (strcmp(c->phase, "run") == 0)
        c->journaled++;
    if (v)
        json_object_set_new(obj, key, v);
    else
        json_object_del(obj, key);
    return 0;
}

static int h_state_set(nexo_ctx *c, const char *key, const char *value)
{
    return set_kv(c, my_state(c), "state", key, value);
}

static const char *h_state_get(nexo_ctx *c, const char *key)
{
    return key ? json_string_value(json_object_get(my_state(c), key)) : NULL;
}

static int h_shared_set(nexo_ctx *c, const char *key, const char *value)
{
    return set_kv(c, c->run->shared, "shared", key, value);
}

static const char *h_shared_get(nexo_ctx *c, const char *key)
{
    if (!key)
        return NULL;
    const char *v = json_string_value(json_object_get(c->run->shared, key));
    size_t kl = strlen(key), sl = strlen(NX_PDIR_SUFFIX);
    if (!v || (kl > sl && strcmp(key + kl - sl, NX_PDIR_SUFFIX) == 0))
        return v;
    char *idkey = nx_xasprintf("%s%s", key, NX_PDIR_SUFFIX);
    const char *id = json_string_value(json_object_get(c->run->shared, idkey));
    free(idkey);
    if (!id)
        return v;
    char why[NX_ERRLEN];
    const char *p = nx_pdir_get(&c->run->pdirs, key, v, id, why, sizeof why);
    if (!p) {
        h_fail(c, NEXO_EVERIFY, "%s", why);
        c->refused = 1;
    }
    return p;
}

static int h_checkpoint(nexo_ctx *c, const char *what)
{
    nx_run *r = c->run;
    unsigned n = ++c->checkpoints;
    c->journaled++;
    if (r->j) {
        nx_err e;
        json_t *f = json_pack("{s:I, s:I, s:s}", "step", (json_int_t)c->idx, "n", (json_int_t)n,
                              "what", what ? what : "");
        if (!f || nx_journal_append(r->j, "checkpoint", f, &e) != 0)
            return h_fail(c, NEXO_EIO, "cannot journal checkpoint %u: %s", n,
                          f ? e.msg : "bad UTF-8");
    }
    nx_log(r->out, NEXO_LOG_DEBUG, step_name(c), "checkpoint %u: %s", n, what ? what : "");
    if (strcmp(c->phase, "run") == 0 && nx_interrupted())
        return h_fail(c, NEXO_ERROR, "interrupted by signal %d at checkpoint %u",
                      nx_interrupted(), n);
    if (strcmp(c->phase, "run") == 0 &&
        nx_fault_hit(r->faults, step_name(c), NX_CHECKPOINT, n) == NX_FAIL)
        return h_fail(c, NEXO_EINJECTED, "NEXO_FAULT: injected failure at checkpoint %u (%s)",
                      n, what ? what : "");
    return 0;
}

static struct nexo_db *open_db(nexo_ctx *c)
{
    nx_run *r = c->run;
    const char *drv = nx_config_get(r->cfg, "database", "driver");
    if (!drv) {
        h_fail(c, NEXO_ENOTFOUND, "no database configured ([database] driver is not set in %s)",
               nx_config_file(r->cfg));
        return NULL;
    }
    nx_err e;
    char *path = nx_module_resolve(nx_config_get(r->cfg, "paths", "modules"), NX_DRIVER, drv,
                                   &e);
    if (path)
        r->driver = nx_module_load(path, NX_DRIVER, &e);
    free(path);
    if (!r->driver) {
        h_fail(c, NEXO_ENOTFOUND, "database driver '%s': %s", drv, e.msg);
        return NULL;
    }
    void *conn = NULL;
    if (r->driver->driver->connect(&nx_host_table, c, &conn) != 0) {
        if (!c->has_msg)
            h_fail(c, NEXO_EDB, "cannot connect to the database with driver '%s'", drv);
        return NULL;
    }
    r->db.driver = r->driver->driver;
    r->db.conn = conn;
    return &r->db;
}

/* A dry run's plans get a private copy of the database when the driver
 * offers one (driver->scratch), made once in the work folder: they may
 * execute what they plan on it and so show exactly what the update will
 * run. Without one they get the site's database, to read. */
static struct nexo_db *plan_db(nexo_ctx *c, struct nexo_db *live)
{
    nx_run *r = c->run;
    if (r->scratch_state == 1)
        return &r->scratch;
    if (r->scratch_state == -1)
        return live;
    r->scratch_state = -1;
    const struct nexo_driver_module *d = live->driver;
    const char *work = json_string_value(json_object_get(r->info, "work_dir"));
    int offered = d->size >= offsetof(struct nexo_driver_module, scratch) + sizeof d->scratch &&
                  d->scratch;
    void *copy = NULL;
    if (offered && work && d->scratch(&nx_host_table, c, live->conn, work, &copy) == 0) {
        r->scratch = (struct nexo_db){ .driver = d, .conn = copy, .scratch = 1 };
        r->scratch_state = 1;
        nx_log(r->out, NEXO_LOG_INFO, r->pl->steps[c->idx].name, "the plan runs on a private "
               "copy of the database: it shows exactly the statements the update will run");
        return &r->scratch;
    }
    nx_log(r->out, offered ? NEXO_LOG_WARN : NEXO_LOG_INFO, r->pl->steps[c->idx].name,
           "%s%s: the plan renders each statement against the database as it is now, so a "
           "statement that depends on an earlier one of this update (a table it creates or "
           "changes) may show differently than the update will run it",
           offered ? "no private copy of the database for the plan: " : "",
           offered ? (c->has_msg ? c->msg : "?")
                   : "the database driver offers no private copy for a dry run");
    c->has_msg = 0;
    return live;
}

static struct nexo_db *h_db(nexo_ctx *c)
{
    nx_run *r = c->run;
    struct nexo_db *db = NULL;
    if (r->db_state == 1) {
        db = &r->db;
    } else if (r->db_state == -1) {
        h_fail(c, NEXO_EDB, "%s", r->db_error);
        return NULL;
    } else {
        db = open_db(c);
        r->db_state = db ? 1 : -1;
        if (!db) {
            snprintf(r->db_error, sizeof r->db_error, "%s", c->msg);
            return NULL;
        }
    }
    if (r->dry_run && c->phase && strcmp(c->phase, "plan") == 0)
        return plan_db(c, db);
    return db;
}

static const char *h_strerror(int code)
{
    switch (code) {
    case NEXO_OK: return "success";
    case NEXO_ERROR: return "failed";
    case NEXO_EINVAL: return "invalid input";
    case NEXO_EIO: return "input/output error";
    case NEXO_ENOTFOUND: return "not found";
    case NEXO_EDB: return "database error";
    case NEXO_EVERIFY: return "verification failed";
    case NEXO_EINJECTED: return "injected failure (NEXO_FAULT)";
    case NEXO_ENOTSUP: return "not supported";
    case NEXO_EBUSY: return "held by someone else";
    default: return "unknown error";
    }
}

static const char *h_errmsg(nexo_ctx *c)
{
    return c->has_msg ? c->msg : "";
}

static int h_insert_steps(nexo_ctx *c, const char *fragment, const char *base)
{
    if (!c->phase || strcmp(c->phase, "run") != 0)
        return h_fail(c, NEXO_EINVAL, "insert_steps: only from run (not %s)",
                      c->phase ? c->phase : "?");
    if (!fragment || !base)
        return h_fail(c, NEXO_EINVAL, "insert_steps: no fragment or base folder");
    nx_err e;
    if (nx_run_insert_steps(c->run, c->idx, fragment, base, &e) != 0)
        return h_fail(c, NEXO_EINVAL, "%s", e.msg);
    return 0;
}

const struct nexo_host nx_host_table = {
    .abi = NEXO_ABI_VERSION,
    .size = sizeof(struct nexo_host),
    .version = NX_VERSION,
    .log = h_log,
    .vlog = h_vlog,
    .progress = h_progress,
    .fail = h_fail,
    .setting = h_setting,
    .config = h_config,
    .info = h_info,
    .state_set = h_state_set,
    .state_get = h_state_get,
    .shared_set = h_shared_set,
    .shared_get = h_shared_get,
    .checkpoint = h_checkpoint,
    .db = h_db,
    .strerror = h_strerror,
    .errmsg = h_errmsg,
    .insert_steps = h_insert_steps,
};

int nx_run_db_lock(nx_run *r, nx_err *e)
{
    if (!nx_config_get(r->cfg, "database", "driver") || r->pl->nsteps == 0)
        return 0;
    nexo_ctx *c = &r->ctx[0];
    c->phase = "lock";
    c->has_msg = 0;
    struct nexo_db *db = h_db(c);
    if (!db) {
        nx_seterr(e, "database: %s", c->msg);
        return -1;
    }
    int rc = db->driver->lock(&nx_host_table, c, db->conn, "nexo-update", 0);
    if (rc == 0)
        return 0;
    nx_seterr(e, "database %s: %s", nx_config_get(r->cfg, "database", "driver"),
              c->has_msg ? c->msg : nx_host_table.strerror(rc));
    return rc == NEXO_EBUSY ? 1 : -1;
}

/* Outside any pipeline (the update check's requirements): a run of one
 * placeholder step named "check" gives the driver the context it expects
 * (config, log); nothing is journaled. */
int nx_db_server_version(const nx_out *out, const nx_config *cfg, char *buf, size_t len,
                         nx_err *e)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    if (!drv) {
        nx_seterr(e, "no database configured ([database] driver is not set in %s)",
                  nx_config_file(cfg));
        return -1;
    }
    nx_step_inst step = { .name = (char *)"check" };
    nx_pipeline pl = { .name = (char *)"check", .steps = &step, .nsteps = 1 };
    nx_run r;
    nx_run_init(&r, out, cfg, &pl, NULL, NULL);
    r.dry_run = 1;
    nexo_ctx *c = &r.ctx[0];
    c->phase = "check";
    int rc = -1;
    struct nexo_db *db = h_db(c);
    if (!db) {
        nx_seterr(e, "database (%s): %s", drv, c->msg);
        goto out;
    }
    c->has_msg = 0;
    int dr = db->driver->server_version(&nx_host_table, c, db->conn, buf, len);
    if (dr != 0) {
        nx_seterr(e, "database (%s): server version: %s", drv,
                  c->has_msg ? c->msg : nx_host_table.strerror(dr));
        goto out;
    }
    rc = 0;
out:
    nx_run_free(&r);
    return rc;
}

long long nx_run_maintenance_ms(const nx_run *r)
{
    const char *since = json_string_value(json_object_get(r->shared, "maintenance_since"));
    const char *until = json_string_value(json_object_get(r->shared, "maintenance_until"));
    if (!since)
        return 0;
    double end = until ? strtod(until, NULL) : (double)nx_now_ms() / 1000.0;
    double ms = (end - strtod(since, NULL)) * 1000.0;
    return ms < 0 ? 0 : (long long)ms;
}

static int keep_text(void *arg, int ncols, const char *const *names,
                     const char *const *values)
{
    (void)names;
    char **out = arg;
    if (ncols > 0 && values[0] && !*out)
        *out = nx_xstrdup(values[0]);
    return 0;
}

/* An attempt that ended with exit 4 has its row already (rollback_failed);
 * recover finishing it replaces that row, keeping its first error. */
static int drop_earlier_row(nexo_ctx *c, struct nexo_db *db, const char *id,
                            char **earlier_error)
{
    int pg = strcmp(db->driver->name, "pgsql") == 0;
    const char *params[1] = { id };
    int rc = db->driver->query(&nx_host_table, c, db->conn,
                               pg ? "SELECT error FROM update_history WHERE update_id = $1"
                                  : "SELECT error FROM update_history WHERE update_id = ?",
                               1, params, keep_text, earlier_error);
    if (!rc)
        rc = db->driver->exec(&nx_host_table, c, db->conn,
                              pg ? "DELETE FROM update_history WHERE update_id = $1"
                                 : "DELETE FROM update_history WHERE update_id = ?",
                              1, params);
    return rc;
}

/* update_history: one row per attempt, written once the outcome is final
 * (contracts §7); an attempt recover finishes after exit 4 keeps one row.
 * A site without the table (no migrate step ever ran) gets no row; a
 * failure to write is a warning, never a failed update. */
void nx_run_record_history(nx_run *r, const char *outcome, const char *error,
                           long long started_s)
{
    if (!nx_config_get(r->cfg, "database", "driver") || r->pl->nsteps == 0)
        return;
    const char *so = json_string_value(json_object_get(r->info, "success_outcome"));
    if (so && strcmp(outcome, "success") == 0)
        outcome = so;
    nexo_ctx *c = &r->ctx[0];
    c->phase = "history";
    c->has_msg = 0;
    struct nexo_db *db = h_db(c);
    if (!db) {
        nx_log(r->out, NEXO_LOG_WARN, NULL, "update history not written: %s", c->msg);
        return;
    }
    int ex = db->driver->exists(&nx_host_table, c, db->conn, "update_history", NULL, NULL);
    if (ex <= 0) {
        nx_log(r->out, NEXO_LOG_DEBUG, NULL, "no update_history table: history not written");
        return;
    }
    const char *id = json_string_value(json_object_get(r->info, "update_id"));
    char *earlier = NULL;
    int rc = db->driver->begin(&nx_host_table, c, db->conn);
    if (!rc && id)
        rc = drop_earlier_row(c, db, id, &earlier);
    if (earlier && (!error || strcmp(error, "interrupted") == 0))
        error = earlier;
    long long now = nx_now_ms() / 1000;
    char s_start[32], s_end[32], s_maint[32];
    snprintf(s_start, sizeof s_start, "%lld", started_s);
    snprintf(s_end, sizeof s_end, "%lld", now);
    snprintf(s_maint, sizeof s_maint, "%lld", (nx_run_maintenance_ms(r) + 500) / 1000);
    static const char *const names[] = { "update_id", "component", "from_version", "to_version",
                                         "outcome", "started_at", "finished_at",
                                         "maintenance_seconds", "error" };
    const char *values[] = {
        id,
        json_string_value(json_object_get(r->info, "component")),
        json_string_value(json_object_get(r->info, "from_version")),
        json_string_value(json_object_get(r->info, "to_version")),
        outcome, s_start, s_end, s_maint, error,
    };
    struct nexo_op op = { .kind = NEXO_OP_INSERT, .table = "update_history", .names = names,
                          .nnames = 9, .values = values, .nrows = 1, .file = "update_history" };
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    if (!rc)
        rc = db->driver->render(&nx_host_table, c, db->conn, &op, &st, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = db->driver->exec(&nx_host_table, c, db->conn, st[i].sql, st[i].nparams,
                              (const char *const *)st[i].params);
    if (st)
        db->driver->free_stmts(st, n);
    if (!rc)
        rc = db->driver->commit(&nx_host_table, c, db->conn);
    if (rc) {
        char msg[NX_ERRLEN];
        snprintf(msg, sizeof msg, "%s", c->msg);
        db->driver->rollback(&nx_host_table, c, db->conn);
        nx_log(r->out, NEXO_LOG_WARN, NULL, "update history not written: %s", msg);
    }
    free(earlier);
}

int nx_db_query_standalone(const nx_out *out, const nx_config *cfg, const char *sql,
                           nexo_row_fn row, void *arg, nx_err *e)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    if (!drv) {
        nx_seterr(e, "no database configured ([database] driver is not set in %s)",
                  nx_config_file(cfg));
        return -1;
    }
    nx_step_inst step = { .name = (char *)"query" };
    nx_pipeline pl = { .name = (char *)"query", .steps = &step, .nsteps = 1 };
    nx_run r;
    nx_run_init(&r, out, cfg, &pl, NULL, NULL);
    nexo_ctx *c = &r.ctx[0];
    c->phase = "query";
    int rc = -1;
    struct nexo_db *db = h_db(c);
    if (!db) {
        nx_seterr(e, "database (%s): %s", drv, c->msg);
    } else {
        c->has_msg = 0;
        int q = db->driver->query(&nx_host_table, c, db->conn, sql, 0, NULL, row, arg);
        if (q != 0)
            nx_seterr(e, "database (%s): %s", drv, c->has_msg ? c->msg : "query failed");
        else
            rc = 0;
    }
    nx_run_free(&r);
    return rc;
}
