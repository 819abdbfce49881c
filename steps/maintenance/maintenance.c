/*
 * maintenance — puts the site into maintenance mode and takes it out.
 *
 *   action = on   writes ROOT/MAINTENANCE atomically, a JSON record
 *                 {"update_id", "since", "message"}; undo removes it.
 *   action = off  removes the file this update wrote; undo puts it back.
 *
 * A MAINTENANCE file that was there before the update (an admin's own) is
 * never removed or overwritten: `on` leaves it as it is and `off` leaves
 * it too. Everything undo needs is journaled before the file is touched,
 * so undo works in a fresh process (recover) and can be repeated.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/step.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsat.h"
#include "util.h"

#define FLAG_NAME "MAINTENANCE"
#define DEFAULT_MESSAGE "NexoSupport is being updated and will be back in a few minutes."

static const struct nexo_setting settings[] = {
    { "action", NULL, NEXO_SETTING_REQUIRED, "on or off" },
    { "message", DEFAULT_MESSAGE, 0, "text the site shows while in maintenance" },
    { NULL, NULL, 0, NULL },
};

static int flag_path(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len)
{
    const char *root = h->info(c, "root");
    if (!root)
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    if ((size_t)snprintf(buf, len, "%s/" FLAG_NAME, root) >= len)
        return h->fail(c, NEXO_EINVAL, "site root path too long: %s", root);
    return 0;
}

static int is_on(const struct nexo_host *h, nexo_ctx *c)
{
    return strcmp(h->setting(c, "action"), "on") == 0;
}

static int m_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *a = h->setting(c, "action");
    if (strcmp(a, "on") != 0 && strcmp(a, "off") != 0)
        return h->fail(c, NEXO_EINVAL, "action = %s: expected on or off", a);
    const char *root = h->info(c, "root");
    struct stat st;
    if (!root)
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return h->fail(c, NEXO_EINVAL, "site root %s is not a folder", root);
    if (access(root, W_OK) != 0)
        return h->fail(c, NEXO_EINVAL, "site root %s is not writable: %s", root,
                       strerror(errno));
    return 0;
}

static int m_plan(const struct nexo_host *h, nexo_ctx *c)
{
    char path[4096];
    int rc = flag_path(h, c, path, sizeof path);
    if (rc)
        return rc;
    h->log(c, NEXO_LOG_INFO, "would %s maintenance mode (%s)",
           is_on(h, c) ? "turn on" : "turn off", path);
    return 0;
}

/* Write `data` to `path` through a temporary file created with O_EXCL
 * and a random name, and rename (nx_write_file_atomic): a file or link the
 * site's owner put in the site root is never opened or truncated. */
static int write_atomic(const struct nexo_host *h, nexo_ctx *c, const char *path,
                        const char *data)
{
    nx_err e;
    if (nx_write_file_atomic(path, data, strlen(data), 0644, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    return 0;
}

/* The site root, opened as nx_open_dir_path does. */
static int open_root(const struct nexo_host *h, nexo_ctx *c)
{
    nx_err e;
    int fd = nx_open_dir_path(h->info(c, "root"), &e);
    if (fd < 0)
        h->fail(c, NEXO_EIO, "site root: %s", e.msg);
    return fd;
}

/* The text of ROOT/MAINTENANCE (malloc'ed), NULL when absent. Opened with
 * O_NOFOLLOW|O_NONBLOCK and checked with fstat: *err is ELOOP for a
 * symbolic link (never followed), EINVAL for anything but a regular file,
 * or another errno; 0 when the file is absent or was read; -1 when the
 * site root could not be opened (the step has failed then). */
static char *read_small(const struct nexo_host *h, nexo_ctx *c, int *err)
{
    *err = 0;
    int rootfd = open_root(h, c);
    if (rootfd < 0) {
        *err = -1; /* the step has failed, naming the root */
        return NULL;
    }
    int fd = openat(rootfd, FLAG_NAME, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    close(rootfd);
    if (fd < 0) {
        *err = errno == ENOENT ? 0 : errno;
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0)
        *err = errno;
    else if (!S_ISREG(st.st_mode))
        *err = EINVAL;
    if (*err) {
        close(fd);
        return NULL;
    }
    char *buf = calloc(1, 65537);
    size_t n = 0;
    while (buf && n < 65536) {
        ssize_t r = read(fd, buf + n, 65536 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    return buf;
}

/* Why ROOT/MAINTENANCE could not be read. */
static const char *why(int err)
{
    return err == ELOOP ? "refused: a symbolic link (it is never followed)"
         : err == EINVAL ? "refused: not a regular file" : strerror(err);
}

/* Does the file at path belong to this update? */
static int ours(const struct nexo_host *h, nexo_ctx *c, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "update_id"));
    const char *me = h->info(c, "update_id");
    int mine = id && me && strcmp(id, me) == 0;
    json_decref(j);
    return mine;
}

/* Now as "SECONDS.MILLIS" since the epoch (shared maintenance_since/_until:
 * the host reports the time in maintenance mode from them). */
static void epoch_text(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000L);
}

/* Remove ROOT/MAINTENANCE (a name in the root's descriptor: unlinkat
 * never follows a link). -1 with the step failed. */
static int remove_flag(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    int rootfd = open_root(h, c);
    if (rootfd < 0)
        return -1;
    int rc = unlinkat(rootfd, FLAG_NAME, 0) == 0 || errno == ENOENT
                 ? 0
                 : (h->fail(c, NEXO_EIO, "%s: cannot remove: %s", path, strerror(errno)), -1);
    close(rootfd);
    return rc;
}

/* Is there anything at all (a link too) at ROOT/MAINTENANCE? */
static int present(const struct nexo_host *h, nexo_ctx *c)
{
    nx_err e;
    struct stat st;
    int rootfd = nx_open_dir_path(h->info(c, "root"), &e);
    int there = rootfd < 0 || fstatat(rootfd, FLAG_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 ||
                errno != ENOENT;
    if (rootfd >= 0)
        close(rootfd);
    return there;
}

static int turn_on(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    int err;
    char *old = read_small(h, c, &err);
    if (err)
        return err < 0 ? NEXO_EIO : h->fail(c, NEXO_EIO, "%s: %s", path, why(err));
    if (old && !ours(h, c, old)) {
        free(old);
        h->log(c, NEXO_LOG_WARN, "%s was already there; leaving it as it is", path);
        return h->state_set(c, "wrote", "0");
    }
    free(old);
    int rc = h->state_set(c, "wrote", "1");
    if (rc)
        return rc;
    char since[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *rec = json_pack("{s:s?, s:s, s:I, s:s}", "update_id", h->info(c, "update_id"),
                            "since", since, "since_epoch", (json_int_t)now, "message",
                            h->setting(c, "message"));
    char *text = rec ? json_dumps(rec, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(rec);
    if (!text)
        return h->fail(c, NEXO_EINVAL, "message is not valid UTF-8");
    size_t n = strlen(text);
    char *line = malloc(n + 2);
    if (!line) {
        free(text);
        return h->fail(c, NEXO_ERROR, "out of memory");
    }
    memcpy(line, text, n);
    memcpy(line + n, "\n", 2);
    free(text);
    rc = write_atomic(h, c, path, line);
    free(line);
    char epoch[32];
    epoch_text(epoch, sizeof epoch);
    if (!rc)
        rc = h->shared_set(c, "maintenance_since", epoch);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "maintenance mode on (%s)", path);
    return rc;
}

/* A link or something else than a file where MAINTENANCE was: not ours,
 * left alone (failing here, at the end of an update, would roll it back). */
static int foreign(const struct nexo_host *h, nexo_ctx *c, const char *path, int err)
{
    if (err < 0)
        return NEXO_EIO;
    if (err != ELOOP && err != EINVAL)
        return h->fail(c, NEXO_EIO, "%s: %s", path, strerror(err));
    h->log(c, NEXO_LOG_WARN, "%s: %s; not this update's, leaving it", path, why(err));
    return 0;
}

static int turn_off(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    int err;
    char *old = read_small(h, c, &err);
    if (err) {
        int rc = foreign(h, c, path, err);
        return rc ? rc : h->state_set(c, "removed", NULL);
    }
    if (!old || !ours(h, c, old)) {
        if (old)
            h->log(c, NEXO_LOG_WARN, "%s is not this update's; leaving it", path);
        free(old);
        return h->state_set(c, "removed", NULL);
    }
    int rc = h->state_set(c, "removed", old);
    free(old);
    if (rc)
        return rc;
    if (remove_flag(h, c, path) != 0)
        return NEXO_EIO;
    char epoch[32];
    epoch_text(epoch, sizeof epoch);
    h->log(c, NEXO_LOG_INFO, "maintenance mode off");
    return h->shared_set(c, "maintenance_until", epoch);
}

static int m_run(const struct nexo_host *h, nexo_ctx *c)
{
    char path[4096];
    int rc = flag_path(h, c, path, sizeof path);
    if (rc)
        return rc;
    return is_on(h, c) ? turn_on(h, c, path) : turn_off(h, c, path);
}

static int m_undo(const struct nexo_host *h, nexo_ctx *c)
{
    char path[4096];
    int rc = flag_path(h, c, path, sizeof path);
    if (rc)
        return rc;
    if (is_on(h, c)) {
        const char *wrote = h->state_get(c, "wrote");
        if (!wrote || strcmp(wrote, "1") != 0)
            return 0; /* never written (or an admin's file): nothing to undo */
        int err;
        char *cur = read_small(h, c, &err);
        if (err)
            return foreign(h, c, path, err);
        int mine = cur && ours(h, c, cur);
        free(cur);
        if (mine && remove_flag(h, c, path) != 0)
            return NEXO_EIO;
        if (mine)
            h->log(c, NEXO_LOG_INFO, "maintenance mode off");
        return 0;
    }
    const char *text = h->state_get(c, "removed");
    if (!text || present(h, c))
        return 0;
    rc = write_atomic(h, c, path, text);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "maintenance mode back on while the rollback goes on");
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "maintenance",
    .version = "1.0.0",
    .summary = "put the site into maintenance mode (ROOT/MAINTENANCE) and out of it",
    .settings = settings,
    .validate = m_validate,
    .plan = m_plan,
    .run = m_run,
    .undo = m_undo,
};
