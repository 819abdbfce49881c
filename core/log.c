#include "log.h"

#include <nexo/nexo.h>
#include <stdio.h>
#include <string.h>

void nx_vlog(const nx_out *o, int level, const char *prefix, const char *fmt, va_list ap)
{
    int verb = o ? o->verbosity : 1;
    if (level == NEXO_LOG_DEBUG && verb < 2)
        return;
    if (level != NEXO_LOG_ERROR && verb < 1)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const char *tag = "";
    if (level == NEXO_LOG_ERROR)
        tag = "error: ";
    else if (level == NEXO_LOG_WARN)
        tag = "warning: ";
    else if (level == NEXO_LOG_DEBUG)
        tag = "debug: ";
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

void nx_progress_draw(const nx_out *o, nx_progress *p, const char *prefix, const char *what,
                      uint64_t done, uint64_t total)
{
    if (!o || o->verbosity < 1)
        return;
    int pct = total ? (int)(done * 100 / total) : -1;
    char d[32], t[32];
    if (what && what[0] == '#') { /* items, not bytes */
        what++;
        snprintf(d, sizeof d, "%llu", (unsigned long long)done);
        snprintf(t, sizeof t, "%llu", (unsigned long long)total);
    } else {
        human(done, d, sizeof d);
        human(total, t, sizeof t);
    }
    if (o->tty) {
        char bar[31];
        int fill = pct < 0 ? 0 : pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        if (pct >= 0)
            fprintf(stderr, "\r[%s] %s [%s] %3d%% %s / %s", prefix, what, bar, pct, d, t);
        else
            fprintf(stderr, "\r[%s] %s %s", prefix, what, d);
        p->active = 1;
        if (total && done >= total)
            nx_progress_end(o, p);
        fflush(stderr);
        return;
    }
    /* Plain lines: at most every 10 percent (or every 1000 units without
     * a total), and the end. */
    int step = pct < 0 ? (int)(done / 1000) : pct / 10;
    if (step == p->last_pct && !(total && done >= total))
        return;
    if (total && done >= total && p->last_pct == 1000)
        return;
    p->last_pct = (total && done >= total) ? 1000 : step;
    if (pct >= 0)
        fprintf(stderr, "[%s] %s %d%% (%s of %s)\n", prefix, what, pct, d, t);
    else
        fprintf(stderr, "[%s] %s %s\n", prefix, what, d);
    fflush(stderr);
}

void nx_progress_end(const nx_out *o, nx_progress *p)
{
    if (p->active && o && o->tty) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->active = 0;
}
