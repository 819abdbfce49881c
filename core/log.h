/* Output of the host: log lines on stderr (stdout is for results and
 * --json), progress bars on a terminal, plain lines otherwise. */
#ifndef NX_LOG_H
#define NX_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include "util.h"

typedef struct nx_out {
    int verbosity;   /* 0: -q, errors only; 1: normal; 2: -v, debug */
    int json;        /* --json: results on stdout as one JSON document */
    int tty;         /* stderr is a terminal */
} nx_out;

typedef struct nx_progress {
    long long last_ms;
    int last_pct;
    int active;       /* a bar is drawn and needs its line ended */
} nx_progress;

void nx_log(const nx_out *o, int level, const char *prefix, const char *fmt, ...)
    NX_PRINTF(4, 5);
void nx_vlog(const nx_out *o, int level, const char *prefix, const char *fmt, va_list ap);
void nx_progress_draw(const nx_out *o, nx_progress *p, const char *prefix, const char *what,
                      uint64_t done, uint64_t total);
void nx_progress_end(const nx_out *o, nx_progress *p);

#endif
