#include "util.h"
#include "fsat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void nx_one_line(char *msg, size_t size)
{
    size_t n = strlen(msg), i = 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0'; /* a library's message ending in a newline */
    while (i < n && (unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f)
        i++;
    if (i == n || size == 0)
        return;
    char *out = nx_xmalloc(size);
    size_t o = 0;
    for (size_t k = 0; k < n && o + 1 < size; k++) {
        unsigned char ch = (unsigned char)msg[k];
        char esc[8];
        if (ch >= 0x20 && ch != 0x7f) {
            out[o++] = (char)ch;
            continue;
        }
        if (ch == '\n')
            snprintf(esc, sizeof esc, "\\n");
        else if (ch == '\r')
            snprintf(esc, sizeof esc, "\\r");
        else if (ch == '\t')
            snprintf(esc, sizeof esc, "\\t");
        else
            snprintf(esc, sizeof esc, "\\x%02x", ch);
        size_t el = strlen(esc);
        if (o + el + 1 > size)
            break;
        memcpy(out + o, esc, el);
        o += el;
    }
    out[o] = '\0';
    memcpy(msg, out, o + 1);
    free(out);
}

void nx_vseterr(nx_err *e, const char *fmt, va_list ap)
{
    if (!e)
        return;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    nx_one_line(e->msg, sizeof e->msg);
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
    nx_one_line(e->msg, sizeof e->msg);
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

ssize_t nx_read_full(int fd, void *buf, size_t len)
{
    size_t n = 0;
    while (n < len) {
        ssize_t r = read(fd, (char *)buf + n, len - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    return (ssize_t)n;
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

/* A name for a temporary file no one can guess ahead of us. */
static void tmp_suffix(char *buf, size_t len)
{
    static unsigned long counter;
    unsigned char r[8];
    unsigned long long v = 0;
    if (getrandom(r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r) {
        for (size_t i = 0; i < sizeof r; i++)
            v = v << 8 | r[i];
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (unsigned long long)ts.tv_nsec * 2654435761u ^ (unsigned long long)getpid() << 32 ^
            ++counter;
    }
    snprintf(buf, len, "%016llx", v);
}

int nx_write_file_atomic(const char *path, const void *data, size_t len,
                         int mode, nx_err *e)
{
    char *dir = nx_dirname(path);
    const char *base = nx_basename(path);
    char *tmp = NULL, *shown = NULL;
    int rc = -1, fd = -1;
    int dfd = nx_open_dir_path(dir, e);
    if (dfd < 0) {
        nx_preferr(e, "%s: cannot write", path);
        free(dir);
        return -1;
    }
    /* O_EXCL: a file or link someone put there first is never opened. */
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        char sfx[32];
        tmp_suffix(sfx, sizeof sfx);
        free(tmp);
        tmp = nx_xasprintf("%.*s.tmp.%s", 200, base, sfx);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    shown = nx_path_join(dir, tmp);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot create: %s", shown, strerror(errno));
        goto out;
    }
    if (fchmod(fd, (mode_t)mode) != 0) {
        nx_seterr(e, "%s: chmod failed: %s", shown, strerror(errno));
        goto fail;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            nx_seterr(e, "%s: write failed: %s", shown, strerror(errno));
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        nx_seterr(e, "%s: fsync failed: %s", shown, strerror(errno));
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        nx_seterr(e, "%s: close failed: %s", shown, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (renameat(dfd, tmp, dfd, base) != 0) {
        nx_seterr(e, "%s: rename into place failed: %s", path, strerror(errno));
        goto fail;
    }
    int sfd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0 || (fsync(sfd) != 0 && errno != EINVAL)) {
        nx_seterr(e, "%s: fsync failed: %s", dir, strerror(errno));
        if (sfd >= 0)
            close(sfd);
        goto out;
    }
    close(sfd);
    rc = 0;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    unlinkat(dfd, tmp, 0);
out:
    close(dfd);
    free(shown);
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

int nx_rmtree(const char *path, nx_err *e)
{
    char *p = nx_xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    const char *base = nx_basename(p);
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        nx_seterr(e, "%s: refused: not a path whose last part can be removed", path);
        free(p);
        return -1;
    }
    char *dir = nx_dirname(p);
    int rc = 0;
    int dfd = nx_open_dir_path(dir, e);
    if (dfd < 0) {
        if (errno == ENOENT)
            rc = 0; /* the folder above is gone: so is the path */
        else
            rc = (nx_preferr(e, "%s: cannot remove", path), -1);
    } else {
        rc = nx_rmtree_at(dfd, base, p, e);
        int err = errno;
        close(dfd);
        errno = err;
    }
    free(dir);
    free(p);
    return rc;
}
