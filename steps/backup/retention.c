/* Retention of old backups, applied by commit only (after a successful
 * update): among the folders backup_* of the backups folder that have a
 * readable meta.json, the newest `keep` stay, and of the others those
 * older than `keep_days` days are removed. The backup just made always
 * stays; folders that are not backups (no meta.json) are never touched. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backup.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

struct old {
    char *path;
    time_t created;
};

struct olds {
    struct old *v;
    size_t n;
};

static int parse_time(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end || *end)
        return -1;
    *out = timegm(&tm);
    return 0;
}

/* The backup's creation time from its meta.json; -1 when not a backup. */
static int created_at(const char *dir, time_t *out)
{
    char *meta = nx_path_join(dir, "meta.json");
    json_t *j = json_load_file(meta, 0, NULL);
    free(meta);
    int rc = parse_time(json_string_value(json_object_get(j, "created_at")), out);
    json_decref(j);
    return rc;
}

static int is_candidate(const char *dir, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(name, "backup_", 7) != 0 || (n > 8 && strcmp(name + n - 8, ".partial") == 0))
        return 0;
    char *p = nx_path_join(dir, name);
    struct stat st;
    int ok = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok;
}

static void collect(const char *dir, const char *current, struct olds *o)
{
    DIR *d = opendir(dir);
    struct dirent *de = d ? readdir(d) : NULL;
    for (; de; de = readdir(d)) {
        if (!is_candidate(dir, de->d_name))
            continue;
        char *p = nx_path_join(dir, de->d_name);
        time_t t;
        if (strcmp(p, current) == 0 || created_at(p, &t) != 0) {
            free(p);
            continue;
        }
        o->v = nx_xrealloc(o->v, (o->n + 1) * sizeof *o->v);
        o->v[o->n++] = (struct old){ .path = p, .created = t };
    }
    if (d)
        closedir(d);
}

static int newest_first(const void *a, const void *b)
{
    const struct old *x = a, *y = b;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1;
    return -strcmp(x->path, y->path);
}

int bk_retention(const struct nexo_host *h, nexo_ctx *c, const char *dir, const char *current,
                 long keep, long keep_days)
{
    struct olds o = { NULL, 0 };
    collect(dir, current, &o);
    if (o.n > 1)
        qsort(o.v, o.n, sizeof *o.v, newest_first);
    time_t limit = time(NULL) - (time_t)keep_days * 86400;
    /* the backup just made is the newest: it takes one of the `keep` places */
    size_t kept = current ? 1 : 0;
    int removed = 0;
    for (size_t i = 0; i < o.n; i++) {
        if (kept < (size_t)keep || o.v[i].created >= limit) {
            kept++;
            free(o.v[i].path);
            continue;
        }
        nx_err e;
        if (nx_rmtree(o.v[i].path, &e) != 0) {
            h->log(c, NEXO_LOG_WARN, "retention: %s", e.msg);
        } else {
            h->log(c, NEXO_LOG_INFO, "retention: removed old backup %s", o.v[i].path);
            removed++;
        }
        free(o.v[i].path);
    }
    free(o.v);
    return removed;
}
