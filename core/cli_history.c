/* nexo-update history: every update attempt from update_history. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        time_t t = (time_t)json_integer_value(json_object_get(o, "started_at"));
        struct tm tm;
        char ts[32], vers[64];
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        const char *f = json_string_value(json_object_get(o, "from_version"));
        const char *to = json_string_value(json_object_get(o, "to_version"));
        snprintf(vers, sizeof vers, "%s -> %s", f ? f : "-", to ? to : "-");
        printf("%-19s  %-24s  %-14s  %-20s  %-15s  %lld s\n", ts,
               json_string_value(json_object_get(o, "update_id")),
               json_string_value(json_object_get(o, "component")), vers,
               json_string_value(json_object_get(o, "outcome")),
               (long long)json_integer_value(json_object_get(o, "maintenance_seconds")));
        const char *err = json_string_value(json_object_get(o, "error"));
        if (err && *err)
            printf("    %s\n", err);
    }
}

int cmd_history(struct cli *c, int argc, char **argv)
{
    long limit = 20;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = strtol(argv[++i], &end, 10);
            if (!*argv[i] || *end || limit <= 0 || limit > 1000000) {
                fprintf(stderr, "nexo-update: --limit needs a number from 1 to 1000000\n");
                return NX_EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "Usage: nexo-update history [--limit N]\n");
            return NX_EXIT_USAGE;
        }
    }
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT update_id, component, from_version, to_version, outcome, started_at, "
             "finished_at, maintenance_seconds, error FROM update_history "
             "ORDER BY id DESC LIMIT %ld", limit);
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
