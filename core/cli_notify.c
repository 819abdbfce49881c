/*
 * check --notify (contracts §2, spec §3.4): mail [notify] email the
 * offered updates not mailed before, security and critical ones first and
 * marked, in one message, then record each in update_notifications
 * (component, current_version, latest_version, is_security, notified_at)
 * so that the same component and version is never mailed twice. The
 * table is created, as the migrate step would create it, when missing.
 *
 * Nothing is sent when something stands in the way (no [notify] email, a
 * bad [notify] setting, no database to remember in): exit 1. A mail that
 * cannot be sent is an error naming the SMTP URL and curl's error, exit
 * 1, nothing recorded. With -n the mail is shown, not sent or recorded.
 */
#include "update_check.h"
#include "buildconf.h"
#include "mail.h"
#include "tables.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TABLE "update_notifications"
#define CHANGELOG_LINES 20 /* of each release, in the mail */

/* One offered update to mail. */
struct item {
    const nx_component *k;
    const nx_release *r;
};

static const char *notify_get(void *arg, const char *key)
{
    return nx_config_get(arg, "notify", key);
}

/* ---- the database: what was mailed before ---------------------------------- */

struct notify_db {
    nx_step_inst step;
    nx_pipeline pl;
    nx_run run;
    nexo_ctx *c;
    struct nexo_db *db;
    const char *driver;
};

static int db_open(struct notify_db *d, const struct cli *c, const nx_config *cfg, nx_err *e)
{
    memset(d, 0, sizeof *d);
    d->driver = nx_config_get(cfg, "database", "driver");
    if (!d->driver) {
        nx_seterr(e, "no database configured ([database] driver is not set in %s): check "
                  "--notify remembers what it mailed in the table " TABLE, nx_config_file(cfg));
        return -1;
    }
    d->step.name = (char *)"notify";
    d->pl.name = (char *)"notify";
    d->pl.steps = &d->step;
    d->pl.nsteps = 1;
    nx_run_init(&d->run, &c->out, cfg, &d->pl, NULL, NULL);
    d->c = &d->run.ctx[0];
    d->c->phase = "notify";
    d->db = nx_host_table.db(d->c);
    if (!d->db) {
        nx_seterr(e, "database (%s): %s", d->driver, d->c->msg);
        return -1;
    }
    return 0;
}

static void db_close(struct notify_db *d)
{
    if (d->run.ctx)
        nx_run_free(&d->run);
}

/* The driver's last message, as "database (DRIVER): MESSAGE". */
static int db_err(struct notify_db *d, nx_err *e, const char *what, int rc)
{
    nx_seterr(e, "database (%s): %s: %s", d->driver, what,
              d->c->has_msg ? d->c->msg : nx_host_table.strerror(rc));
    return -1;
}

static int exec_op(struct notify_db *d, const struct nexo_op *op)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    const struct nexo_driver_module *drv = d->db->driver;
    int rc = drv->render(&nx_host_table, d->c, d->db->conn, op, &st, &n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = drv->exec(&nx_host_table, d->c, d->db->conn, st[i].sql, st[i].nparams,
                       (const char *const *)st[i].params);
    if (st)
        drv->free_stmts(st, n);
    return rc;
}

/* update_notifications as the migrate step makes it (steps/migrate/tables.c). */
static int ensure_table(struct notify_db *d, nx_err *e)
{
    d->c->has_msg = 0;
    int ex = d->db->driver->exists(&nx_host_table, d->c, d->db->conn, TABLE, NULL, NULL);
    if (ex < 0)
        return db_err(d, e, "does the table " TABLE " exist", ex);
    if (ex)
        return 0;
    size_t n;
    const struct nexo_op *ops = mg_tool_tables(&n);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ops[i].table, TABLE) != 0)
            continue;
        int rc = exec_op(d, &ops[i]);
        if (rc)
            return db_err(d, e, "cannot create the table " TABLE, rc);
        nx_log(d->run.out, NEXO_LOG_INFO, NULL, "created the table " TABLE);
        return 0;
    }
    nx_seterr(e, "no definition of the table " TABLE);
    return -1;
}

static int add_row(void *arg, int ncols, const char *const *names, const char *const *values)
{
    (void)names;
    if (ncols >= 2 && values[0] && values[1]) {
        char *key = nx_xasprintf("%s %s", values[0], values[1]);
        json_object_set_new(arg, key, json_true());
        free(key);
    }
    return 0;
}

/* {"COMPONENT VERSION": true} of every row. */
static json_t *mailed_before(struct notify_db *d, nx_err *e)
{
    json_t *seen = json_object();
    d->c->has_msg = 0;
    int rc = d->db->driver->query(&nx_host_table, d->c, d->db->conn,
                                  "SELECT component, latest_version FROM " TABLE, 0, NULL,
                                  add_row, seen);
    if (rc) {
        json_decref(seen);
        db_err(d, e, "cannot read " TABLE, rc);
        return NULL;
    }
    return seen;
}

static int record(struct notify_db *d, const struct item *it, size_t n, long long now, nx_err *e)
{
    static const char *const names[] = { "component", "current_version", "latest_version",
                                         "is_security", "notified_at" };
    const char **values = nx_xcalloc(n * 5, sizeof *values);
    char when[32];
    snprintf(when, sizeof when, "%lld", now);
    for (size_t i = 0; i < n; i++) {
        values[i * 5] = it[i].k->name;
        values[i * 5 + 1] = it[i].k->installed;
        values[i * 5 + 2] = it[i].r->version;
        values[i * 5 + 3] = it[i].r->security ? "true" : "false";
        values[i * 5 + 4] = when;
    }
    struct nexo_op op = { .kind = NEXO_OP_INSERT, .table = TABLE, .names = names, .nnames = 5,
                          .values = values, .nrows = n, .file = TABLE };
    const struct nexo_driver_module *drv = d->db->driver;
    d->c->has_msg = 0;
    int rc = drv->begin(&nx_host_table, d->c, d->db->conn);
    if (!rc)
        rc = exec_op(d, &op);
    if (!rc)
        rc = drv->commit(&nx_host_table, d->c, d->db->conn);
    free(values);
    if (!rc)
        return 0;
    db_err(d, e, "cannot record the mailed updates in " TABLE, rc);
    drv->rollback(&nx_host_table, d->c, d->db->conn);
    return -1;
}

/* ---- the message ------------------------------------------------------------ */

static int urgent(const nx_release *r)
{
    return r->security || r->critical;
}

static const char *mark(const nx_release *r)
{
    if (r->security && r->critical)
        return "[SECURITY, CRITICAL] ";
    if (r->security)
        return "[SECURITY] ";
    return r->critical ? "[CRITICAL] " : "";
}

/* The command that installs it. */
static void install_cmd(const nx_component *k, char *buf, size_t len)
{
    if (k->slug)
        snprintf(buf, len, "nexo-update plugin %s", k->slug);
    else
        snprintf(buf, len, "nexo-update %s", k->name);
}

static void host_name(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
}

static char *subject(const struct item *it, size_t n, const char *host)
{
    size_t nsec = 0;
    for (size_t i = 0; i < n; i++)
        nsec += it[i].r->security != 0;
    if (n == 1)
        return nx_xasprintf("[nexo-update] %supdate available on %s: %s %s -> %s",
                            it[0].r->security ? "SECURITY " : "", host, it[0].k->name,
                            it[0].k->installed, it[0].r->version);
    if (nsec)
        return nx_xasprintf("[nexo-update] %zu updates available on %s (%zu security)", n, host,
                            nsec);
    return nx_xasprintf("[nexo-update] %zu updates available on %s", n, host);
}

static void add(char **body, const char *fmt, ...) NX_PRINTF(2, 3);
static void add(char **body, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *joined = nx_xasprintf("%s%s", *body, s);
    free(s);
    free(*body);
    *body = joined;
}

static void add_changelog(char **body, const char *text)
{
    const char *p = text;
    int lines = 0;
    add(body, "  changelog:\n");
    while (*p && lines < CHANGELOG_LINES) {
        size_t len = strcspn(p, "\n");
        add(body, "    %.*s\n", (int)len, p);
        p += len + (p[len] == '\n');
        lines++;
    }
    if (*p)
        add(body, "    ...\n");
}

static char *body_text(const nx_check *chk, const nx_config *cfg, const struct item *it,
                       size_t n, const char *host, time_t now)
{
    char *body = nx_xstrdup("");
    char cmd[128], when[64];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
    add(&body, "Updates are available for the NexoSupport site %s on %s:\n\n",
        nx_config_get(cfg, "site", "root") ? nx_config_get(cfg, "site", "root") : "(unset)",
        host);
    for (size_t i = 0; i < n; i++)
        add(&body, "  %s%s %s -> %s\n", mark(it[i].r), it[i].k->name, it[i].k->installed,
            it[i].r->version);
    add(&body, "\n");
    for (size_t i = 0; i < n; i++) {
        const nx_release *r = it[i].r;
        install_cmd(it[i].k, cmd, sizeof cmd);
        add(&body, "%s%s %s\n", mark(r), it[i].k->name, r->version);
        add(&body, "  installed: %s\n", it[i].k->installed);
        add(&body, "  released:  %s\n", r->release_date ? r->release_date : "(not given)");
        add(&body, "  size:      %llu bytes\n", (unsigned long long)r->size);
        add(&body, "  package:   %s\n", r->url);
        add(&body, "  install:   %s\n", cmd);
        if (r->changelog && *r->changelog)
            add_changelog(&body, r->changelog);
        add(&body, "\n");
    }
    add(&body, "Security and critical releases are listed first. 'nexo-update all' installs\n"
               "every update in dependency order; 'nexo-update check' lists what is available.\n"
               "Each version is mailed once (table " TABLE ").\n\n"
               "Checked %s at %s by nexo-update %s (%s).\n",
        chk->source, when, NX_VERSION, nx_config_file(cfg));
    return body;
}

/* ---- check --notify ---------------------------------------------------------- */

/* The offered updates, security and critical ones first (stable). */
static struct item *offered(const nx_check *chk, size_t *n)
{
    struct item *it = nx_xcalloc(chk->ncomp ? chk->ncomp : 1, sizeof *it);
    *n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < chk->ncomp; i++) {
            const nx_component *k = &chk->comp[i];
            if (k->offer && k->installed && urgent(k->offer) == (pass == 0))
                it[(*n)++] = (struct item){ k, k->offer };
        }
    return it;
}

/* Keep only the items not in `seen`. */
static size_t keep_new(struct item *it, size_t n, const json_t *seen)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        char *key = nx_xasprintf("%s %s", it[i].k->name, it[i].r->version);
        if (!json_object_get(seen, key))
            it[m++] = it[i];
        free(key);
    }
    return m;
}

static json_t *notified_json(const struct item *it, size_t n, long long now)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:I}", "component",
                                             it[i].k->name, "current_version",
                                             it[i].k->installed, "latest_version",
                                             it[i].r->version, "is_security",
                                             it[i].r->security, "is_critical",
                                             it[i].r->critical, "notified_at",
                                             (json_int_t)now));
    return arr;
}

static void show_dry_run(const struct cli *c, const nx_mail *m, const char *subj,
                         const char *body)
{
    char to[1024];
    nx_log(&c->out, NEXO_LOG_INFO, NULL, "dry run: would mail to %s through %s: %s",
           nx_mail_to_text(m, to, sizeof to), m->url, subj);
    if (!c->out.json)
        printf("\n%s", body);
}

int cli_check_notify(struct cli *c, const nx_check *chk, json_t *doc)
{
    const nx_config *cfg = cli_config(c);
    json_object_set_new(doc, "notified", json_array());
    if (!cfg)
        return NX_EXIT_FAILED;
    nx_err e;
    nx_mail m;
    int mi = nx_mail_init(&m, notify_get, (void *)cfg, &e);
    if (mi != 0) {
        if (mi > 0)
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "check --notify: no [notify] email in %s: "
                   "nothing was mailed", nx_config_file(cfg));
        else
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "check --notify: %s (%s): nothing was "
                   "mailed", e.msg, nx_config_file(cfg));
        nx_mail_free(&m);
        return NX_EXIT_FAILED;
    }
    size_t n;
    struct item *it = offered(chk, &n);
    struct notify_db d = { 0 };
    int code = NX_EXIT_FAILED;
    json_t *seen = NULL;
    char *subj = NULL, *body = NULL;
    if (n == 0) {
        nx_log(&c->out, NEXO_LOG_DEBUG, NULL, "check --notify: no updates: nothing to mail");
        code = NX_EXIT_OK;
        goto out;
    }
    if (db_open(&d, c, cfg, &e) != 0 || ensure_table(&d, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "check --notify: %s: nothing was mailed", e.msg);
        goto out;
    }
    seen = mailed_before(&d, &e);
    if (!seen) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "check --notify: %s: nothing was mailed", e.msg);
        goto out;
    }
    n = keep_new(it, n, seen);
    if (n == 0) {
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "check --notify: every available update was "
               "mailed before (" TABLE "): nothing to mail");
        code = NX_EXIT_OK;
        goto out;
    }
    char host[256];
    host_name(host, sizeof host);
    time_t now = time(NULL);
    subj = subject(it, n, host);
    body = body_text(chk, cfg, it, n, host, now);
    if (c->dry_run) {
        show_dry_run(c, &m, subj, body);
        code = NX_EXIT_OK;
        goto out;
    }
    if (nx_mail_send(&m, subj, body, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "check --notify: %s; nothing was recorded in "
               TABLE, e.msg);
        goto out;
    }
    char to[1024];
    nx_log(&c->out, NEXO_LOG_INFO, NULL, "mailed %zu update%s to %s through %s", n,
           n == 1 ? "" : "s", nx_mail_to_text(&m, to, sizeof to), m.url);
    if (record(&d, it, n, (long long)now, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "check --notify: the mail was sent, but %s: "
               "the next check --notify mails these updates again", e.msg);
        goto out;
    }
    json_object_set_new(doc, "notified", notified_json(it, n, (long long)now));
    code = NX_EXIT_OK;
out:
    free(subj);
    free(body);
    json_decref(seen);
    db_close(&d);
    free(it);
    nx_mail_free(&m);
    return code;
}
