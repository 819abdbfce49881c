/*
 * notify — mails the outcome of an update to [notify] email (contracts
 * §4; docs/operations.md "E-mail").
 *
 *   on = success  the last step of a pipeline (after maintenance-off): its
 *                 run mails that the update succeeded (versions, update
 *                 id, time in maintenance mode); its undo does nothing.
 *   on = failure  placed early (right after the health check): its run
 *                 does nothing; its undo, which runs last in an unwinding
 *                 (in the process that failed, or in `recover`), mails
 *                 the failure: component, from -> to, update id, the error
 *                 (host fact "error"), the steps undone (fact "undone"),
 *                 and whether the site is back on the old version.
 *
 * A mail that cannot be sent is a warning naming the SMTP URL and curl's
 * error: the step never fails and never makes an update or an undo fail
 * (run and undo return 0). Without [notify] email there is nothing to do.
 * An undo that mailed journals "mailed", so a repeated undo (recover
 * after a kill right after it) does not mail again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/step.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mail.h"
#include "phpver.h"

static const struct nexo_setting settings[] = {
    { "on", "success", 0, "success: run mails the success; failure: undo mails the failure" },
    { NULL, NULL, 0, NULL },
};

struct hc {
    const struct nexo_host *h;
    nexo_ctx *c;
};

static const char *notify_get(void *arg, const char *key)
{
    struct hc *x = arg;
    return x->h->config(x->c, "notify", key);
}

static int on_failure(const struct nexo_host *h, nexo_ctx *c)
{
    return strcmp(h->setting(c, "on"), "failure") == 0;
}

/* The [notify] settings: 1 nothing to mail, 0 ready, -1 a warning logged. */
static int mail_setup(const struct nexo_host *h, nexo_ctx *c, nx_mail *m, const char *what)
{
    struct hc x = { h, c };
    nx_err e;
    int rc = nx_mail_init(m, notify_get, &x, &e);
    if (rc < 0)
        h->log(c, NEXO_LOG_WARN, "%s will not be mailed: %s", what, e.msg);
    else if (rc > 0)
        h->log(c, NEXO_LOG_DEBUG, "no [notify] email: %s is not mailed", what);
    return rc;
}

static const char *fact(const struct nexo_host *h, nexo_ctx *c, const char *name,
                        const char *none)
{
    const char *v = h->info(c, name);
    return v && *v ? v : none;
}

static void host_name(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "localhost");
    buf[len - 1] = '\0';
}

static void utc_now(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* "1.0.0 -> 1.1.0", or "(new install) -> 1.2.0". */
static void versions(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len)
{
    snprintf(buf, len, "%s -> %s", fact(h, c, "from_version", "(not installed)"),
             fact(h, c, "to_version", "(unknown)"));
}

/* Send; a failure is a warning, never an error. 1 sent, 0 not. */
static int send_mail(const struct nexo_host *h, nexo_ctx *c, const nx_mail *m,
                     const char *what, const char *subject, const char *body)
{
    nx_err e;
    char to[1024];
    if (nx_mail_send(m, subject, body, &e) != 0) {
        h->log(c, NEXO_LOG_WARN, "%s was not mailed: %s", what, e.msg);
        return 0;
    }
    h->log(c, NEXO_LOG_INFO, "mailed %s to %s through %s", what,
           nx_mail_to_text(m, to, sizeof to), m->url);
    return 1;
}

/* ---- success ---------------------------------------------------------------- */

/* Seconds between the maintenance step's shared maintenance_since and
 * _until ("SECONDS.MILLIS"); -1 when not known. */
static double maintenance_s(const struct nexo_host *h, nexo_ctx *c)
{
    const char *since = h->shared_get(c, "maintenance_since");
    const char *until = h->shared_get(c, "maintenance_until");
    if (!since || !until)
        return -1;
    double d = strtod(until, NULL) - strtod(since, NULL);
    return d < 0 ? 0 : d;
}

static int mail_success(const struct nexo_host *h, nexo_ctx *c)
{
    nx_mail m;
    if (mail_setup(h, c, &m, "the success of the update") != 0) {
        nx_mail_free(&m);
        return 0;
    }
    char host[256], vers[512], when[64], maint[64];
    host_name(host, sizeof host);
    versions(h, c, vers, sizeof vers);
    utc_now(when, sizeof when);
    double ms = maintenance_s(h, c);
    if (ms < 0)
        snprintf(maint, sizeof maint, "not known");
    else
        snprintf(maint, sizeof maint, ms < 10 ? "%.2f s" : "%.1f s", ms);
    const char *comp = fact(h, c, "component", "(unknown)");
    const char *from = h->info(c, "from_version");
    char *subject = from && *from
        ? nx_xasprintf("[nexo-update] %s updated %s on %s", comp, vers, host)
        : nx_xasprintf("[nexo-update] %s %s installed on %s", comp,
                       fact(h, c, "to_version", "(unknown)"), host);
    char *body = nx_xasprintf(
        "The update of %s on the NexoSupport site %s (%s) succeeded.\n"
        "\n"
        "Component:         %s\n"
        "Version:           %s\n"
        "Update id:         %s\n"
        "Pipeline:          %s\n"
        "Finished:          %s\n"
        "Maintenance mode:  %s\n"
        "\n"
        "'nexo-update history' lists every update; 'nexo-update rollback' puts this\n"
        "update's backup back if the new version misbehaves.\n",
        comp, fact(h, c, "root", "(unknown)"), host, comp, vers,
        fact(h, c, "update_id", "(unknown)"), fact(h, c, "pipeline", "(unknown)"), when, maint);
    send_mail(h, c, &m, "the success of the update", subject, body);
    free(subject);
    free(body);
    nx_mail_free(&m);
    return 0;
}

/* ---- failure ---------------------------------------------------------------- */

/* Is the site back on the old version? What its version.php says
 * (malloc'ed). */
static char *old_version_back(const struct nexo_host *h, nexo_ctx *c)
{
    const char *root = h->info(c, "root");
    const char *comp = h->info(c, "component");
    const char *dir = h->info(c, "component_dir");
    const char *from = h->info(c, "from_version");
    if (!root || !comp || (strcmp(comp, "core") != 0 && strncmp(comp, "plugin:", 7) != 0))
        return nx_xasprintf("not known (no version file for component %s)", comp ? comp : "?");
    char *file = dir && *dir ? nx_xasprintf("%s/%s/version.php", root, dir)
                             : nx_xasprintf("%s/core/version.php", root);
    char *out;
    if (!from || !*from) {
        out = access(file, F_OK) != 0
            ? nx_xasprintf("yes: %s was not installed and is not (no %s)", comp, file)
            : nx_xasprintf("NO: %s was not installed, but %s is there", comp, file);
        free(file);
        return out;
    }
    nx_err e;
    json_t *v = nx_phpver_load(file, &e);
    const char *got = json_string_value(json_object_get(v, "version"));
    if (!v)
        out = nx_xasprintf("NOT KNOWN: %s", e.msg);
    else if (!got)
        out = nx_xasprintf("NOT KNOWN: %s has no 'version'", file);
    else if (strcmp(got, from) == 0)
        out = nx_xasprintf("yes: %s says %s", file, got);
    else
        out = nx_xasprintf("NO: %s says %s, not %s: run 'nexo-update status'", file, got, from);
    json_decref(v);
    free(file);
    return out;
}

static void maintenance_state(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len)
{
    const char *root = h->info(c, "root");
    char *flag = root ? nx_xasprintf("%s/MAINTENANCE", root) : NULL;
    if (!flag)
        snprintf(buf, len, "not known");
    else if (access(flag, F_OK) == 0)
        snprintf(buf, len, "ON (%s is there)", flag);
    else
        snprintf(buf, len, "off");
    free(flag);
}

static int mail_failure(const struct nexo_host *h, nexo_ctx *c)
{
    const char *mailed = h->state_get(c, "mailed");
    if (mailed && strcmp(mailed, "1") == 0) {
        h->log(c, NEXO_LOG_DEBUG, "the failure was mailed before");
        return 0;
    }
    nx_mail m;
    if (mail_setup(h, c, &m, "the failure of the update") != 0) {
        nx_mail_free(&m);
        return 0;
    }
    char host[256], vers[512], when[64], maint[4200];
    host_name(host, sizeof host);
    versions(h, c, vers, sizeof vers);
    utc_now(when, sizeof when);
    char *back = old_version_back(h, c);
    maintenance_state(h, c, maint, sizeof maint);
    const char *comp = fact(h, c, "component", "(unknown)");
    int recovering = strcmp(fact(h, c, "recovering", "0"), "1") == 0;
    char *subject = nx_xasprintf("[nexo-update] FAILED: %s %s on %s, rolled back", comp, vers,
                                 host);
    char *body = nx_xasprintf(
        "The update of %s on the NexoSupport site %s (%s) failed and was rolled back%s.\n"
        "\n"
        "Component:         %s\n"
        "Version:           %s\n"
        "Update id:         %s\n"
        "Pipeline:          %s\n"
        "Error:             %s\n"
        "Rolled back:       %s\n"
        "Old version back:  %s\n"
        "Maintenance mode:  %s\n"
        "Time:              %s\n"
        "\n"
        "'nexo-update history' shows the attempt; its journal is\n"
        "%s/journal/%s.jnl.\n",
        comp, fact(h, c, "root", "(unknown)"), host,
        recovering ? " by 'nexo-update recover' (the update had been interrupted)" : "",
        comp, vers, fact(h, c, "update_id", "(unknown)"), fact(h, c, "pipeline", "(unknown)"),
        fact(h, c, "error", "(not known)"), fact(h, c, "undone", "no step had to be undone"),
        back, maint, when, fact(h, c, "state_dir", "STATE"),
        fact(h, c, "update_id", "UPDATE_ID"));
    if (send_mail(h, c, &m, "the failure of the update", subject, body))
        h->state_set(c, "mailed", "1");
    free(back);
    free(subject);
    free(body);
    nx_mail_free(&m);
    return 0;
}

/* ---- the step ----------------------------------------------------------------- */

static int n_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *on = h->setting(c, "on");
    if (strcmp(on, "success") != 0 && strcmp(on, "failure") != 0)
        return h->fail(c, NEXO_EINVAL, "on = %s: expected success or failure", on);
    nx_mail m;
    mail_setup(h, c, &m, on_failure(h, c) ? "a failure" : "the success");
    nx_mail_free(&m);
    return 0;
}

static int n_plan(const struct nexo_host *h, nexo_ctx *c)
{
    nx_mail m;
    const char *what = on_failure(h, c) ? "a failure" : "the success";
    if (mail_setup(h, c, &m, what) == 0) {
        char to[1024];
        h->log(c, NEXO_LOG_INFO, "would mail %s to %s through %s", what,
               nx_mail_to_text(&m, to, sizeof to), m.url);
    }
    nx_mail_free(&m);
    return 0;
}

static int n_run(const struct nexo_host *h, nexo_ctx *c)
{
    return on_failure(h, c) ? 0 : mail_success(h, c);
}

static int n_undo(const struct nexo_host *h, nexo_ctx *c)
{
    if (on_failure(h, c) && strcmp(h->info(c, "dry_run"), "1") == 0) {
        /* a dry run drops what it staged: no update failed */
        h->log(c, NEXO_LOG_DEBUG, "dry run: nothing to mail");
        return 0;
    }
    return on_failure(h, c) ? mail_failure(h, c) : 0;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "notify",
    .version = "1.0.0",
    .summary = "mail the outcome of the update to [notify] email (never fails the update)",
    .flags = NEXO_STEP_PRECHECK,
    .settings = settings,
    .validate = n_validate,
    .plan = n_plan,
    .run = n_run,
    .undo = n_undo,
};
