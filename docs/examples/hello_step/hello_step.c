/*
 * hello_step — an example nexo-update step module (docs/writing-a-step.md).
 *
 * It writes one small text file into the site: ROOT/<file> gets <text>
 * followed by a newline. Before it changes anything it journals what undo
 * needs: the target's absolute path, and the file's previous content and
 * mode, or the fact that there was no file. Undo puts the file back from
 * that journaled state alone, so it works in this process after a failure
 * and in a fresh `nexo-update recover` process after a crash, and doing it
 * twice changes nothing the second time.
 *
 *   [greeting]
 *   module = hello_step
 *   file = public_html/hello.txt   ; relative to [site] root, no ".."
 *   text = Hello from the update
 *
 * The file's folder must exist (the step creates no folders). The previous
 * content is journaled as text, so the step refuses a file larger than
 * 64 KiB, or one holding NUL bytes or text that is not UTF-8.
 *
 * Build against an installed nexo-update:  make
 * (PKG_CONFIG_PATH must find nexo-update.pc).
 */
#define _POSIX_C_SOURCE 200809L
#include <nexo/step.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HELLO_PATH_LEN 4096
#define HELLO_MAX_OLD (64 * 1024)      /* largest previous content journaled */
#define HELLO_TMP_SUFFIX ".hello_step.tmp"

static const struct nexo_setting settings[] = {
    { "file", NULL, NEXO_SETTING_REQUIRED,
      "file to write, relative to the site root (its folder must exist)" },
    { "text", "Hello from nexo-update", 0, "the line of text to write into it" },
    { NULL, NULL, 0, NULL },
};

/* NULL when `file` is an acceptable site-relative path, else why not. */
static const char *bad_file_setting(const char *file)
{
    size_t len = strlen(file);
    if (len == 0)
        return "is empty";
    if (file[0] == '/')
        return "must be relative to the site root";
    if (file[len - 1] == '/')
        return "names a folder, not a file";
    for (const char *p = file; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return "must not contain '..'";
        p += n;
        if (*p == '/')
            p++;
    }
    return NULL;
}

/* ROOT/<file> into buf. */
static int target_path(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len)
{
    const char *root = h->info(c, "root");
    const char *file = h->setting(c, "file");
    if (!root || root[0] != '/')
        return h->fail(c, NEXO_EINVAL, "the site root ([site] root) is not set");
    if (!file)
        return h->fail(c, NEXO_EINVAL, "setting 'file' is missing");
    const char *why = bad_file_setting(file);
    if (why)
        return h->fail(c, NEXO_EINVAL, "setting 'file' = '%s' %s", file, why);
    int n = snprintf(buf, len, "%s/%s", root, file);
    if (n < 0 || (size_t)n >= len)
        return h->fail(c, NEXO_EINVAL, "path %s/%s is too long", root, file);
    return NEXO_OK;
}

/* The folder part of path into buf ("/" for a file directly under /). */
static void parent_of(const char *path, char *buf, size_t len)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash && slash != path ? (size_t)(slash - path) : 1;
    if (n >= len)
        n = len - 1;
    memcpy(buf, slash ? path : "/", n);
    buf[n] = '\0';
}

static int fsync_parent(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    char dir[HELLO_PATH_LEN];
    parent_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot sync folder: %s", dir, strerror(err));
    return NEXO_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Replace path with data atomically: a temporary file beside it, fsync,
 * rename, fsync the folder. A crash leaves the old or the new content,
 * never half of it (and at worst a stray temporary file, which undo
 * removes). */
static int write_atomic(const struct nexo_host *h, nexo_ctx *c, const char *path,
                        const char *data, size_t len, mode_t mode)
{
    char tmp[HELLO_PATH_LEN + sizeof HELLO_TMP_SUFFIX];
    snprintf(tmp, sizeof tmp, "%s%s", path, HELLO_TMP_SUFFIX);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = write_all(fd, data, len) == 0 && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    int err = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        if (ok)
            err = errno;
        unlink(tmp);
        return h->fail(c, NEXO_EIO, "%s: cannot write: %s", path, strerror(err));
    }
    return fsync_parent(h, c, path);
}

/* The file's current content and mode; *exists = 0 when there is none.
 * *content is malloc'ed and NUL-terminated. */
static int read_old(const struct nexo_host *h, nexo_ctx *c, const char *path, int *exists,
                    char **content, mode_t *mode)
{
    *exists = 0;
    *content = NULL;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return NEXO_OK;
    if (fd < 0 && errno == ELOOP)
        return h->fail(c, NEXO_EINVAL, "%s: is a symbolic link; refusing to write through it",
                       path);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int rc = NEXO_OK;
    if (fstat(fd, &st) != 0) {
        rc = h->fail(c, NEXO_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = h->fail(c, NEXO_EINVAL, "%s: not a regular file", path);
        goto out;
    }
    buf = malloc(HELLO_MAX_OLD + 2);
    if (!buf) {
        rc = h->fail(c, NEXO_ERROR, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf + len, HELLO_MAX_OLD + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = h->fail(c, NEXO_EIO, "%s: cannot read: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0 || len + (size_t)r > HELLO_MAX_OLD) {
            len += (size_t)r;
            break;
        }
        len += (size_t)r;
    }
    if (len > HELLO_MAX_OLD) {
        rc = h->fail(c, NEXO_EINVAL, "%s: larger than %d bytes; hello_step only replaces "
                     "small text files", path, HELLO_MAX_OLD);
        goto out;
    }
    if (memchr(buf, '\0', len)) {
        rc = h->fail(c, NEXO_EINVAL, "%s: holds NUL bytes; cannot journal it as text", path);
        goto out;
    }
    buf[len] = '\0';
    *exists = 1;
    *content = buf;
    *mode = st.st_mode & 07777;
    buf = NULL;
out:
    free(buf);
    close(fd);
    return rc;
}

static int hello_validate(const struct nexo_host *h, nexo_ctx *c)
{
    char path[HELLO_PATH_LEN];
    return target_path(h, c, path, sizeof path);
}

static int hello_plan(const struct nexo_host *h, nexo_ctx *c)
{
    char path[HELLO_PATH_LEN];
    int rc = target_path(h, c, path, sizeof path);
    if (rc != NEXO_OK)
        return rc;
    size_t len = strlen(h->setting(c, "text")) + 1;
    struct stat st;
    if (lstat(path, &st) == 0)
        h->log(c, NEXO_LOG_INFO, "would replace %s (%lld bytes) with %zu bytes", path,
               (long long)st.st_size, len);
    else
        h->log(c, NEXO_LOG_INFO, "would create %s with %zu bytes", path, len);
    return NEXO_OK;
}

static int hello_run(const struct nexo_host *h, nexo_ctx *c)
{
    char path[HELLO_PATH_LEN], dir[HELLO_PATH_LEN];
    int rc = target_path(h, c, path, sizeof path);
    if (rc != NEXO_OK)
        return rc;
    parent_of(path, dir, sizeof dir);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return h->fail(c, NEXO_ENOTFOUND, "%s: folder does not exist (hello_step creates no "
                       "folders)", dir);

    int exists;
    char *old;
    mode_t mode = 0644;
    rc = read_old(h, c, path, &exists, &old, &mode);
    if (rc != NEXO_OK)
        return rc;

    /* Journal what undo needs BEFORE touching the file. state_set returns
     * only once the record is on disk. "existed" comes last: undo acts only
     * when it is there, and then everything else it needs is there too. */
    rc = h->state_set(c, "target", path);
    if (rc == NEXO_OK && exists) {
        char mode_text[16];
        snprintf(mode_text, sizeof mode_text, "%04o", (unsigned)mode);
        rc = h->state_set(c, "old_mode", mode_text);
        if (rc == NEXO_OK)
            rc = h->state_set(c, "old_content", old);
    }
    if (rc == NEXO_OK)
        rc = h->state_set(c, "existed", exists ? "1" : "0");
    free(old);
    if (rc != NEXO_OK)
        return rc; /* the host has set the message */

    const char *text = h->setting(c, "text");
    size_t len = strlen(text);
    char *data = malloc(len + 2);
    if (!data)
        return h->fail(c, NEXO_ERROR, "out of memory");
    memcpy(data, text, len);
    data[len] = '\n';
    data[len + 1] = '\0';
    rc = write_atomic(h, c, path, data, len + 1, exists ? mode : 0644);
    free(data);
    if (rc == NEXO_OK)
        h->log(c, NEXO_LOG_INFO, "%s %s", exists ? "replaced" : "created", path);
    return rc;
}

/* Uses nothing but the journaled state: no settings, no configuration. */
static int hello_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *path = h->state_get(c, "target");
    const char *recovering = h->info(c, "recovering");
    if (!path) {
        h->log(c, NEXO_LOG_DEBUG, "nothing to undo: run stopped before choosing a file");
        return NEXO_OK;
    }
    char tmp[HELLO_PATH_LEN + sizeof HELLO_TMP_SUFFIX];
    snprintf(tmp, sizeof tmp, "%s%s", path, HELLO_TMP_SUFFIX);
    if (unlink(tmp) != 0 && errno != ENOENT)
        return h->fail(c, NEXO_EIO, "%s: cannot remove: %s", tmp, strerror(errno));

    const char *existed = h->state_get(c, "existed");
    if (!existed) {
        h->log(c, NEXO_LOG_INFO, "nothing to undo: %s was not changed", path);
        return NEXO_OK;
    }
    if (strcmp(existed, "0") == 0) {
        if (unlink(path) != 0 && errno != ENOENT)
            return h->fail(c, NEXO_EIO, "%s: cannot remove: %s", path, strerror(errno));
        int rc = fsync_parent(h, c, path);
        if (rc == NEXO_OK)
            h->log(c, NEXO_LOG_INFO, "removed %s%s", path,
                   recovering && strcmp(recovering, "1") == 0 ? " (recovering)" : "");
        return rc;
    }

    const char *old = h->state_get(c, "old_content");
    const char *mode_text = h->state_get(c, "old_mode");
    if (!old || !mode_text)
        return h->fail(c, NEXO_ERROR, "the journal lacks the previous content of %s", path);
    mode_t mode = (mode_t)(strtoul(mode_text, NULL, 8) & 07777);
    int rc = write_atomic(h, c, path, old, strlen(old), mode);
    if (rc == NEXO_OK)
        h->log(c, NEXO_LOG_INFO, "restored %s%s", path,
               recovering && strcmp(recovering, "1") == 0 ? " (recovering)" : "");
    return rc;
}

/* No commit: once every step has succeeded there is nothing to finalize
 * (no old copy to drop). No cleanup: the step holds no resources between
 * calls. */
NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "hello_step",
    .version = "1.0.0",
    .summary = "write a small text file into the site (example step)",
    .flags = 0,
    .settings = settings,
    .validate = hello_validate,
    .plan = hello_plan,
    .run = hello_run,
    .undo = hello_undo,
};
