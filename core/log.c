#include "log.h"
#include "backupstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <nexo/nexo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PENDING_MAX (4u << 20) /* bytes of lines kept before the file opens */
#define REDRAW_MS 100          /* a terminal bar is redrawn at most this often */

static const char *level_tag(int level)
{
    switch (level) {
    case NEXO_LOG_ERROR: return "error: ";
    case NEXO_LOG_WARN: return "warning: ";
    case NEXO_LOG_DEBUG: return "debug: ";
    default: return "";
    }
}

void nx_vlog(const nx_out *o, int level, const char *prefix, const char *fmt, va_list ap)
{
    int verb = o ? o->verbosity : 1;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (o && o->sink)
        nx_sink_line(o->sink, level, prefix, msg);
    if (level == NEXO_LOG_DEBUG && verb < 2)
        return;
    if (level != NEXO_LOG_ERROR && verb < 1)
        return;
    const char *tag = level_tag(level);
    if (prefix && *prefix)
        fprintf(stderr, "%s[%s] %s\n", tag, prefix, msg);
    else
        fprintf(stderr, "%s%s\n", tag, msg);
    fflush(stderr);
}

void nx_log(const nx_out *o, int level, const char *prefix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nx_vlog(o, level, prefix, fmt, ap);
    va_end(ap);
}

/* Level -1: a line printed on stdout. */
#define LEVEL_OUTPUT (-1)

void nx_print(const nx_out *o, int info, const char *fmt, ...)
{
    char msg[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    if (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    if (o && o->sink)
        nx_sink_line(o->sink, LEVEL_OUTPUT, NULL, msg);
    if (info && o && o->verbosity < 1)
        return;
    printf("%s\n", msg);
}

/* ---- progress -------------------------------------------------------------- */

static void human(uint64_t n, char *buf, size_t len)
{
    const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double v = (double)n;
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void amount(int items, uint64_t n, char *buf, size_t len)
{
    if (items)
        snprintf(buf, len, "%llu", (unsigned long long)n);
    else
        human(n, buf, len);
}

/* "2.3 MiB/s", "1.5/s" (items), "--/s" while unknown. */
static void rate_text(int items, double per_s, char *buf, size_t len)
{
    if (per_s <= 0) {
        snprintf(buf, len, "--/s");
        return;
    }
    if (items) {
        snprintf(buf, len, "%.1f/s", per_s);
        return;
    }
    char h[32];
    human((uint64_t)per_s, h, sizeof h);
    snprintf(buf, len, "%s/s", h);
}

/* "0:07", "1:02:03", "--:--" while unknown. */
static void eta_text(double secs, char *buf, size_t len)
{
    if (secs < 0) {
        snprintf(buf, len, "--:--");
        return;
    }
    long long s = (long long)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, len, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, len, "%lld:%02lld", s / 60, s % 60);
}

/* A new series: another `what`, or a count that went back. */
static void progress_start(const nx_out *o, nx_progress *p, const char *label, uint64_t done,
                           uint64_t total, long long now)
{
    if (p->active)
        nx_progress_end(o, p);
    snprintf(p->what, sizeof p->what, "%s", label);
    /* a first report that is already complete measures from the start of
     * the step's call */
    p->start_ms = total && done >= total && p->call_ms ? p->call_ms : now;
    p->last_pct = -1;
    p->file_pct = 0;
    p->last_ms = 0;
    p->ended = 0;
}

static void draw_bar(const nx_out *o, nx_progress *p, const char *prefix, const char *label,
                     int items, uint64_t done, uint64_t total, double per_s, long long now)
{
    char d[32], t[32], rate[48], eta[32];
    amount(items, done, d, sizeof d);
    amount(items, total, t, sizeof t);
    rate_text(items, per_s, rate, sizeof rate);
    int complete = total && done >= total;
    if (!complete && p->active && now - p->last_ms < REDRAW_MS)
        return;
    p->last_ms = now;
    if (total) {
        int pct = done >= total ? 100 : (int)(done * 100 / total);
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        eta_text(complete ? 0 : per_s > 0 ? (double)(total - done) / per_s : -1, eta,
                 sizeof eta);
        fprintf(stderr, "\r[%s] %s [%s] %3d%% %s / %s  %s  ETA %s\033[K", prefix, label, bar,
                pct, d, t, rate, eta);
    } else {
        fprintf(stderr, "\r[%s] %s %s  %s\033[K", prefix, label, d, rate);
    }
    p->active = 1;
    if (complete)
        nx_progress_end(o, p);
    fflush(stderr);
}

/* Plain lines: at most every 10 percent (or every 1000 units without a
 * total), and the end with the time it took and the rate. */
static int plain_line(nx_progress *p, int *slot, const char *label, int items, uint64_t done,
                      uint64_t total, double per_s, long long now, char *out, size_t len)
{
    int pct = total ? (int)(done >= total ? 100 : done * 100 / total) : -1;
    int complete = total && done >= total;
    int step = complete ? 1000 : pct < 0 ? (int)(done / 1000) : pct / 10;
    if (step + 1 == *slot)
        return 0;
    *slot = step + 1;
    char d[32], t[32], rate[48];
    amount(items, done, d, sizeof d);
    amount(items, total, t, sizeof t);
    rate_text(items, per_s, rate, sizeof rate);
    if (complete)
        snprintf(out, len, "%s %d%% (%s of %s) in %.1f s, %s", label, pct, d, t,
                 (double)(now - p->start_ms) / 1000.0, rate);
    else if (pct >= 0)
        snprintf(out, len, "%s %d%% (%s of %s, %s)", label, pct, d, t, rate);
    else
        snprintf(out, len, "%s %s (%s)", label, d, rate);
    return 1;
}

void nx_progress_draw(const nx_out *o, nx_progress *p, const char *prefix, const char *what,
                      uint64_t done, uint64_t total)
{
    if (!o)
        return;
    int items = what && what[0] == '#';
    const char *label = what ? what + items : "";
    long long now = nx_mono_ms();
    if (!p->start_ms || strncmp(p->what, label, sizeof p->what - 1) != 0 ||
        done < p->last_done)
        progress_start(o, p, label, done, total, now);
    p->last_done = done;
    long long ms = now - p->start_ms;
    double per_s = ms > 0 && done ? (double)done * 1000.0 / (double)ms : 0;
    char line[512];
    if (o->sink) {
        int slot = p->file_pct;
        if (plain_line(p, &slot, label, items, done, total, per_s, now, line, sizeof line))
            nx_sink_line(o->sink, NEXO_LOG_INFO, prefix, line);
        p->file_pct = slot;
    }
    if (o->verbosity < 1)
        return;
    if (o->tty) {
        /* a total reported again draws no second bar */
        if (!p->ended)
            draw_bar(o, p, prefix, label, items, done, total, per_s, now);
        p->ended = total && done >= total;
        return;
    }
    int slot = p->last_pct;
    if (plain_line(p, &slot, label, items, done, total, per_s, now, line, sizeof line)) {
        fprintf(stderr, "[%s] %s\n", prefix, line);
        fflush(stderr);
    }
    p->last_pct = slot;
}

void nx_progress_end(const nx_out *o, nx_progress *p)
{
    if (p->active && o && o->tty) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->active = 0;
}

/* ---- the update's log -------------------------------------------------------- */

void nx_sink_init(nx_logsink *s)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

static const char *level_word(int level)
{
    switch (level) {
    case NEXO_LOG_ERROR: return "error";
    case NEXO_LOG_WARN: return "warning";
    case NEXO_LOG_DEBUG: return "debug";
    case LEVEL_OUTPUT: return "output";
    default: return "info";
    }
}

static int syslog_prio(int level)
{
    switch (level) {
    case NEXO_LOG_ERROR: return LOG_ERR;
    case NEXO_LOG_WARN: return LOG_WARNING;
    case NEXO_LOG_DEBUG: return LOG_DEBUG;
    default: return LOG_INFO;
    }
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static void append_pending(nx_logsink *s, const char *line, size_t len)
{
    if (s->npending + len > PENDING_MAX)
        return;
    s->pending = nx_xrealloc(s->pending, s->npending + len + 1);
    memcpy(s->pending + s->npending, line, len);
    s->npending += len;
    s->pending[s->npending] = '\0';
}

/* One file line per line of msg (control characters but tab as '?'). */
static void file_line(nx_logsink *s, const char *ts, int level, const char *step,
                      const char *msg)
{
    const char *p = msg;
    do {
        size_t n = strcspn(p, "\n");
        char *text = nx_xstrndup(p, n);
        for (char *q = text; *q; q++)
            if ((unsigned char)*q < 0x20 && *q != '\t')
                *q = '?';
        char *line = nx_xasprintf("%s %s [%s] %s\n", ts, level_word(level),
                                  step && *step ? step : "-", text);
        if (s->fd >= 0)
            (void)write_all(s->fd, line, strlen(line));
        else
            append_pending(s, line, strlen(line));
        free(line);
        free(text);
        p += n;
        if (*p == '\n')
            p++;
    } while (*p);
}

static void syslog_line(const nx_logsink *s, int level, const char *step, const char *msg)
{
    if (!s->syslog || level == NEXO_LOG_DEBUG)
        return;
    if (step && *step)
        syslog(LOG_USER | syslog_prio(level), "update %s: [%s] %s", s->update_id, step, msg);
    else
        syslog(LOG_USER | syslog_prio(level), "update %s: %s", s->update_id, msg);
}

void nx_sink_line(nx_logsink *s, int level, const char *step, const char *msg)
{
    if (!s)
        return;
    if (level == NEXO_LOG_ERROR) {
        free(s->last_error);
        s->last_error = step && *step ? nx_xasprintf("[%s] %s", step, msg ? msg : "")
                                      : nx_xstrdup(msg ? msg : "");
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[64], t[32];
    strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp, sizeof stamp, "%s.%03ldZ", t, ts.tv_nsec / 1000000);
    file_line(s, stamp, level, step, msg ? msg : "");
    syslog_line(s, level, step, msg ? msg : "");
}

char *nx_log_path(const char *state_dir, const char *update_id)
{
    return nx_xasprintf("%s/logs/%s.log", state_dir, update_id);
}

int nx_is_update_id(const char *s)
{
    /* YYYYMMDD-HHMMSS-xxxxxxxx */
    static const char shape[] = "dddddddd-dddddd-xxxxxxxx";
    if (!s || strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        char c = s[i];
        if (shape[i] == '-' ? c != '-'
            : shape[i] == 'd' ? !(c >= '0' && c <= '9')
                              : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

/* Write the pending lines into the file and to syslog. */
static void flush_pending(nx_logsink *s)
{
    if (!s->pending)
        return;
    if (s->fd >= 0)
        (void)write_all(s->fd, s->pending, s->npending);
    if (s->syslog) {
        /* each pending line is "TIME LEVEL [STEP] MESSAGE" */
        char *save = NULL;
        for (char *l = strtok_r(s->pending, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
            char *lv = strchr(l, ' ');
            char *st = lv ? strchr(lv + 1, ' ') : NULL;
            if (!st)
                continue;
            int level = strncmp(lv + 1, "error ", 6) == 0     ? NEXO_LOG_ERROR
                        : strncmp(lv + 1, "warning ", 8) == 0 ? NEXO_LOG_WARN
                        : strncmp(lv + 1, "debug ", 6) == 0   ? NEXO_LOG_DEBUG
                                                              : NEXO_LOG_INFO;
            char *msg = strstr(st + 1, "] ");
            if (!msg)
                continue;
            *msg = '\0';
            const char *step = st[1] == '[' ? st + 2 : "-";
            syslog_line(s, level, strcmp(step, "-") == 0 ? NULL : step, msg + 2);
        }
    }
    free(s->pending);
    s->pending = NULL;
    s->npending = 0;
}

int nx_sink_open(nx_logsink *s, const char *state_dir, const char *update_id, nx_err *e)
{
    nx_sink_close(s);
    free(s->update_id);
    s->update_id = nx_xstrdup(update_id);
    openlog("nexo-update", LOG_PID, LOG_USER);
    s->syslog = 1;
    char *dir = nx_xasprintf("%s/logs", state_dir);
    int rc = nx_mkdirs(dir, 0700, e);
    free(dir);
    free(s->path);
    s->path = nx_log_path(state_dir, update_id);
    if (rc == 0) {
        s->fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (s->fd < 0) {
            nx_seterr(e, "%s: cannot open the update's log: %s", s->path, strerror(errno));
            rc = -1;
        } else if (fchmod(s->fd, 0600) != 0) {
            nx_seterr(e, "%s: chmod 0600: %s", s->path, strerror(errno));
            rc = -1;
        }
    }
    flush_pending(s);
    return rc;
}

void nx_sink_close(nx_logsink *s)
{
    if (s->fd >= 0) {
        fsync(s->fd);
        close(s->fd);
    }
    s->fd = -1;
    if (s->syslog)
        closelog();
    s->syslog = 0;
}

void nx_sink_free(nx_logsink *s)
{
    nx_sink_close(s);
    free(s->path);
    free(s->update_id);
    free(s->pending);
    free(s->last_error);
    json_decref(s->report);
    nx_sink_init(s);
}

/* ---- retention ------------------------------------------------------------ */

static int has_backup(const nx_backup_list *l, const char *id)
{
    size_t n = strlen(id);
    for (size_t i = 0; i < l->n; i++) {
        const nx_backup *b = &l->v[i];
        if (b->update_id && strcmp(b->update_id, id) == 0)
            return 1;
        if (strncmp(b->name, "backup_", 7) == 0 && strncmp(b->name + 7, id, n) == 0 &&
            b->name[7 + n] == '_')
            return 1;
    }
    return 0;
}

int nx_logs_prune(const nx_out *o, const char *state_dir, const char *backups_dir,
                  long keep_days)
{
    char *dir = nx_xasprintf("%s/logs", state_dir);
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            nx_log(o, NEXO_LOG_WARN, NULL, "logs not pruned: %s: %s", dir, strerror(errno));
        free(dir);
        return 0;
    }
    nx_backup_list l = { 0 };
    nx_err e;
    if (nx_backups_list(backups_dir, &l, &e) != 0) {
        nx_log(o, NEXO_LOG_WARN, NULL, "logs not pruned: %s", e.msg);
        closedir(d);
        free(dir);
        return 0;
    }
    time_t limit = time(NULL) - (time_t)keep_days * 86400;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".log") != 0)
            continue;
        char *id = nx_xstrndup(de->d_name, n - 4);
        struct stat st;
        char *path = nx_path_join(dir, de->d_name);
        if (nx_is_update_id(id) && !has_backup(&l, id) && lstat(path, &st) == 0 &&
            S_ISREG(st.st_mode) && st.st_mtime < limit) {
            if (unlink(path) == 0) {
                removed++;
                nx_log(o, NEXO_LOG_DEBUG, NULL, "removed the log %s (no backup of update %s "
                       "left, older than %ld days)", path, id, keep_days);
            } else {
                nx_log(o, NEXO_LOG_WARN, NULL, "cannot remove the old log %s: %s", path,
                       strerror(errno));
            }
        }
        free(path);
        free(id);
    }
    closedir(d);
    nx_backups_free(&l);
    free(dir);
    return removed;
}

/* ---- commands that update: --json -------------------------------------------- */

json_t *nx_report_frame(const char *outcome, int code, const char *component,
                        const char *from, const char *to, const char *error)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "outcome", json_string(outcome));
    json_object_set_new(doc, "exit", json_integer(code));
    json_object_set_new(doc, "update_id", json_null());
    json_object_set_new(doc, "component", component ? json_string(component) : json_null());
    json_object_set_new(doc, "from_version", from ? json_string(from) : json_null());
    json_object_set_new(doc, "to_version", to ? json_string(to) : json_null());
    json_object_set_new(doc, "pipeline", json_null());
    json_object_set_new(doc, "pipeline_file", json_null());
    json_object_set_new(doc, "dry_run", json_false());
    json_object_set_new(doc, "started_at", json_null());
    json_object_set_new(doc, "duration_ms", json_integer(0));
    json_object_set_new(doc, "maintenance_seconds", json_real(0));
    json_object_set_new(doc, "maintenance_ms", json_integer(0));
    json_object_set_new(doc, "error", error && *error ? json_string(error) : json_null());
    json_object_set_new(doc, "log_file", json_null());
    json_object_set_new(doc, "steps", json_array());
    return doc;
}

void nx_capture_begin(nx_capture *k, nx_out *out)
{
    nx_sink_init(&k->sink);
    k->out = out;
    k->outer = out->sink;
    out->sink = &k->sink;
    k->saved_stdout = -1;
    if (out->json) {
        fflush(stdout);
        k->saved_stdout = dup(STDOUT_FILENO);
        if (k->saved_stdout >= 0)
            dup2(STDERR_FILENO, STDOUT_FILENO);
    }
}

json_t *nx_capture_end(nx_capture *k, int code, const char *component, const char *from,
                       const char *to)
{
    if (k->saved_stdout >= 0) {
        fflush(stdout);
        dup2(k->saved_stdout, STDOUT_FILENO);
        close(k->saved_stdout);
        k->saved_stdout = -1;
    }
    k->out->sink = k->outer;
    json_t *doc = k->sink.report;
    k->sink.report = NULL;
    if (doc)
        json_object_set_new(doc, "exit", json_integer(code));
    else
        doc = nx_report_frame(code == 0 ? "nothing_to_do" : "refused", code, component, from,
                              to, code == 0 ? NULL : k->sink.last_error);
    nx_sink_free(&k->sink);
    return doc;
}

/* ---- steps of an update, from its journal ------------------------------------ */

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* Per step, from the journal's records: how its run and undo went. */
struct stepview {
    long long start_t, undo_t;
    const char *outcome;   /* done failed undone skipped */
    long long ms, undo_ms; /* -1: none */
    const char *undo;      /* NULL, "done", "failed" */
    const char *error, *undo_error, *commit_error;
};

static void apply_record(struct stepview *v, const char *ev, const json_t *rec)
{
    long long t = json_integer_value(json_object_get(rec, "t"));
    const char *err = json_string_value(json_object_get(rec, "error"));
    if (strcmp(ev, "step-start") == 0) {
        v->start_t = t;
        v->outcome = "running";
    } else if (strcmp(ev, "step-done") == 0) {
        v->outcome = "done";
        v->ms = json_integer_value(json_object_get(rec, "ms"));
    } else if (strcmp(ev, "step-failed") == 0) {
        /* cut by a signal to nexo-update (engine.c's interrupted_msg) */
        v->outcome = err && strncmp(err, "interrupted by signal", 21) == 0 ? "interrupted"
                                                                            : "failed";
        v->ms = t - v->start_t;
        v->error = err;
    } else if (strcmp(ev, "undo-start") == 0) {
        v->undo_t = t;
        v->undo = "started";
    } else if (strcmp(ev, "undo-done") == 0) {
        v->undo = "done";
        v->undo_ms = t - v->undo_t;
        if (strcmp(v->outcome, "done") == 0)
            v->outcome = "undone";
    } else if (strcmp(ev, "undo-failed") == 0) {
        v->undo = "failed";
        v->undo_ms = t - v->undo_t;
        v->undo_error = err;
    } else if (strcmp(ev, "commit-failed") == 0) {
        v->commit_error = err;
    }
}

/* The step instances of the update: the begin record's pipeline, with
 * the steps "insert" records added where insert.c puts them (the highest
 * position first; of one position, the fragment's later step first). */
static json_t *journal_steps(const json_t *records)
{
    json_t *begin = json_array_get(records, 0);
    json_t *steps = json_deep_copy(json_object_get(json_object_get(begin, "pipeline"),
                                                   "steps"));
    if (!json_is_array(steps)) {
        json_decref(steps);
        steps = json_array();
    }
    size_t k;
    json_t *rec;
    json_array_foreach(records, k, rec) {
        const char *ev = json_string_value(json_object_get(rec, "ev"));
        if (!ev || strcmp(ev, "insert") != 0)
            continue;
        json_t *at = json_object_get(rec, "at");
        json_t *frag = json_object_get(json_object_get(rec, "pipeline"), "steps");
        size_t n = json_array_size(frag);
        unsigned char *used = nx_xcalloc(n ? n : 1, 1);
        for (size_t done = 0; done < n; done++) {
            size_t best = n;
            for (size_t i = 0; i < n; i++) {
                json_int_t pi = json_integer_value(json_array_get(at, i));
                if (!used[i] && (best == n || pi >= json_integer_value(json_array_get(at, best))))
                    best = i;
            }
            used[best] = 1;
            size_t pos = (size_t)json_integer_value(json_array_get(at, best));
            if (pos > json_array_size(steps))
                pos = json_array_size(steps);
            json_array_insert(steps, pos, json_array_get(frag, best));
        }
        free(used);
    }
    return steps;
}

json_t *nx_report_steps(const json_t *records)
{
    json_t *desc = journal_steps(records);
    size_t n = json_array_size(desc);
    struct stepview *v = nx_xcalloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].outcome = "skipped";
        v[i].ms = v[i].undo_ms = -1;
    }
    size_t k;
    json_t *rec;
    json_array_foreach(records, k, rec) {
        const char *ev = json_string_value(json_object_get(rec, "ev"));
        json_t *st = json_object_get(rec, "step");
        if (!ev || !json_is_integer(st) || json_integer_value(st) < 0 ||
            (size_t)json_integer_value(st) >= n)
            continue;
        apply_record(&v[json_integer_value(st)], ev, rec);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        /* started, never finished: the process was killed during it */
        const char *outcome = strcmp(v[i].outcome, "running") == 0 ? "interrupted"
                                                                   : v[i].outcome;
        json_t *d = json_array_get(desc, i);
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *module = json_string_value(json_object_get(d, "module"));
        json_t *o = json_pack("{s:s, s:s, s:s}", "name", name ? name : "?", "module",
                              module ? module : "?", "outcome", outcome);
        json_object_set_new(o, "ms", v[i].ms >= 0 ? json_integer(v[i].ms) : json_null());
        json_object_set_new(o, "undo", jstr(v[i].undo));
        json_object_set_new(o, "undo_ms", v[i].undo_ms >= 0 ? json_integer(v[i].undo_ms)
                                                            : json_null());
        json_object_set_new(o, "error", jstr(v[i].error));
        if (v[i].undo_error)
            json_object_set_new(o, "undo_error", json_string(v[i].undo_error));
        if (v[i].commit_error)
            json_object_set_new(o, "commit_error", json_string(v[i].commit_error));
        json_array_append_new(arr, o);
    }
    free(v);
    json_decref(desc);
    return arr;
}

