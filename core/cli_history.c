/* nexo-update history: every update attempt from update_history; one
 * attempt (--id) with its steps from the journal; its log (--log). */
#include "cli.h"
#include "journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MAX (256u << 20) /* bytes of a log read for --log */

static const char *const COLS[] = { "update_id", "component", "from_version", "to_version",
                                    "outcome", "started_at", "finished_at",
                                    "maintenance_seconds", "error" };
#define NCOLS (sizeof COLS / sizeof COLS[0])

static int add_row(void *arg, int ncols, const char *const *names, const char *const *values)
{
    (void)names;
    json_t *rows = arg;
    json_t *o = json_object();
    for (int i = 0; i < ncols && (size_t)i < NCOLS; i++) {
        const char *v = values[i];
        if (!v)
            json_object_set_new(o, COLS[i], json_null());
        else if (i >= 5 && i <= 7)
            json_object_set_new(o, COLS[i], json_integer(atoll(v)));
        else
            json_object_set_new(o, COLS[i], json_string(v));
    }
    json_array_append_new(rows, o);
    return 0;
}

static void utc(json_int_t epoch, char *buf, size_t len)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void print_rows(const json_t *rows)
{
    size_t i;
    json_t *o;
    if (json_array_size(rows) == 0) {
        printf("no update attempts recorded\n");
        return;
    }
    printf("%-19s  %-24s  %-14s  %-20s  %-15s  %s\n", "time (UTC)", "update", "component",
           "from -> to", "outcome", "maintenance");
    json_array_foreach(rows, i, o) {
        char ts[32], vers[64];
        utc(json_integer_value(json_object_get(o, "started_at")), ts, sizeof ts);
        snprintf(vers, sizeof vers, "%s -> %s", str(o, "from_version"), str(o, "to_version"));
        printf("%-19s  %-24s  %-14s  %-20s  %-15s  %lld s\n", ts, str(o, "update_id"),
               str(o, "component"), vers, str(o, "outcome"),
               (long long)json_integer_value(json_object_get(o, "maintenance_seconds")));
        const char *err = json_string_value(json_object_get(o, "error"));
        if (err && *err)
            printf("    %s\n", err);
    }
}

struct args {
    long limit;
    const char *id;
    int log;
};

static int parse_args(int argc, char **argv, struct args *a)
{
    a->limit = 20;
    a->id = NULL;
    a->log = 0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            a->limit = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || a->limit <= 0 || a->limit > 1000000) {
                fprintf(stderr, "nexo-update: --limit needs a number from 1 to 1000000\n");
                return NX_EXIT_USAGE;
            }
        } else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) {
            a->id = argv[++i];
        } else if (strncmp(argv[i], "--id=", 5) == 0) {
            a->id = argv[i] + 5;
        } else if (strcmp(argv[i], "--log") == 0) {
            a->log = 1;
        } else {
            fprintf(stderr, "Usage: nexo-update history [--limit N] | --id ID [--log]\n");
            return NX_EXIT_USAGE;
        }
    }
    if (a->log && !a->id) {
        fprintf(stderr, "nexo-update: history --log needs --id ID\n");
        return NX_EXIT_USAGE;
    }
    if (a->id && !nx_is_update_id(a->id)) {
        fprintf(stderr, "nexo-update: history --id: '%s' is not an update id "
                        "(YYYYMMDD-HHMMSS-xxxxxxxx)\n", a->id);
        return NX_EXIT_USAGE;
    }
    return 0;
}

/* ---- --id ID --log ------------------------------------------------------------ */

/* "TIME LEVEL [STEP] MESSAGE" as {time, level, step, message}. */
static json_t *log_line_json(const char *line, size_t len)
{
    char *l = nx_xstrndup(line, len);
    char *sp1 = strchr(l, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    char *close = sp2 && sp2[1] == '[' ? strstr(sp2 + 2, "] ") : NULL;
    json_t *o;
    if (!close) {
        o = json_pack("{s:n, s:n, s:n, s:s}", "time", "level", "step", "message", l);
    } else {
        *sp1 = *sp2 = *close = '\0';
        const char *step = sp2 + 2;
        o = json_pack("{s:s, s:s, s:o, s:s}", "time", l, "level", sp1 + 1, "step",
                      strcmp(step, "-") == 0 ? json_null() : json_string(step), "message",
                      close + 2);
    }
    free(l);
    return o ? o : json_pack("{s:n, s:n, s:n, s:s}", "time", "level", "step", "message",
                             "(not UTF-8)");
}

static int show_log(struct cli *c, const nx_config *cfg, const char *id)
{
    char *path = nx_log_path(nx_config_get(cfg, "paths", "state"), id);
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "no log of update %s: %s does not exist (a log "
               "is removed with its update's backups, after [backup] keep_days)", id, path);
        free(path);
        return NX_EXIT_FAILED;
    }
    if (nx_read_file(path, &text, &len, LOG_MAX, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        free(path);
        return NX_EXIT_FAILED;
    }
    if (c->out.json) {
        json_t *lines = json_array();
        for (const char *p = text; *p;) {
            size_t n = strcspn(p, "\n");
            json_array_append_new(lines, log_line_json(p, n));
            p += n + (p[n] == '\n');
        }
        cli_print_json(json_pack("{s:s, s:s, s:o}", "update_id", id, "log_file", path,
                                 "lines", lines));
    } else {
        fwrite(text, 1, len, stdout);
    }
    free(text);
    free(path);
    return NX_EXIT_OK;
}

/* ---- --id ID ------------------------------------------------------------------ */

/* The journal of update id: STATE/journal/<id>.jnl, or current.jnl when
 * it is that update's (interrupted, or exit 4). NULL when none. */
static char *journal_of(const char *state, const char *id, json_t **records)
{
    char *dir = nx_journal_dir(state);
    char *paths[2] = { nx_xasprintf("%s/%s.jnl", dir, id), nx_journal_current(state) };
    char *found = NULL;
    free(dir);
    for (int i = 0; i < 2 && !found; i++) {
        json_t *recs = NULL;
        int torn = 0;
        nx_err e;
        if (access(paths[i], F_OK) != 0 || nx_journal_read(paths[i], &recs, &torn, &e) != 0)
            continue;
        const char *bid = json_string_value(json_object_get(json_array_get(recs, 0), "id"));
        if (bid && strcmp(bid, id) == 0) {
            found = nx_xstrdup(paths[i]);
            *records = recs;
        } else {
            json_decref(recs);
        }
    }
    free(paths[0]);
    free(paths[1]);
    return found;
}

static json_t *attempt_row(struct cli *c, const nx_config *cfg, const char *id)
{
    if (!nx_config_get(cfg, "database", "driver"))
        return json_null();
    char sql[512];
    /* id has the shape of an update id (checked): nothing to quote */
    snprintf(sql, sizeof sql,
             "SELECT update_id, component, from_version, to_version, outcome, started_at, "
             "finished_at, maintenance_seconds, error FROM update_history "
             "WHERE update_id = '%s' ORDER BY id DESC", id);
    json_t *rows = json_array();
    nx_err e;
    nx_out quiet = c->out;
    quiet.verbosity = 0;
    if (nx_db_query_standalone(&quiet, cfg, sql, add_row, rows, &e) != 0)
        nx_log(&c->out, NEXO_LOG_WARN, NULL, "history: %s", e.msg);
    json_t *row = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return row ? row : json_null();
}

static void print_attempt(const json_t *doc)
{
    const json_t *row = json_object_get(doc, "attempt");
    const json_t *info = json_object_get(doc, "info");
    printf("update %s\n", str(doc, "update_id"));
    const json_t *src = json_is_object(row) ? row : info;
    printf("  component:    %s\n", str(src, "component"));
    printf("  from -> to:   %s -> %s\n", str(src, "from_version"), str(src, "to_version"));
    if (json_is_object(row)) {
        char a[32], b[32];
        utc(json_integer_value(json_object_get(row, "started_at")), a, sizeof a);
        utc(json_integer_value(json_object_get(row, "finished_at")), b, sizeof b);
        printf("  outcome:      %s\n", str(row, "outcome"));
        printf("  started:      %s UTC\n", a);
        printf("  finished:     %s UTC\n", b);
        printf("  maintenance:  %lld s\n",
               (long long)json_integer_value(json_object_get(row, "maintenance_seconds")));
        const char *err = json_string_value(json_object_get(row, "error"));
        if (err && *err)
            printf("  error:        %s\n", err);
    } else {
        printf("  outcome:      %s (no update_history row)\n", str(doc, "journal_outcome"));
    }
    printf("  pipeline:     %s\n", str(info, "pipeline"));
    printf("  log:          %s\n", json_is_string(json_object_get(doc, "log_file"))
                                       ? str(doc, "log_file") : "none");
    printf("  journal:      %s\n", json_is_string(json_object_get(doc, "journal"))
                                       ? str(doc, "journal") : "none");
    size_t i;
    json_t *s;
    if (json_array_size(json_object_get(doc, "steps")))
        printf("  steps:\n");
    json_array_foreach(json_object_get(doc, "steps"), i, s) {
        char ms[32] = "", undo[64] = "";
        if (json_is_integer(json_object_get(s, "ms")))
            snprintf(ms, sizeof ms, "%lld ms",
                     (long long)json_integer_value(json_object_get(s, "ms")));
        if (json_is_string(json_object_get(s, "undo")))
            snprintf(undo, sizeof undo, "undo %s", str(s, "undo"));
        printf("    %-20s %-11s %10s  %s\n", str(s, "name"), str(s, "outcome"), ms, undo);
        const char *err = json_string_value(json_object_get(s, "error"));
        if (err)
            printf("      %s\n", err);
    }
}

/* The outcome the journal's end record says (or "running"/"interrupted"). */
static const char *journal_outcome(const json_t *records, int current)
{
    const json_t *last = json_array_get(records, json_array_size(records) - 1);
    const char *ev = json_string_value(json_object_get(last, "ev"));
    if (ev && strcmp(ev, "end") == 0) {
        const char *o = json_string_value(json_object_get(last, "outcome"));
        return o ? o : "ended";
    }
    return current ? "interrupted" : "unknown";
}

static int show_attempt(struct cli *c, const nx_config *cfg, const char *id)
{
    const char *state = nx_config_get(cfg, "paths", "state");
    json_t *records = NULL;
    char *jpath = journal_of(state, id, &records);
    char *lpath = nx_log_path(state, id);
    int has_log = access(lpath, F_OK) == 0;
    json_t *row = attempt_row(c, cfg, id);
    if (!jpath && !has_log && json_is_null(row)) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "no update %s: not in update_history, no "
               "journal in %s/journal, no log %s", id, state, lpath);
        json_decref(row);
        free(lpath);
        return NX_EXIT_FAILED;
    }
    json_t *info = json_object_get(json_array_get(records, 0), "info");
    char *cur = nx_journal_current(state);
    int is_current = jpath && strcmp(jpath, cur) == 0;
    free(cur);
    json_t *doc = json_pack("{s:s, s:o, s:O?, s:s?, s:s?, s:o, s:s?}", "update_id", id,
                            "attempt", row, "info", info, "log_file", has_log ? lpath : NULL,
                            "journal", jpath, "steps",
                            records ? nx_report_steps(records) : json_array(),
                            "journal_outcome",
                            records ? journal_outcome(records, is_current) : NULL);
    if (!json_object_get(doc, "info"))
        json_object_set_new(doc, "info", json_null());
    if (!json_object_get(doc, "journal_outcome"))
        json_object_set_new(doc, "journal_outcome", json_null());
    if (c->out.json) {
        cli_print_json(doc);
    } else {
        print_attempt(doc);
        json_decref(doc);
    }
    json_decref(records);
    free(jpath);
    free(lpath);
    return NX_EXIT_OK;
}

int cmd_history(struct cli *c, int argc, char **argv)
{
    struct args a;
    int code = parse_args(argc, argv, &a);
    if (code)
        return code;
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    if (a.log)
        return show_log(c, cfg, a.id);
    if (a.id)
        return show_attempt(c, cfg, a.id);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT update_id, component, from_version, to_version, outcome, started_at, "
             "finished_at, maintenance_seconds, error FROM update_history "
             "ORDER BY id DESC LIMIT %ld", a.limit);
    json_t *rows = json_array();
    nx_err e;
    if (nx_db_query_standalone(&c->out, cfg, sql, add_row, rows, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "history: %s", e.msg);
        json_decref(rows);
        return NX_EXIT_FAILED;
    }
    if (c->out.json) {
        cli_print_json(json_pack("{s:o}", "attempts", rows));
    } else {
        print_rows(rows);
        json_decref(rows);
    }
    return NX_EXIT_OK;
}
