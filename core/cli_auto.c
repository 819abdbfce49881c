/* check --apply-auto (contracts §2, §3 [auto]; docs/operations.md,
 * "Scheduling"): install unattended what [auto] apply allows.
 *
 *   apply = none    nothing (said so)
 *   apply = patch   the newest release of the same MAJOR.MINOR as installed
 *   apply = minor   the newest release of the same MAJOR
 *
 * Never a MAJOR change, never a pre-release, never a release whose
 * requirements the site does not meet or that conflicts with what is
 * installed. Core first, then the installed plugins in dependency order,
 * each its own update with its own rollback (cli_update_component, as
 * `all` does); before each one after an update ran, the source is asked
 * again about that component. Only inside [auto] window (local time) when
 * one is set.
 *
 * Every automatic attempt is recorded in STATE/auto.json (atomic, 0600)
 * before it starts and when it ends: per component the version tried,
 * the outcome and the number of journals of that version at that time.
 * A version whose last automatic attempt failed (or was interrupted) is
 * skipped, saying so, until a newer version is offered or an update to
 * it is attempted by other means (a journal of that component and
 * version appeared in STATE/journal since: the admin ran it by hand).
 * STATE/auto.lock keeps two runs from racing over that record. */
#include "update_check.h"
#include "journal.h"
#include "records.h"
#include "semver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define AUTO_RECORD "auto.json"
#define AUTO_LOCK "auto.lock"
#define AUTO_MAX_RECORD (4u * 1024u * 1024u)

/* One component to update automatically. */
struct cand {
    const char *component;
    char *from;
    char *to;             /* NULL: nothing to install */
    int security, critical;
    int code;             /* exit code; -1 skipped, -2 nothing to do */
    char *why;            /* skipped: why */
};

/* ---- policy and window ---------------------------------------------------------- */

/* 1 when `version` may be installed over `installed` under `policy`
 * (patch: same major.minor; minor: same major), never a pre-release. */
static int in_policy(const char *policy, const char *installed, const char *version)
{
    nx_semver a, b;
    nx_err e;
    if (nx_semver_parse_loose(installed, &a, &e) != 0)
        return 0;
    if (nx_semver_parse(version, &b, &e) != 0) {
        nx_semver_free(&a);
        return 0;
    }
    int ok = !b.pre && a.major == b.major;
    if (strcmp(policy, "patch") == 0)
        ok = ok && a.minor == b.minor;
    nx_semver_free(&a);
    nx_semver_free(&b);
    return ok;
}

static const char *policy_scope(const char *policy, const char *installed, char *buf, size_t len)
{
    nx_semver a;
    nx_err e;
    if (nx_semver_parse_loose(installed, &a, &e) != 0) {
        snprintf(buf, len, "no release (installed version %s does not parse)", installed);
        return buf;
    }
    if (strcmp(policy, "patch") == 0)
        snprintf(buf, len, "only %llu.%llu.x releases", (unsigned long long)a.major,
                 (unsigned long long)a.minor);
    else
        snprintf(buf, len, "only %llu.x releases", (unsigned long long)a.major);
    nx_semver_free(&a);
    return buf;
}

static int hhmm(const char *s)
{
    return ((s[0] - '0') * 10 + (s[1] - '0')) * 60 + (s[3] - '0') * 10 + (s[4] - '0');
}

/* Is the local time now inside "HH:MM-HH:MM" (validated by the config;
 * the end is excluded; a window may wrap midnight)? `now` gets HH:MM. */
static int in_window(const char *w, char *now, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(now, len, "%H:%M", &tm);
    int m = tm.tm_hour * 60 + tm.tm_min, from = hhmm(w), to = hhmm(w + 6);
    return from < to ? m >= from && m < to : m >= from || m < to;
}

/* ---- the record of automatic attempts ------------------------------------------- */

static char *state_path(const nx_config *cfg, const char *name)
{
    return nx_path_join(nx_config_get(cfg, "paths", "state"), name);
}

/* The record, {"attempts": {COMPONENT: {...}}}; a missing file is an
 * empty record. NULL (e set) when it cannot be read: then nothing is
 * installed, so that a failed version is never retried by accident. */
static json_t *record_load(const char *path, nx_err *e)
{
    char *data = NULL;
    size_t len = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return json_pack("{s:{}}", "attempts");
    if (nx_read_file(path, &data, &len, AUTO_MAX_RECORD, e) != 0)
        return NULL;
    json_error_t je;
    json_t *r = json_loadb(data, len, 0, &je);
    free(data);
    if (!json_is_object(r) || !json_is_object(json_object_get(r, "attempts"))) {
        nx_seterr(e, "%s: not a record of automatic attempts (%s): fix or remove it", path,
                  r ? "no \"attempts\" object" : je.text);
        json_decref(r);
        return NULL;
    }
    return r;
}

static int record_save(const char *path, const json_t *rec, nx_err *e)
{
    char *s = json_dumps(rec, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s) {
        nx_seterr(e, "%s: cannot encode the record", path);
        return -1;
    }
    size_t n = strlen(s);
    char *dir = nx_dirname(path);
    int rc = nx_mkdirs(dir, 0700, e);
    free(dir);
    if (rc == 0) {
        char *text = nx_xasprintf("%s\n", s);
        rc = nx_write_file_atomic(path, text, n + 1, 0600, e);
        free(text);
    }
    free(s);
    return rc;
}

static void iso_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The update attempts of `component` to `version` in STATE/journal (one
 * journal each, archived or current), from the first line of each. */
static long count_journals(const nx_config *cfg, const char *component, const char *version)
{
    char *dir = nx_journal_dir(nx_config_get(cfg, "paths", "state"));
    DIR *d = opendir(dir);
    long n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".jnl") != 0)
            continue;
        char *p = nx_path_join(dir, de->d_name);
        FILE *f = fopen(p, "re");
        free(p);
        if (!f)
            continue;
        char *line = NULL;
        size_t cap = 0;
        if (getline(&line, &cap, f) > 0) {
            json_t *b = json_loads(line, 0, NULL);
            json_t *info = json_object_get(b, "info");
            const char *c = json_string_value(json_object_get(info, "component"));
            const char *v = json_string_value(json_object_get(info, "to_version"));
            if (c && v && strcmp(c, component) == 0 && strcmp(v, version) == 0)
                n++;
            json_decref(b);
        }
        free(line);
        fclose(f);
    }
    if (d)
        closedir(d);
    free(dir);
    return n;
}

/* Why the automatic attempt of `version` is not made again, or NULL: its
 * last automatic attempt failed or never ended, and no journal of an
 * attempt to it appeared since (one made by hand). */
static char *blocked(const nx_config *cfg, const json_t *rec, const char *component,
                     const char *version)
{
    json_t *a = json_object_get(json_object_get(rec, "attempts"), component);
    const char *v = json_string_value(json_object_get(a, "version"));
    const char *outcome = json_string_value(json_object_get(a, "outcome"));
    if (!v || !outcome || strcmp(v, version) != 0 || strcmp(outcome, "success") == 0 ||
        strcmp(outcome, "locked") == 0)
        return NULL;
    int ended = strcmp(outcome, "running") != 0;
    /* journals of that version after the attempt: an attempt that never
     * ended (killed) had made one (a count the record cannot hold more of
     * stays as it is) */
    json_int_t before = json_integer_value(json_object_get(a, "journals_before"));
    json_int_t seen = ended ? json_integer_value(json_object_get(a, "journals"))
                            : before < LLONG_MAX ? before + 1 : before;
    if (count_journals(cfg, component, version) > seen)
        return NULL;
    const char *at = json_string_value(json_object_get(a, ended ? "finished_at" : "started_at"));
    return nx_xasprintf("the last automatic attempt of %s %s %s (%s): not retried until a newer "
                        "version is offered or the update is run by hand", component, version,
                        ended ? "failed" : "was interrupted", at ? at : "time unknown");
}

int nx_auto_record_check(const nx_config *cfg, const char *path, const char *component,
                         const char *version, char **why, nx_err *e)
{
    json_t *rec = record_load(path, e);
    if (!rec)
        return -1;
    *why = blocked(cfg, rec, component, version);
    json_decref(rec);
    return 0;
}

static const char *outcome_of(int code)
{
    switch (code) {
    case NX_EXIT_OK: return "success";
    case NX_EXIT_ROLLED_BACK: return "rolled_back";
    case NX_EXIT_ROLLBACK_FAILED: return "rollback_failed";
    case NX_EXIT_LOCKED: return "locked";
    case -1: return "skipped";
    case -3: return "planned";
    default: return "refused";
    }
}

/* Record the attempt of cand in the record file; when it starts (code
 * -2) and when it ended. Failure to write is logged; returns -1. */
static int record_attempt(struct cli *c, const char *path, json_t *rec, const struct cand *k,
                          int code, const char *policy)
{
    char now[32];
    iso_now(now, sizeof now);
    json_t *attempts = json_object_get(rec, "attempts");
    json_t *a;
    if (code == -2) {
        a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "version", k->to, "from", k->from,
                      "policy", policy, "outcome", "running", "started_at", now,
                      "journals_before",
                      (json_int_t)count_journals(c->cfg, k->component, k->to));
        json_object_set_new(attempts, k->component, a);
    } else {
        a = json_object_get(attempts, k->component);
        json_object_set_new(a, "outcome", json_string(outcome_of(code)));
        json_object_set_new(a, "exit", json_integer(code));
        json_object_set_new(a, "finished_at", json_string(now));
        json_object_set_new(a, "journals",
                            json_integer(count_journals(c->cfg, k->component, k->to)));
    }
    nx_err e;
    if (record_save(path, rec, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "cannot record the automatic attempt: %s",
               e.msg);
        return -1;
    }
    return 0;
}

/* ---- what to install --------------------------------------------------------------- */

/* The newest release of k within the policy whose requirements are met.
 * The newest newer release it passes over for the policy is named. */
static const nx_release *pick(const struct cli *c, const nx_component *k, const char *policy)
{
    int said = 0;
    for (size_t i = 0; i < k->nrel; i++) {
        const nx_release *r = &k->rel[i];
        if (!nx_release_offerable(k, r))
            continue;
        if (in_policy(policy, k->installed, r->version))
            return r;
        if (!said && strcmp(r->channel, "stable") != 0) {
            nx_log(&c->out, NEXO_LOG_INFO, NULL,
                   "auto: %s %s is not installed automatically: a pre-release (channel %s) is "
                   "installed only by hand (%s%s --to %s)", k->name, r->version, r->channel,
                   k->slug ? "plugin " : "core", k->slug ? k->slug : "", r->version);
            said = 1;
        } else if (!said) {
            char scope[128];
            nx_log(&c->out, NEXO_LOG_INFO, NULL,
                   "auto: %s %s is not installed automatically: [auto] apply = %s installs %s",
                   k->name, r->version, policy, policy_scope(policy, k->installed, scope,
                                                             sizeof scope));
            said = 1;
        }
    }
    return NULL;
}

static void cand_set(struct cand *k, const nx_component *comp, const nx_release *r)
{
    free(k->from);
    free(k->to);
    k->from = nx_xstrdup(comp->installed);
    k->to = r ? nx_xstrdup(r->version) : NULL;
    k->security = r && r->security;
    k->critical = r && r->critical;
}

/* Ask the source again about one component (after an update ran) and
 * pick again. -1 when the source could not be asked (logged). */
static int repick(struct cli *c, struct cand *k, const char *policy)
{
    nx_err e;
    nx_check *chk = nx_check_run(&c->out, c->cfg, k->component, &e);
    if (!chk) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return -1;
    }
    const nx_component *comp = nx_check_find(chk, k->component);
    if (comp && comp->installed)
        cand_set(k, comp, pick(c, comp, policy));
    else {
        free(k->to);
        k->to = NULL;
    }
    nx_check_free(chk);
    return 0;
}

/* Core, then the installed plugins with an offer in dependency order. */
static struct cand *plan(struct cli *c, const nx_check *chk, const char *policy, size_t *n,
                         int *err)
{
    char **slugs = NULL;
    size_t ns = 0;
    nx_err e;
    *err = 0;
    if (nx_check_plugin_order(chk, &slugs, &ns, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "auto: plugins not updated: %s", e.msg);
        *err = 1;
        ns = 0;
    }
    struct cand *v = nx_xcalloc(ns + 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i <= ns; i++) {
        char *name = i ? nx_xasprintf("plugin:%s", slugs[i - 1]) : nx_xstrdup("core");
        const nx_component *comp = nx_check_find(chk, name);
        free(name);
        if (!comp || !comp->installed)
            continue;
        struct cand *k = &v[(*n)++];
        k->component = comp->name;
        k->code = -2;
        const nx_release *b = nx_component_php_blocked(comp);
        if (b) { /* nothing older is installed instead: the admin must act */
            char *why = nx_php_refusal(comp, b);
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "auto: %s", why);
            free(why);
            *err = 1;
            cand_set(k, comp, NULL);
            continue;
        }
        cand_set(k, comp, pick(c, comp, policy));
    }
    for (size_t i = 0; i < ns; i++)
        free(slugs[i]);
    free(slugs);
    return v;
}

/* ---- running --------------------------------------------------------------------- */

/* One update, unattended: -y (a MAJOR one never gets here), --to the
 * picked version. With --json the update's own output goes to stderr. */
static int run_one(struct cli *c, const struct cand *k)
{
    struct update_opts o = { .to = k->to };
    int json = c->out.json, yes = c->yes, saved = -1;
    if (json) {
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        if (saved >= 0)
            dup2(STDERR_FILENO, STDOUT_FILENO);
        c->out.json = 0;
    }
    c->yes = 1;
    int code = cli_update_component(c, k->component, &o);
    c->yes = yes;
    c->out.json = json;
    if (saved >= 0) {
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    return code;
}

/* Worst first: 4, 3, 1, 5, 2, 0 (as `all`). */
static int rank(int code)
{
    switch (code) {
    case NX_EXIT_ROLLBACK_FAILED: return 6;
    case NX_EXIT_ROLLED_BACK: return 5;
    case NX_EXIT_FAILED: return 4;
    case NX_EXIT_LOCKED: return 3;
    case NX_EXIT_USAGE: return 2;
    default: return 0;
    }
}

static int worse(int a, int b)
{
    return rank(b) > rank(a) ? b : a;
}

static void report(const struct cli *c, const struct cand *v, size_t n, json_t *applied)
{
    for (size_t i = 0; i < n; i++) {
        const struct cand *k = &v[i];
        if (k->code == -2 || !k->to)
            continue;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "component", k->component,
                              "from", k->from, "to", k->to, "outcome", outcome_of(k->code),
                              "is_security_update", k->security, "is_critical", k->critical);
        json_object_set_new(o, "exit", k->code >= 0 ? json_integer(k->code) : json_null());
        if (k->why)
            json_object_set_new(o, "reason", json_string(k->why));
        json_array_append_new(applied, o);
        if (!c->out.json)
            printf("auto: %s %s -> %s%s: %s%s%s\n", k->component, k->from, k->to,
                   k->security ? " (security)" : "", outcome_of(k->code), k->why ? ": " : "",
                   k->why ? k->why : "");
    }
}

/* Take STATE/auto.lock: 0, or an exit code (logged). */
static int lock_auto(struct cli *c, int *fd)
{
    nx_err e;
    const char *state = nx_config_get(c->cfg, "paths", "state");
    if (nx_mkdirs(state, 0700, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "auto: %s", e.msg);
        return NX_EXIT_FAILED;
    }
    char *p = state_path(c->cfg, AUTO_LOCK);
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    int code = NX_EXIT_OK;
    if (*fd < 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "auto: %s: cannot open: %s", p, strerror(errno));
        code = NX_EXIT_FAILED;
    } else if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL,
               "auto: another 'check --apply-auto' is running (%s is locked)", p);
        close(*fd);
        *fd = -1;
        code = NX_EXIT_LOCKED;
    }
    free(p);
    return code;
}

/* Run the plan: each candidate not blocked by a failed attempt. */
static int run_plan(struct cli *c, struct cand *v, size_t n, json_t *rec, const char *path,
                    const char *policy)
{
    int code = NX_EXIT_OK, ran = 0;
    for (size_t i = 0; i < n; i++) {
        struct cand *k = &v[i];
        if (ran && repick(c, k, policy) != 0) {
            code = worse(code, NX_EXIT_FAILED);
            continue;
        }
        if (!k->to)
            continue;
        k->why = blocked(c->cfg, rec, k->component, k->to);
        if (k->why) {
            k->code = -1;
            nx_log(&c->out, NEXO_LOG_WARN, NULL, "auto: %s: skipped: %s", k->component, k->why);
            continue;
        }
        nx_log(&c->out, k->security ? NEXO_LOG_WARN : NEXO_LOG_INFO, NULL,
               "auto: %s %s -> %s%s%s: installing automatically ([auto] apply = %s)",
               k->component, k->from, k->to, k->security ? " (security release)" : "",
               k->critical ? " (critical)" : "", policy);
        if (c->dry_run) {
            k->code = -3;
            continue;
        }
        if (record_attempt(c, path, rec, k, -2, policy) != 0) {
            /* without the record a failure could be retried: do not start */
            k->code = -1;
            k->why = nx_xstrdup("the attempt could not be recorded");
            code = worse(code, NX_EXIT_FAILED);
            break;
        }
        k->code = run_one(c, k);
        ran = 1;
        if (record_attempt(c, path, rec, k, k->code, policy) != 0)
            code = worse(code, NX_EXIT_FAILED);
        code = worse(code, k->code);
        if (k->code == NX_EXIT_ROLLBACK_FAILED || k->code == NX_EXIT_LOCKED) {
            nx_log(&c->out, NEXO_LOG_ERROR, NULL,
                   "auto: %s: the remaining automatic updates are not started", k->component);
            break;
        }
    }
    return code;
}

int cli_check_apply_auto(struct cli *c, const nx_check *chk, json_t *doc)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    const char *policy = nx_config_get(cfg, "auto", "apply");
    const char *window = nx_config_get(cfg, "auto", "window");
    json_t *applied = json_array();
    json_t *info = json_pack("{s:s, s:s?}", "apply", policy, "window", window);
    json_object_set_new(doc, "auto", info);
    json_object_set_new(doc, "applied", applied);
    if (strcmp(policy, "none") == 0) {
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "auto: [auto] apply = none in %s: nothing is "
               "installed automatically", nx_config_file(cfg));
        return NX_EXIT_OK;
    }
    if (window) {
        char now[8];
        int inside = in_window(window, now, sizeof now);
        json_object_set_new(info, "in_window", json_boolean(inside));
        if (!inside) {
            nx_log(&c->out, NEXO_LOG_INFO, NULL, "auto: outside the maintenance window "
                   "[auto] window = %s (local time now %s): nothing is installed", window, now);
            return NX_EXIT_OK;
        }
    }
    int fd = -1, code = c->dry_run ? NX_EXIT_OK : lock_auto(c, &fd);
    if (code != NX_EXIT_OK)
        return code;
    char *path = state_path(cfg, AUTO_RECORD);
    nx_err e;
    json_t *rec = record_load(path, &e);
    if (!rec) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "auto: nothing is installed: %s", e.msg);
        code = NX_EXIT_FAILED;
    } else {
        size_t n;
        int err;
        struct cand *v = plan(c, chk, policy, &n, &err);
        code = run_plan(c, v, n, rec, path, policy);
        if (err)
            code = worse(code, NX_EXIT_FAILED);
        report(c, v, n, applied);
        if (!json_array_size(applied))
            nx_log(&c->out, NEXO_LOG_INFO, NULL, "auto: nothing to install under [auto] "
                   "apply = %s", policy);
        for (size_t i = 0; i < n; i++) {
            free(v[i].from);
            free(v[i].to);
            free(v[i].why);
        }
        free(v);
    }
    json_decref(rec);
    free(path);
    if (fd >= 0)
        close(fd);
    return code;
}
