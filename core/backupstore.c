/* The backup store: listing, lookup and the retention decision shared by
 * the backup step's commit and `nexo-update backups prune`. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backupstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define META_MAX (1024 * 1024)

long long nx_backup_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end || *end)
        return -1;
    return (long long)timegm(&tm);
}

/* Bytes of the regular files below the open folder fd (closed here); no
 * symlinks followed, depth bounded. */
static uint64_t tree_size(int fd, int depth)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    uint64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            sum += (uint64_t)st.st_size;
        } else if (S_ISDIR(st.st_mode) && depth < 16) {
            int sub = openat(dirfd(d), de->d_name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0)
                sum += tree_size(sub, depth + 1);
        }
    }
    closedir(d);
    return sum;
}

static uint64_t folder_size(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd < 0 ? 0 : tree_size(fd, 0);
}

static char *meta_str(const json_t *meta, const char *key)
{
    const char *s = json_string_value(json_object_get(meta, key));
    return s ? nx_xstrdup(s) : NULL;
}

static void load_meta(nx_backup *b)
{
    char *file = nx_path_join(b->path, "meta.json");
    char *text = NULL;
    size_t len = 0;
    if (nx_read_file(file, &text, &len, META_MAX, NULL) == 0) {
        json_t *j = json_loadb(text, len, 0, NULL);
        if (json_is_object(j))
            b->meta = j;
        else
            json_decref(j);
    }
    free(text);
    free(file);
    if (!b->meta)
        return;
    b->update_id = meta_str(b->meta, "update_id");
    b->created_at = meta_str(b->meta, "created_at");
    b->component = meta_str(b->meta, "component");
    b->from_version = meta_str(b->meta, "from_version");
    b->to_version = meta_str(b->meta, "to_version");
    b->pipeline = meta_str(b->meta, "pipeline");
    long long t = nx_backup_parse_time(b->created_at);
    b->created = t > 0 ? t : 0;
}

static int is_backup_name(const char *name)
{
    size_t n = strlen(name);
    if (strncmp(name, "backup_", 7) != 0 || n <= 7)
        return 0;
    return !(n > 8 && strcmp(name + n - 8, ".partial") == 0);
}

static int newest_first(const void *a, const void *b)
{
    const nx_backup *x = a, *y = b;
    if (x->created != y->created)
        return x->created > y->created ? -1 : 1;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns > y->mtime_ns ? -1 : 1;
    return -strcmp(x->name, y->name);
}

int nx_backups_list(const char *dir, nx_backup_list *out, nx_err *e)
{
    out->v = NULL;
    out->n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        nx_seterr(e, "backups folder %s: cannot read: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_backup_name(de->d_name))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        out->v = nx_xrealloc(out->v, (out->n + 1) * sizeof *out->v);
        nx_backup *b = &out->v[out->n++];
        memset(b, 0, sizeof *b);
        b->name = nx_xstrdup(de->d_name);
        b->path = nx_path_join(dir, de->d_name);
        b->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
        load_meta(b);
        b->size = folder_size(b->path);
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, newest_first);
    return 0;
}

void nx_backups_free(nx_backup_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        nx_backup *b = &l->v[i];
        free(b->name);
        free(b->path);
        free(b->update_id);
        free(b->created_at);
        free(b->component);
        free(b->from_version);
        free(b->to_version);
        free(b->pipeline);
        json_decref(b->meta);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int matches(const nx_backup *b, const char *id)
{
    return strcmp(b->name, id) == 0 || strcmp(b->path, id) == 0 ||
           (b->update_id && strcmp(b->update_id, id) == 0);
}

const nx_backup *nx_backups_find(const nx_backup_list *l, const char *id)
{
    if (!l || !id || !*id)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        if (matches(&l->v[i], id))
            return &l->v[i];
    /* "backup_ID_..." given without its time stamp, or a trailing slash */
    size_t n = strlen(id);
    while (n > 1 && id[n - 1] == '/')
        n--;
    for (size_t i = 0; i < l->n; i++) {
        const nx_backup *b = &l->v[i];
        if ((strlen(b->name) == n && strncmp(b->name, id, n) == 0) ||
            (strlen(b->path) == n && strncmp(b->path, id, n) == 0))
            return b;
    }
    return NULL;
}

static int is_current(const nx_backup *b, const char *current)
{
    if (!current)
        return 0;
    if (strcmp(b->path, current) == 0 || strcmp(b->name, current) == 0)
        return 1;
    /* the same folder under another spelling of the backups path */
    return strchr(current, '/') && strcmp(nx_basename(current), b->name) == 0;
}

size_t nx_backups_retention(const nx_backup_list *l, const char *current, long keep,
                            long keep_days, long long now, unsigned char *remove)
{
    long long limit = now - (long long)(keep_days < 0 ? 0 : keep_days) * 86400;
    /* the current backup is the newest: it takes one of the `keep` places */
    size_t kept = current ? 1 : 0, removed = 0;
    size_t want = keep < 0 ? 0 : (size_t)keep;
    for (size_t i = 0; i < l->n; i++) {
        const nx_backup *b = &l->v[i];
        remove[i] = 0;
        if (is_current(b, current) || !b->meta || b->created <= 0)
            continue;
        if (kept < want || (keep_days > 0 && b->created >= limit)) {
            kept++;
            continue;
        }
        remove[i] = 1;
        removed++;
    }
    return removed;
}
