#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void nx_vseterr(nx_err *e, const char *fmt, va_list ap)
{
    if (!e)
        return;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

void nx_seterr(nx_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nx_vseterr(e, fmt, ap);
    va_end(ap);
}

void nx_preferr(nx_err *e, const char *fmt, ...)
{
    char *pre = NULL;
    va_list ap;
    if (!e)
        return;
    va_start(ap, fmt);
    int n = vasprintf(&pre, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t lp = strlen(pre), lo = strlen(e->msg);
    char *all = nx_xmalloc(lp + 2 + lo + 1);
    memcpy(all, pre, lp);
    memcpy(all + lp, ": ", 2);
    memcpy(all + lp + 2, e->msg, lo + 1);
    size_t tot = lp + 2 + lo;
    if (tot >= sizeof e->msg)
        tot = sizeof e->msg - 1;
    memcpy(e->msg, all, tot);
    e->msg[tot] = '\0';
    free(all);
    free(pre);
}

static void oom(void)
{
    static const char m[] = "nexo: out of memory\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    abort();
}

void *nx_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *nx_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        oom();
    return p;
}

void *nx_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *nx_xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        oom();
    return p;
}

char *nx_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        oom();
    return p;
}

char *nx_xasprintf(const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int r = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (r < 0)
        oom();
    return p;
}

int nx_read_file(const char *path, char **out, size_t *len, size_t max, nx_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = nx_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = nx_xrealloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            nx_seterr(e, "%s: read failed: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (max && n > max) {
            nx_seterr(e, "%s: larger than %zu bytes", path, max);
            free(buf);
            close(fd);
            return -1;
        }
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int nx_fsync_dir(const char *dir, nx_err *e)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot open folder: %s", dir, strerror(errno));
        return -1;
    }
    if (fsync(fd) != 0 && errno != EINVAL) {
        nx_seterr(e, "%s: fsync failed: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

int nx_write_file_atomic(const char *path, const void *data, size_t len,
                         int mode, nx_err *e)
{
    char *dir = nx_dirname(path);
    char *tmp = nx_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    if (fchmod(fd, (mode_t)mode) != 0) {
        nx_seterr(e, "%s: chmod failed: %s", tmp, strerror(errno));
        goto fail;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            nx_seterr(e, "%s: write failed: %s", tmp, strerror(errno));
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        nx_seterr(e, "%s: fsync failed: %s", tmp, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        nx_seterr(e, "%s: close failed: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        nx_seterr(e, "%s: rename into place failed: %s", path, strerror(errno));
        goto fail;
    }
    rc = nx_fsync_dir(dir, e);
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
out:
    free(tmp);
    free(dir);
    return rc;
}

int nx_mkdirs(const char *path, int mode, nx_err *e)
{
    char *p = nx_xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    for (char *s = p + 1; ; s++) {
        char c = *s;
        if (c == '/' || c == '\0') {
            *s = '\0';
            if (mkdir(p, (mode_t)mode) != 0 && errno != EEXIST) {
                nx_seterr(e, "%s: cannot create folder: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            *s = c;
        }
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
        nx_seterr(e, "%s: not a folder", p);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

char *nx_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    return nx_xasprintf("%.*s/%s", (int)la, a, b);
}

char *nx_dirname(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s)
        return nx_xstrdup(".");
    if (s == path)
        return nx_xstrdup("/");
    return nx_xstrndup(path, (size_t)(s - path));
}

const char *nx_basename(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

long long nx_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long nx_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
    return rc == 0 || errno == ENOENT ? 0 : -1;
}

int nx_rmtree(const char *path, nx_err *e)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : (nx_seterr(e, "%s: %s", path, strerror(errno)), -1);
    if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS) != 0) {
        nx_seterr(e, "%s: cannot remove: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
