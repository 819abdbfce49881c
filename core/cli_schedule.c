/* nexo-update schedule (contracts §2; docs/operations.md, "Scheduling"):
 * one-off updates for the timer to run.
 *
 *   schedule --at "YYYY-MM-DD HH:MM" COMMAND...   record a job
 *   schedule list                                  every job (--json)
 *   schedule cancel ID                             a pending job
 *   schedule run-due                               run every due job once
 *
 * COMMAND is `core [--to V]`, `plugin SLUG [--to V]` (or plugin:SLUG) or
 * `all`, each with an optional --allow-major. A job is one JSON file,
 * STATE/schedule/<id>.json (0600, written atomically; folder 0700). Its
 * status goes pending -> running -> done | failed, or pending ->
 * cancelled; a job found `running` by run-due (which holds
 * STATE/schedule/run.lock for its whole run, so none is running) was
 * interrupted and becomes `interrupted`: no job ever runs twice.
 * STATE/schedule/jobs.lock is held briefly around every change of a job
 * file, so cancel and run-due never race. */
#include "cli.h"
#include "records.h"
#include "semver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SCHED_DIR "schedule"
#define JOBS_LOCK "jobs.lock"
#define RUN_LOCK "run.lock"
#define AT_FORMAT "YYYY-MM-DD HH:MM"
#define MAX_JOB (1024u * 1024u)

struct job {
    char *path;
    json_t *doc;
};

struct jobs {
    struct job *v;
    size_t n;
};

/* ---- small helpers --------------------------------------------------------------- */

static char *sched_dir(const nx_config *cfg)
{
    return nx_path_join(nx_config_get(cfg, "paths", "state"), SCHED_DIR);
}

static void iso_utc(time_t t, char *buf, size_t len)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Now in UTC with milliseconds: jobs due at the same time run in the
 * order they were recorded. */
static void created_ms(char *buf, size_t len)
{
    long long ms = nx_now_ms();
    time_t t = (time_t)(ms / 1000);
    char s[32];
    iso_utc(t, s, sizeof s);
    snprintf(buf, len, "%.19s.%03lldZ", s, ms % 1000);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "YYYY-MM-DD HH:MM", local time, a time that exists: 0 and *out, or -1. */
static int parse_at(const char *s, time_t *out)
{
    static const char pat[] = "dddd-dd-dd dd:dd";
    if (strlen(s) != sizeof pat - 1)
        return -1;
    for (size_t i = 0; pat[i]; i++)
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
            return -1;
    struct tm tm = { 0 };
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_isdst = -1;
    struct tm want = tm;
    time_t t = mktime(&tm);
    /* mktime normalizes 2026-02-30 and times a DST change skips: refuse those */
    if (t == (time_t)-1 || tm.tm_year != want.tm_year || tm.tm_mon != want.tm_mon ||
        tm.tm_mday != want.tm_mday || tm.tm_hour != want.tm_hour || tm.tm_min != want.tm_min)
        return -1;
    *out = t;
    return 0;
}

/* Take `name` in the schedule folder (made 0700 when missing). `wait`:
 * block, else fail at once when held. The fd, or -1 (e set; errno
 * EWOULDBLOCK when held). */
static int take_lock(const char *dir, const char *name, int wait, nx_err *e)
{
    if (nx_mkdirs(dir, 0700, e) != 0)
        return -1;
    char *p = nx_path_join(dir, name);
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open: %s", p, strerror(errno));
    } else if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        int err = errno;
        nx_seterr(e, "%s: %s", p, err == EWOULDBLOCK ? "locked" : strerror(err));
        close(fd);
        fd = -1;
        errno = err;
    }
    free(p);
    return fd;
}

static int id_ok(const char *id)
{
    return strlen(id) == 8 && strspn(id, "0123456789abcdef") == 8;
}

/* Every word of a job's command is a string. */
static int words_ok(const json_t *cmd)
{
    size_t i;
    json_t *w;
    json_array_foreach(cmd, i, w)
        if (!json_is_string(w))
            return 0;
    return json_is_array(cmd);
}

static json_t *job_load(const char *path, nx_err *e)
{
    char *data = NULL;
    size_t len = 0;
    if (nx_read_file(path, &data, &len, MAX_JOB, e) != 0)
        return NULL;
    json_error_t je;
    json_t *doc = json_loadb(data, len, 0, &je);
    free(data);
    if (!json_is_object(doc) || !words_ok(json_object_get(doc, "command")) ||
        !json_is_integer(json_object_get(doc, "at_epoch")) ||
        !json_is_string(json_object_get(doc, "status"))) {
        nx_seterr(e, "%s: not a scheduled job%s%s", path, doc ? "" : ": ",
                  doc ? "" : je.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int job_save(const char *path, const json_t *doc, nx_err *e)
{
    char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) {
        nx_seterr(e, "%s: cannot encode the job", path);
        return -1;
    }
    char *text = nx_xasprintf("%s\n", s);
    int rc = nx_write_file_atomic(path, text, strlen(text), 0600, e);
    free(text);
    free(s);
    return rc;
}

static int by_time(const void *a, const void *b)
{
    const struct job *x = a, *y = b;
    json_int_t tx = json_integer_value(json_object_get(x->doc, "at_epoch"));
    json_int_t ty = json_integer_value(json_object_get(y->doc, "at_epoch"));
    if (tx != ty)
        return tx < ty ? -1 : 1;
    int c = strcmp(jstr(x->doc, "created_at"), jstr(y->doc, "created_at"));
    return c ? c : strcmp(jstr(x->doc, "id"), jstr(y->doc, "id"));
}

/* Every job of the folder, by time; a file that is not a job is named
 * and left out. */
static void jobs_load(const struct cli *c, const char *dir, struct jobs *js)
{
    memset(js, 0, sizeof *js);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l != 13 || strcmp(de->d_name + 8, ".json") != 0)
            continue;
        char *p = nx_path_join(dir, de->d_name);
        nx_err e;
        json_t *doc = job_load(p, &e);
        if (!doc) {
            nx_log(&c->out, NEXO_LOG_WARN, NULL, "schedule: skipped: %s", e.msg);
            free(p);
            continue;
        }
        js->v = nx_xrealloc(js->v, (js->n + 1) * sizeof *js->v);
        js->v[js->n++] = (struct job){ p, doc };
    }
    if (d)
        closedir(d);
    if (js->n)
        qsort(js->v, js->n, sizeof *js->v, by_time);
}

static void jobs_free(struct jobs *js)
{
    for (size_t i = 0; i < js->n; i++) {
        free(js->v[i].path);
        json_decref(js->v[i].doc);
    }
    free(js->v);
}

static char *command_text(const json_t *cmd)
{
    size_t i;
    json_t *w;
    char *s = nx_xstrdup("");
    json_array_foreach(cmd, i, w) {
        char *n = nx_xasprintf("%s%s%s", s, i ? " " : "", json_string_value(w));
        free(s);
        s = n;
    }
    return s;
}

/* ---- schedule --at TIME COMMAND --------------------------------------------------- */

static int slug_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n &&
           s[0] != '_' && s[0] != '-';
}

static int bad_command(const char *why, const char *what)
{
    fprintf(stderr, "nexo-update: schedule: %s%s%s%s (COMMAND: core [--to V], plugin SLUG "
            "[--to V] or all; each may add --allow-major)\n", why, what ? " '" : "",
            what ? what : "", what ? "'" : "");
    return NX_EXIT_USAGE;
}

/* The command words after --at TIME, checked and normalized (plugin:SLUG
 * becomes plugin SLUG) into *out. 0 or an exit code (said). */
static int parse_command(int argc, char **argv, json_t **out)
{
    if (argc < 1)
        return bad_command("which command?", NULL);
    const char *cmd = argv[0], *slug = NULL, *to = NULL;
    int major = 0, i = 1;
    if (strncmp(cmd, "plugin:", 7) == 0) {
        slug = cmd + 7;
        cmd = "plugin";
    } else if (strcmp(cmd, "plugin") == 0 && argc > 1 && argv[1][0] != '-') {
        slug = argv[1];
        i = 2;
    } else if (strcmp(cmd, "core") != 0 && strcmp(cmd, "all") != 0 &&
               strcmp(cmd, "plugin") != 0) {
        return bad_command("cannot schedule", cmd);
    }
    if (strcmp(cmd, "plugin") == 0 && (!slug || !slug_ok(slug)))
        return bad_command(slug ? "not a plugin slug:" : "plugin needs a SLUG", slug);
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--allow-major") == 0)
            major = 1;
        else if (strcmp(cmd, "all") != 0 && strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(cmd, "all") != 0 && strncmp(argv[i], "--to=", 5) == 0)
            to = argv[i] + 5;
        else
            return bad_command("unexpected", argv[i]);
    }
    if (to) {
        nx_semver v;
        nx_err e;
        if (nx_semver_parse(to, &v, &e) != 0) {
            fprintf(stderr, "nexo-update: schedule: --to: %s\n", e.msg);
            return NX_EXIT_USAGE;
        }
        nx_semver_free(&v);
    }
    json_t *words = json_pack("[s]", cmd);
    if (slug)
        json_array_append_new(words, json_string(slug));
    if (to) {
        json_array_append_new(words, json_string("--to"));
        json_array_append_new(words, json_string(to));
    }
    if (major)
        json_array_append_new(words, json_string("--allow-major"));
    *out = words;
    return 0;
}

static char *new_id(void)
{
    unsigned char r[4] = { 0 };
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        long long t = nx_now_ms() ^ (long long)getpid();
        memcpy(r, &t, sizeof r);
    }
    return nx_xasprintf("%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

static int sched_add(struct cli *c, const char *at, int argc, char **argv)
{
    time_t t, now = time(NULL);
    if (parse_at(at, &t) != 0) {
        fprintf(stderr, "nexo-update: schedule: --at '%s' is not a time %s (local time, "
                "24-hour clock), e.g. --at \"2026-12-01 03:00\"\n", at, AT_FORMAT);
        return NX_EXIT_USAGE;
    }
    if (t <= now) {
        char nowtxt[32];
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(nowtxt, sizeof nowtxt, "%Y-%m-%d %H:%M", &tm);
        fprintf(stderr, "nexo-update: schedule: --at '%s' is not in the future (local time "
                "now: %s)\n", at, nowtxt);
        return NX_EXIT_USAGE;
    }
    json_t *words = NULL;
    int code = parse_command(argc, argv, &words);
    if (code)
        return code;
    nx_config *cfg = cli_config(c);
    if (!cfg) {
        json_decref(words);
        return NX_EXIT_FAILED;
    }
    char *dir = sched_dir(cfg), *id = NULL, *path = NULL;
    char created[48], at_utc[32];
    created_ms(created, sizeof created);
    iso_utc(t, at_utc, sizeof at_utc);
    char *text = command_text(words);
    nx_err e;
    int fd = c->dry_run ? -1 : take_lock(dir, JOBS_LOCK, 1, &e);
    if (!c->dry_run && fd < 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule: %s", e.msg);
        code = NX_EXIT_FAILED;
        goto out;
    }
    do {
        free(id);
        free(path);
        id = new_id();
        path = nx_xasprintf("%s/%s.json", dir, id);
    } while (access(path, F_OK) == 0);
    json_t *doc = json_pack("{s:s, s:O, s:s, s:s, s:I, s:s, s:s, s:s}", "id", id, "command",
                            words, "command_line", text, "at", at, "at_epoch", (json_int_t)t,
                            "at_utc", at_utc, "created_at", created, "status", "pending");
    if (!c->dry_run && job_save(path, doc, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule: %s", e.msg);
        code = NX_EXIT_FAILED;
        json_decref(doc);
        goto out;
    }
    if (c->dry_run)
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "dry run: the job is not recorded");
    if (c->out.json) {
        json_object_set_new(doc, "file", json_string(path));
        cli_print_json(doc);
    } else {
        printf("scheduled %s: %s at %s (local time), run by 'nexo-update schedule run-due'\n",
               id, text, at);
        json_decref(doc);
    }
out:
    if (fd >= 0)
        close(fd);
    free(text);
    free(id);
    free(path);
    free(dir);
    json_decref(words);
    return code;
}

/* ---- list, cancel ---------------------------------------------------------------- */

static char *result_text(const json_t *doc)
{
    const char *st = jstr(doc, "status");
    json_t *x = json_object_get(doc, "exit");
    if (strcmp(st, "done") == 0 || strcmp(st, "failed") == 0)
        return nx_xasprintf("%s, exit %lld, %s", jstr(doc, "outcome"),
                            (long long)json_integer_value(x), jstr(doc, "finished_at"));
    if (strcmp(st, "cancelled") == 0)
        return nx_xasprintf("cancelled %s", jstr(doc, "cancelled_at"));
    if (strcmp(st, "interrupted") == 0 || strcmp(st, "running") == 0)
        return nx_xasprintf("started %s", jstr(doc, "started_at"));
    return nx_xstrdup("");
}

static int sched_list(struct cli *c)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    char *dir = sched_dir(cfg);
    struct jobs js;
    jobs_load(c, dir, &js);
    if (c->out.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < js.n; i++)
            json_array_append(arr, js.v[i].doc);
        cli_print_json(json_pack("{s:s, s:o}", "dir", dir, "jobs", arr));
    } else if (!js.n) {
        printf("no scheduled jobs (%s)\n", dir);
    } else {
        printf("%-8s  %-16s  %-11s  %-28s  %s\n", "ID", "AT (local)", "STATUS", "COMMAND",
               "RESULT");
        for (size_t i = 0; i < js.n; i++) {
            const json_t *d = js.v[i].doc;
            char *cmd = command_text(json_object_get(d, "command"));
            char *res = result_text(d);
            printf("%-8s  %-16s  %-11s  %-28s  %s\n", jstr(d, "id"), jstr(d, "at"),
                   jstr(d, "status"), cmd, res);
            free(cmd);
            free(res);
        }
    }
    jobs_free(&js);
    free(dir);
    return NX_EXIT_OK;
}

static int sched_cancel(struct cli *c, const char *id)
{
    if (!id_ok(id)) {
        fprintf(stderr, "nexo-update: schedule cancel: '%s' is not a job id (8 hex digits, as "
                "'schedule list' shows)\n", id);
        return NX_EXIT_USAGE;
    }
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    char *dir = sched_dir(cfg);
    char *path = nx_xasprintf("%s/%s.json", dir, id);
    int code = NX_EXIT_OK;
    nx_err e;
    int fd = take_lock(dir, JOBS_LOCK, 1, &e);
    json_t *doc = NULL;
    if (fd < 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule: %s", e.msg);
        code = NX_EXIT_FAILED;
    } else if (access(path, F_OK) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule cancel: no job %s in %s", id, dir);
        code = NX_EXIT_FAILED;
    } else if (!(doc = job_load(path, &e))) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule cancel: %s", e.msg);
        code = NX_EXIT_FAILED;
    } else if (strcmp(jstr(doc, "status"), "pending") != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule cancel: job %s is %s, not pending: "
               "only a job that has not started can be cancelled", id, jstr(doc, "status"));
        code = NX_EXIT_FAILED;
    } else if (!c->dry_run) {
        char now[32];
        iso_utc(time(NULL), now, sizeof now);
        json_object_set_new(doc, "status", json_string("cancelled"));
        json_object_set_new(doc, "cancelled_at", json_string(now));
        if (job_save(path, doc, &e) != 0) {
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule cancel: %s", e.msg);
            code = NX_EXIT_FAILED;
        }
    }
    if (code == NX_EXIT_OK) {
        if (c->out.json)
            cli_print_json(json_incref(doc));
        else
            printf("%s job %s: %s at %s\n", c->dry_run ? "would cancel" : "cancelled", id,
                   jstr(doc, "command_line"), jstr(doc, "at"));
    }
    json_decref(doc);
    if (fd >= 0)
        close(fd);
    free(path);
    free(dir);
    return code;
}

/* ---- run-due --------------------------------------------------------------------- */

static const char *outcome_of(int code)
{
    switch (code) {
    case NX_EXIT_OK: return "success";
    case NX_EXIT_ROLLED_BACK: return "rolled_back";
    case NX_EXIT_ROLLBACK_FAILED: return "rollback_failed";
    case NX_EXIT_LOCKED: return "locked";
    case NX_EXIT_USAGE: return "usage";
    default: return "refused";
    }
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

/* A job's command words (pointing into cmd), NULL-terminated. */
static char **job_argv(const json_t *cmd, size_t *n)
{
    *n = json_array_size(cmd);
    char **argv = nx_xcalloc(*n + 1, sizeof *argv);
    for (size_t i = 0; i < *n; i++)
        argv[i] = (char *)json_string_value(json_array_get(cmd, i));
    return argv;
}

/* The component of a job's command that is not `all` ("core" or
 * "plugin:SLUG", malloc'ed) and its options. */
static char *job_component(char *const *argv, size_t n, struct update_opts *o)
{
    size_t i = 1;
    char *component = NULL;
    if (n && strcmp(argv[0], "plugin") == 0 && n > 1)
        component = nx_xasprintf("plugin:%s", argv[i++]);
    else
        component = nx_xstrdup("core");
    for (; i < n; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < n)
            o->to = argv[++i];
        else if (strcmp(argv[i], "--allow-major") == 0)
            o->allow_major = 1;
    }
    return component;
}

json_t *nx_sched_job_read(const char *path, char **component, const char **to,
                          int *allow_major, char **text, nx_err *e)
{
    json_t *doc = job_load(path, e);
    if (!doc)
        return NULL;
    const json_t *cmd = json_object_get(doc, "command");
    size_t n;
    char **argv = job_argv(cmd, &n);
    struct update_opts o = { 0 };
    if (n && strcmp(argv[0], "all") == 0)
        *component = nx_xstrdup("all");
    else
        *component = job_component(argv, n, &o);
    *to = o.to;
    *allow_major = o.allow_major;
    free(argv);
    char *words = command_text(cmd);
    char *res = result_text(doc);
    *text = nx_xasprintf("%s  %s  %s  %s  %s", jstr(doc, "id"), jstr(doc, "at"),
                         jstr(doc, "status"), words, res);
    free(words);
    free(res);
    return doc;
}

/* Run a job's command in this process, as -y; its output on stdout goes
 * to stderr with --json (the one document is run-due's). */
static int run_command(struct cli *c, const json_t *cmd)
{
    size_t n;
    char **argv = job_argv(cmd, &n);
    int json = c->out.json, yes = c->yes, saved = -1, code;
    if (json) {
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        if (saved >= 0)
            dup2(STDERR_FILENO, STDOUT_FILENO);
        c->out.json = 0;
    }
    c->yes = 1;
    if (n && strcmp(argv[0], "all") == 0) {
        code = cmd_all(c, (int)n, argv);
    } else {
        struct update_opts o = { 0 };
        char *component = job_component(argv, n, &o);
        code = cli_update_component(c, component, &o);
        free(component);
    }
    c->yes = yes;
    c->out.json = json;
    if (saved >= 0) {
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
    }
    free(argv);
    return code;
}

/* Under jobs.lock: re-read the job and set its status (and fields).
 * -1 when it is no longer `expect` or cannot be written (logged). */
static int job_update(const struct cli *c, const char *dir, struct job *j, const char *expect,
                      const char *status, json_t *fields)
{
    nx_err e;
    int rc = -1;
    int fd = take_lock(dir, JOBS_LOCK, 1, &e);
    json_t *doc = fd >= 0 ? job_load(j->path, &e) : NULL;
    if (!doc) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule: %s", e.msg);
    } else if (strcmp(jstr(doc, "status"), expect) != 0) {
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "schedule: job %s is %s now: not run",
               jstr(doc, "id"), jstr(doc, "status"));
    } else {
        json_object_set_new(doc, "status", json_string(status));
        json_object_update(doc, fields);
        if (job_save(j->path, doc, &e) != 0)
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule: %s", e.msg);
        else
            rc = 0;
    }
    if (rc == 0) {
        json_decref(j->doc);
        j->doc = json_incref(doc);
    }
    json_decref(doc);
    json_decref(fields);
    if (fd >= 0)
        close(fd);
    return rc;
}

static void now_utc(char *buf, size_t len)
{
    iso_utc(time(NULL), buf, len);
}

/* Run one due job: claim it (running), run it, record the outcome. The
 * exit code, or -1 when it was not run. */
static int run_job(struct cli *c, const char *dir, struct job *j)
{
    char t[32];
    now_utc(t, sizeof t);
    /* job_update replaces j->doc: nothing of the old one is kept */
    if (job_update(c, dir, j, "pending", "running",
                   json_pack("{s:s, s:i}", "started_at", t, "pid", (int)getpid())) != 0)
        return -1;
    nx_log(&c->out, NEXO_LOG_INFO, NULL, "== job %s: %s (due %s)", jstr(j->doc, "id"),
           jstr(j->doc, "command_line"), jstr(j->doc, "at"));
    int code = run_command(c, json_object_get(j->doc, "command"));
    now_utc(t, sizeof t);
    if (job_update(c, dir, j, "running", code == NX_EXIT_OK ? "done" : "failed",
                   json_pack("{s:s, s:i, s:s}", "finished_at", t, "exit", code, "outcome",
                             outcome_of(code))) != 0)
        code = rank(code) > rank(NX_EXIT_FAILED) ? code : NX_EXIT_FAILED;
    return code;
}

static int sched_run_due(struct cli *c)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    char *dir = sched_dir(cfg);
    nx_err e;
    int run_fd = -1, code = NX_EXIT_OK;
    if (!c->dry_run && (run_fd = take_lock(dir, RUN_LOCK, 0, &e)) < 0) {
        int held = errno == EWOULDBLOCK;
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "schedule run-due: %s%s", e.msg,
               held ? ": another 'schedule run-due' is running" : "");
        free(dir);
        return held ? NX_EXIT_LOCKED : NX_EXIT_FAILED;
    }
    struct jobs js;
    jobs_load(c, dir, &js);
    time_t now = time(NULL);
    json_t *ran = json_array();
    for (size_t i = 0; i < js.n; i++) {
        struct job *j = &js.v[i];
        const char *st = jstr(j->doc, "status");
        if (strcmp(st, "running") == 0 && !c->dry_run) {
            /* run.lock is ours: whoever ran it is gone */
            char t[32];
            now_utc(t, sizeof t);
            nx_log(&c->out, NEXO_LOG_WARN, NULL, "schedule: job %s was interrupted while it "
                   "ran (not run again; 'nexo-update status' shows whether an update waits "
                   "for 'nexo-update recover')", jstr(j->doc, "id"));
            job_update(c, dir, j, "running", "interrupted",
                       json_pack("{s:s, s:s}", "finished_at", t, "outcome", "interrupted"));
            continue;
        }
        if (strcmp(st, "pending") != 0 ||
            json_integer_value(json_object_get(j->doc, "at_epoch")) > (json_int_t)now)
            continue;
        int x = -1;
        if (c->dry_run)
            nx_log(&c->out, NEXO_LOG_INFO, NULL, "would run job %s: %s (due %s)",
                   jstr(j->doc, "id"), jstr(j->doc, "command_line"), jstr(j->doc, "at"));
        else
            x = run_job(c, dir, j);
        if (x < 0 && !c->dry_run)
            continue;
        if (rank(x) > rank(code))
            code = x;
        json_t *o = json_pack("{s:s, s:s, s:s}", "id", jstr(j->doc, "id"), "command",
                              jstr(j->doc, "command_line"), "at", jstr(j->doc, "at"));
        json_object_set_new(o, "exit", x >= 0 ? json_integer(x) : json_null());
        json_object_set_new(o, "outcome", json_string(x >= 0 ? outcome_of(x) : "due"));
        json_array_append_new(ran, o);
        if (!c->out.json && x >= 0)
            printf("job %s (%s, due %s): %s, exit %d\n", jstr(j->doc, "id"),
                   jstr(j->doc, "command_line"), jstr(j->doc, "at"), outcome_of(x), x);
    }
    if (c->out.json)
        cli_print_json(json_pack("{s:o, s:i}", "ran", ran, "exit", code));
    else {
        if (!json_array_size(ran))
            printf("no job is due\n");
        json_decref(ran);
    }
    jobs_free(&js);
    if (run_fd >= 0)
        close(run_fd);
    free(dir);
    return code;
}

int cmd_schedule(struct cli *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2)
        return sched_list(c);
    if (argc >= 2 && strcmp(argv[1], "run-due") == 0 && argc == 2)
        return sched_run_due(c);
    if (argc == 3 && strcmp(argv[1], "cancel") == 0)
        return sched_cancel(c, argv[2]);
    if (argc >= 3 && strcmp(argv[1], "--at") == 0)
        return sched_add(c, argv[2], argc - 3, argv + 3);
    if (argc >= 2 && strncmp(argv[1], "--at=", 5) == 0)
        return sched_add(c, argv[1] + 5, argc - 2, argv + 2);
    fprintf(stderr, "nexo-update: schedule: usage: schedule --at \"%s\" COMMAND | schedule "
            "list | schedule cancel ID | schedule run-due (see nexo-update schedule --help)\n",
            AT_FORMAT);
    return NX_EXIT_USAGE;
}
