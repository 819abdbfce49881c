#include "fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fault {
    char *step;
    enum nx_point point;
    unsigned n;        /* checkpoint number, or occurrence (0 = first) */
    enum nx_action action;
    unsigned seen;     /* times the point was reached */
};

struct nx_faults {
    struct fault *v;
    size_t n;
};

static const char *POINTS[] = { "before-run", "after-run", "before-undo", "after-undo",
                                "checkpoint" };

const char *nx_point_name(enum nx_point p)
{
    return POINTS[p];
}

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > 1000000)
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_one(char *item, struct fault *f, nx_err *e)
{
    char *parts[4];
    size_t np = 0;
    for (char *tok = item; tok;) {
        char *colon = strchr(tok, ':');
        if (colon)
            *colon = '\0';
        if (np == 4) {
            np++;
            break;
        }
        parts[np++] = tok;
        tok = colon ? colon + 1 : NULL;
    }
    if (np < 3 || np > 4 || !*parts[0]) {
        nx_seterr(e, "expected <step>:<point>[:<n>]:<action>");
        return -1;
    }
    int pt = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(parts[1], POINTS[i]) == 0)
            pt = i;
    if (pt < 0) {
        nx_seterr(e, "unknown point '%s' (before-run, after-run, before-undo, after-undo, "
                     "checkpoint:<n>)", parts[1]);
        return -1;
    }
    const char *act = parts[np - 1];
    if (strcmp(act, "fail") == 0)
        f->action = NX_FAIL;
    else if (strcmp(act, "kill") == 0)
        f->action = NX_KILL;
    else {
        nx_seterr(e, "unknown action '%s' (fail or kill)", act);
        return -1;
    }
    f->point = (enum nx_point)pt;
    f->n = 0;
    if (np == 4 && parse_uint(parts[2], &f->n) != 0) {
        nx_seterr(e, "'%s' is not a count (1, 2, ...)", parts[2]);
        return -1;
    }
    if (f->point == NX_CHECKPOINT && np != 4) {
        nx_seterr(e, "checkpoint needs its number: <step>:checkpoint:<n>:<action>");
        return -1;
    }
    f->step = nx_xstrdup(parts[0]);
    return 0;
}

nx_faults *nx_faults_parse(const char *spec, nx_err *e)
{
    nx_faults *fs = nx_xcalloc(1, sizeof *fs);
    if (!spec || !*spec)
        return fs;
    char *copy = nx_xstrdup(spec);
    char *next = copy;
    while (next) {
        char *item = next;
        char *comma = strchr(item, ',');
        next = comma ? comma + 1 : NULL;
        if (comma)
            *comma = '\0';
        if (!*item) {
            nx_seterr(e, "NEXO_FAULT: '%s': empty entry (entries are separated by one ',')",
                      spec);
            free(copy);
            nx_faults_free(fs);
            return NULL;
        }
        fs->v = nx_xrealloc(fs->v, (fs->n + 1) * sizeof *fs->v);
        struct fault *f = &fs->v[fs->n];
        memset(f, 0, sizeof *f);
        char *orig = nx_xstrdup(item);
        if (parse_one(item, f, e) != 0) {
            nx_preferr(e, "NEXO_FAULT: '%s'", orig);
            free(orig);
            free(copy);
            nx_faults_free(fs);
            return NULL;
        }
        free(orig);
        fs->n++;
    }
    free(copy);
    return fs;
}

void nx_faults_free(nx_faults *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].step);
    free(f->v);
    free(f);
}

enum nx_action nx_fault_hit(nx_faults *fs, const char *step, enum nx_point p, unsigned n)
{
    if (!fs)
        return NX_NONE;
    /* Count the visit for every spec of this step and point first, then
     * act on the first one whose count (or checkpoint number) matches. */
    for (size_t i = 0; i < fs->n; i++)
        if (fs->v[i].point == p && p != NX_CHECKPOINT && strcmp(fs->v[i].step, step) == 0)
            fs->v[i].seen++;
    for (size_t i = 0; i < fs->n; i++) {
        struct fault *f = &fs->v[i];
        if (f->point != p || strcmp(f->step, step) != 0)
            continue;
        if (p == NX_CHECKPOINT ? f->n != n : f->seen != (f->n ? f->n : 1))
            continue;
        if (f->action == NX_KILL) {
            char buf[300];
            int len = snprintf(buf, sizeof buf, "nexo-update: NEXO_FAULT: kill at %s:%s:%u\n",
                               step, POINTS[p], p == NX_CHECKPOINT ? n : f->seen);
            ssize_t w = write(2, buf, (size_t)(len > 0 ? len : 0));
            (void)w;
            raise(SIGKILL);
        }
        return f->action;
    }
    return NX_NONE;
}
