/* Output of the host: log lines on stderr (stdout is for results and
 * --json), progress bars on a terminal, plain lines otherwise; and the
 * log of an update: STATE/logs/<update id>.log and syslog (see
 * docs/operations.md, "Logs"). */
#ifndef NX_LOG_H
#define NX_LOG_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include "util.h"

/* Where the lines of one update go besides the terminal. Lines written
 * before the update has an id (the offer, the confirmation, the checks of
 * a command) are kept and written first once the file is opened. */
typedef struct nx_logsink {
    int fd;              /* STATE/logs/<id>.log, -1 while not open */
    char *path;          /* of that file (kept after closing) */
    char *update_id;     /* named in every syslog message */
    int syslog;          /* openlog() was called */
    char *pending;       /* lines before the file was opened */
    size_t npending;
    json_t *report;      /* the result of the last update run (update.c) */
    char *last_error;    /* the last error line, for a report without a run */
} nx_logsink;

typedef struct nx_out {
    int verbosity;   /* 0: -q, errors only; 1: normal; 2: -v, debug */
    int json;        /* --json: results on stdout as one JSON document */
    int tty;         /* stderr is a terminal */
    nx_logsink *sink; /* the update's log, or NULL */
} nx_out;

typedef struct nx_progress {
    long long last_ms;
    int last_pct;
    int active;       /* a bar is drawn and needs its line ended */
    long long start_ms; /* monotonic: first report of this series */
    long long call_ms;  /* monotonic: the step function began (engine) */
    uint64_t last_done;
    int ended;        /* the series reached its total (drawn once) */
    int file_pct;     /* last 10 % step written to the log file (+1) */
    char what[64];    /* what the current bar shows */
} nx_progress;

void nx_log(const nx_out *o, int level, const char *prefix, const char *fmt, ...)
    NX_PRINTF(4, 5);
void nx_vlog(const nx_out *o, int level, const char *prefix, const char *fmt, va_list ap);
/* A result line on stdout (not shown with -q when `info` is set: the
 * offer, a plan), also written to the update's log. */
void nx_print(const nx_out *o, int info, const char *fmt, ...) NX_PRINTF(3, 4);
void nx_progress_draw(const nx_out *o, nx_progress *p, const char *prefix, const char *what,
                      uint64_t done, uint64_t total);
void nx_progress_end(const nx_out *o, nx_progress *p);

/* ---- the update's log ---------------------------------------------------- */

void nx_sink_init(nx_logsink *s);
/* Open STATE/logs/<id>.log for appending (folder 0700, file 0600) and
 * syslog (ident "nexo-update", LOG_USER); write the pending lines. 0, or
 * -1 with e (the lines still go to the terminal and syslog). */
int nx_sink_open(nx_logsink *s, const char *state_dir, const char *update_id, nx_err *e);
/* Close the file and syslog (the report stays). */
void nx_sink_close(nx_logsink *s);
void nx_sink_free(nx_logsink *s);
/* One line: "<UTC time> <level> [<step>] <message>" in the file (step
 * "-" for the host's own lines), "update <id>: [<step>] <message>" to
 * syslog (not debug lines). */
void nx_sink_line(nx_logsink *s, int level, const char *step, const char *msg);

/* STATE/logs/<id>.log (malloc'ed). */
char *nx_log_path(const char *state_dir, const char *update_id);
/* Is s an update id (YYYYMMDD-HHMMSS-xxxxxxxx)? */
int nx_is_update_id(const char *s);
/* Retention of the logs: remove STATE/logs/<id>.log when no backup of
 * update <id> is left in backups_dir and the log was last written more
 * than keep_days days before now. Returns how many were removed; errors
 * are logged as warnings. */
int nx_logs_prune(const nx_out *o, const char *state_dir, const char *backups_dir,
                  long keep_days);

/* ---- commands that update: --json ------------------------------------------- */

/* The frame of a run's report (docs/operations.md, "JSON output"):
 * outcome, exit, update_id null, component, from/to, no steps, error. */
json_t *nx_report_frame(const char *outcome, int code, const char *component,
                        const char *from, const char *to, const char *error);

/* The steps of an update as its journal's records tell them (those of a
 * recover included): [{name, module, outcome (done, failed, interrupted:
 * cut by a signal or by the process being killed, undone, skipped), ms,
 * undo (null, done, failed, started), undo_ms, error, undo_error?,
 * commit_error?}]. */
json_t *nx_report_steps(const json_t *records);

/* A command that updates collects its lines in a sink of its own (they
 * become the update's log once the update id exists) and, with --json,
 * sends stdout to stderr until it prints its one document. */
typedef struct nx_capture {
    nx_logsink sink;
    nx_out *out;
    nx_logsink *outer;   /* the caller's sink, put back at the end */
    int saved_stdout;    /* -1: not diverted */
} nx_capture;

void nx_capture_begin(nx_capture *k, nx_out *out);
/* Put out back; return the report of the update that ran (exit set to
 * code), or a frame: outcome nothing_to_do (code 0) or refused, with the
 * last error line. A new reference. */
json_t *nx_capture_end(nx_capture *k, int code, const char *component, const char *from,
                       const char *to);

#endif
