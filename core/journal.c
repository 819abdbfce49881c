#include "journal.h"

#include "fsat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct nx_journal {
    int fd;
    char *dir;
    char *path;
    char *id;
    long long seq;
};

char *nx_journal_dir(const char *state_dir)
{
    return nx_path_join(state_dir, "journal");
}

char *nx_journal_current(const char *state_dir)
{
    return nx_xasprintf("%s/journal/current.jnl", state_dir);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int nx_journal_append(nx_journal *j, const char *ev, json_t *fields, nx_err *e)
{
    json_t *rec = json_object();
    json_object_set_new(rec, "seq", json_integer(++j->seq));
    json_object_set_new(rec, "t", json_integer(nx_now_ms()));
    json_object_set_new(rec, "ev", json_string(ev));
    if (fields) {
        json_object_update(rec, fields);
        json_decref(fields);
    }
    char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(rec);
    if (!line) {
        nx_seterr(e, "%s: cannot encode journal record '%s'", j->path, ev);
        return -1;
    }
    size_t n = strlen(line);
    char *buf = nx_xmalloc(n + 2);
    memcpy(buf, line, n);
    buf[n] = '\n';
    free(line);
    int rc = write_all(j->fd, buf, n + 1);
    free(buf);
    if (rc != 0 || fsync(j->fd) != 0) {
        nx_seterr(e, "%s: cannot write journal record '%s': %s", j->path, ev, strerror(errno));
        return -1;
    }
    return 0;
}

static nx_journal *journal_new(const char *state_dir, int fd, const char *id)
{
    nx_journal *j = nx_xcalloc(1, sizeof *j);
    j->fd = fd;
    j->dir = nx_journal_dir(state_dir);
    j->path = nx_journal_current(state_dir);
    j->id = nx_xstrdup(id);
    return j;
}

/* The name a journal is written under until its begin record is on disk
 * (followed by the writer's pid). Only the holder of the state lock
 * creates journals, so any such name found by the next creator is a
 * leftover of a creation that was killed (or, after link(), a second name
 * of a live journal): it is removed. */
#define NEW_PREFIX "current.jnl.new-"

static void sweep_new(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, NEW_PREFIX, strlen(NEW_PREFIX)) == 0)
            unlinkat(dfd, de->d_name, 0);
    }
    closedir(d);
}

/* Give the file `from` the name `to` in dfd, never replacing what is
 * there (EEXIST): link() and unlink(), or renameat2(RENAME_NOREPLACE) on
 * a file system without hard links. The old name may stay when only its
 * unlink failed (the new name is in place: success). */
static int place_noreplace(int dfd, const char *from, const char *to)
{
    if (linkat(dfd, from, dfd, to, 0) == 0) {
        unlinkat(dfd, from, 0);
        return 0;
    }
    if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS && errno != EMLINK)
        return -1;
    return renameat2(dfd, from, dfd, to, RENAME_NOREPLACE);
}

/* dfd is an O_PATH descriptor (nx_open_dir_path): fsync through a
 * readable one of the same folder. */
static int fsync_dfd(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* The journal appears as current.jnl only with its begin record written
 * and fsync'ed: it is written as NEW_PREFIX<pid>, then linked into place
 * (a journal that is there is never replaced), then the folder is
 * fsync'ed. A kill at any instant leaves either no current.jnl (nothing
 * ran: the caller runs no step before this returns) or one that starts
 * with its complete begin record. */
nx_journal *nx_journal_create(const char *state_dir, json_t *begin, nx_err *e)
{
    const char *id = json_string_value(json_object_get(begin, "id"));
    if (!id) {
        nx_seterr(e, "journal: begin record without id");
        json_decref(begin);
        return NULL;
    }
    char *dir = nx_journal_dir(state_dir);
    char *path = nx_journal_current(state_dir);
    char name[64];
    snprintf(name, sizeof name, NEW_PREFIX "%ld", (long)getpid());
    char *tmp = nx_path_join(dir, name);
    nx_journal *j = NULL;
    int dfd = -1, fd = -1;
    if (nx_mkdirs(dir, 0700, e) != 0)
        goto out;
    dfd = nx_open_dir_path(dir, e);
    if (dfd < 0) {
        nx_preferr(e, "%s: cannot create journal", path);
        goto out;
    }
    if (faccessat(dfd, "current.jnl", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        nx_seterr(e, "%s: an interrupted update is waiting: run 'nexo-update recover' "
                     "first", path);
        goto out;
    }
    sweep_new(dfd);
    fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                0600);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot create journal: %s", tmp, strerror(errno));
        goto out;
    }
    j = journal_new(state_dir, fd, id);
    fd = -1;
    /* until it is in place, messages name the file being written */
    char *cur = j->path;
    j->path = tmp;
    int rc = nx_journal_append(j, "begin", json_incref(begin), e);
    j->path = cur;
    if (rc != 0)
        goto fail;
    if (place_noreplace(dfd, name, "current.jnl") != 0) {
        if (errno == EEXIST)
            nx_seterr(e, "%s: an interrupted update is waiting: run 'nexo-update recover' "
                         "first", path);
        else
            nx_seterr(e, "%s: cannot put the journal in place as %s: %s", tmp, path,
                      strerror(errno));
        goto fail;
    }
    if (fsync_dfd(dfd) != 0) {
        nx_seterr(e, "%s: fsync failed: %s", dir, strerror(errno));
        unlinkat(dfd, "current.jnl", 0);
        goto fail;
    }
    goto out;
fail:
    unlinkat(dfd, name, 0);
    nx_journal_close(j);
    j = NULL;
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    json_decref(begin);
    free(tmp);
    free(dir);
    free(path);
    return j;
}

static int parse_lines(const char *path, char *buf, size_t len, json_t *out, size_t *good_end,
                       int *torn, nx_err *e)
{
    size_t pos = 0;
    int lineno = 0;
    *torn = 0;
    *good_end = 0;
    while (pos < len) {
        char *nl = memchr(buf + pos, '\n', len - pos);
        lineno++;
        size_t end = nl ? (size_t)(nl - buf) : len;
        json_error_t je;
        json_t *rec = json_loadb(buf + pos, end - pos, 0, &je);
        if (!rec || !json_is_object(rec) || !nl) {
            json_decref(rec);
            if (!nl || end + 1 >= len) {
                *torn = 1; /* the last line: a write the crash cut short */
                return 0;
            }
            nx_seterr(e, "%s:%d: corrupt journal record (%s)", path, lineno,
                      rec ? "not an object" : je.text);
            return -1;
        }
        json_array_append_new(out, rec);
        pos = end + 1;
        *good_end = pos;
    }
    return 0;
}

int nx_journal_read(const char *path, json_t **records, int *torn, nx_err *e)
{
    char *buf;
    size_t len, good;
    int t = 0;
    if (nx_read_file(path, &buf, &len, 0, e) != 0)
        return -1;
    json_t *arr = json_array();
    int rc = parse_lines(path, buf, len, arr, &good, &t, e);
    free(buf);
    if (rc == 0 && json_array_size(arr) == 0) {
        nx_seterr(e, "%s: journal has no intact record", path);
        rc = -1;
    }
    const char *ev0 = json_string_value(json_object_get(json_array_get(arr, 0), "ev"));
    if (rc == 0 && (!ev0 || strcmp(ev0, "begin") != 0)) {
        nx_seterr(e, "%s:1: journal does not start with a begin record", path);
        rc = -1;
    }
    if (rc != 0) {
        json_decref(arr);
        return -1;
    }
    if (torn)
        *torn = t;
    *records = arr;
    return 0;
}

int nx_journal_unstarted(const char *path, nx_err *e)
{
    char *buf;
    size_t len, good;
    int torn;
    if (nx_read_file(path, &buf, &len, 0, e) != 0)
        return -1;
    json_t *arr = json_array();
    nx_err pe;
    int none = parse_lines(path, buf, len, arr, &good, &torn, &pe) == 0 &&
               json_array_size(arr) == 0;
    json_decref(arr);
    free(buf);
    return none;
}

char *nx_journal_close_unstarted(const char *state_dir, nx_err *e)
{
    char *dir = nx_journal_dir(state_dir);
    char *dest = NULL;
    char *cur = nx_journal_current(state_dir);
    int un = nx_journal_unstarted(cur, e);
    if (un == 0)
        nx_seterr(e, "%s: it has records: not closed", cur);
    free(cur);
    if (un != 1) {
        free(dir);
        return NULL;
    }
    int dfd = nx_open_dir_path(dir, e);
    if (dfd < 0) {
        nx_preferr(e, "%s: cannot close the journal", dir);
        goto out;
    }
    time_t now = time(NULL);
    struct tm tm;
    char ts[32], name[64];
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y%m%d-%H%M%S", &tm);
    int rc = -1;
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(name, sizeof name, "unstarted-%s.jnl", ts);
        else
            snprintf(name, sizeof name, "unstarted-%s-%d.jnl", ts, n);
        rc = place_noreplace(dfd, "current.jnl", name);
        if (rc == 0 || errno != EEXIST)
            break;
    }
    if (rc != 0) {
        nx_seterr(e, "%s/current.jnl: cannot move it aside as %s/%s: %s", dir, dir, name,
                  strerror(errno));
        goto out;
    }
    if (fsync_dfd(dfd) != 0) {
        nx_seterr(e, "%s: fsync failed: %s", dir, strerror(errno));
        goto out;
    }
    dest = nx_path_join(dir, name);
out:
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return dest;
}

nx_journal *nx_journal_reopen(const char *state_dir, json_t **records, nx_err *e)
{
    char *path = nx_journal_current(state_dir);
    char *buf = NULL;
    size_t len, good;
    int torn;
    nx_journal *j = NULL;
    json_t *arr = NULL;
    if (nx_read_file(path, &buf, &len, 0, e) != 0)
        goto out;
    arr = json_array();
    if (parse_lines(path, buf, len, arr, &good, &torn, e) != 0)
        goto out;
    json_t *first = json_array_get(arr, 0);
    const char *ev = json_string_value(json_object_get(first, "ev"));
    const char *id = json_string_value(json_object_get(first, "id"));
    if (!ev || strcmp(ev, "begin") != 0 || !id) {
        nx_seterr(e, "%s:1: journal does not start with a begin record", path);
        goto out;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open journal: %s", path, strerror(errno));
        goto out;
    }
    if (torn && (ftruncate(fd, (off_t)good) != 0 || fsync(fd) != 0)) {
        nx_seterr(e, "%s: cannot cut the torn last record: %s", path, strerror(errno));
        close(fd);
        goto out;
    }
    j = journal_new(state_dir, fd, id);
    json_t *last = json_array_get(arr, json_array_size(arr) - 1);
    j->seq = json_integer_value(json_object_get(last, "seq"));
    *records = arr;
    arr = NULL;
out:
    json_decref(arr);
    free(buf);
    free(path);
    return j;
}

int nx_journal_archive(nx_journal *j, nx_err *e)
{
    char *dest = nx_xasprintf("%s/%s.jnl", j->dir, j->id);
    int rc = 0;
    if (rename(j->path, dest) != 0) {
        nx_seterr(e, "%s: cannot archive journal as %s: %s", j->path, dest, strerror(errno));
        rc = -1;
    } else {
        rc = nx_fsync_dir(j->dir, e);
        free(j->path);
        j->path = dest;
        dest = NULL;
    }
    free(dest);
    return rc;
}

int nx_journal_end(nx_journal *j, const char *outcome, json_t *fields, nx_err *e)
{
    json_t *f = fields ? fields : json_object();
    json_object_set_new(f, "outcome", json_string(outcome));
    if (nx_journal_append(j, "end", f, e) != 0)
        return -1;
    return nx_journal_archive(j, e);
}

void nx_journal_close(nx_journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    free(j->dir);
    free(j->path);
    free(j->id);
    free(j);
}

const char *nx_journal_path(const nx_journal *j)
{
    return j->path;
}
