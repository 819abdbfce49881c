/* A step module for tests. Its run leaves visible effects in `dir`, its
 * undo removes them and says so in the record file exactly when it
 * removed something, so that tests can count real undos. Built twice:
 * as fake_step (changes the site) and as fake_check (NEXO_STEP_PRECHECK). */
#define _POSIX_C_SOURCE 200809L
#include <nexo/step.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef FAKE_PRECHECK
#define FAKE_NAME "fake_check"
#define FAKE_FLAGS NEXO_STEP_PRECHECK
#else
#define FAKE_NAME "fake_step"
#define FAKE_FLAGS 0u
#endif

static const struct nexo_setting settings[] = {
    { "dir", NULL, NEXO_SETTING_REQUIRED, "folder for the step's effects and record" },
    { "checkpoints", "0", 0, "checkpoints to report during run" },
    { "fail", "none", 0, "run|undo|commit|validate: fail there" },
    { "kill", "none", 0, "commit: SIGKILL the process there (not when recovering)" },
    { "sleep_ms", "0", 0, "sleep this long in run" },
    { NULL, NULL, 0, NULL },
};

static void path_of(const struct nexo_host *h, nexo_ctx *c, const char *suffix, char *buf,
                    size_t len)
{
    snprintf(buf, len, "%s/%s.%s", h->setting(c, "dir"), h->info(c, "step"), suffix);
}

static int record(const struct nexo_host *h, nexo_ctx *c, const char *what)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/record.log", h->setting(c, "dir"));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: %s", path, strerror(errno));
    int n = snprintf(line, sizeof line, "%s %s%s\n", what, h->info(c, "step"),
                     strcmp(h->info(c, "recovering"), "1") == 0 ? " recovering" : "");
    int ok = write(fd, line, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    return ok ? 0 : h->fail(c, NEXO_EIO, "%s: write failed", path);
}

static int touch(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: %s", path, strerror(errno));
    fsync(fd);
    close(fd);
    return 0;
}

static int is(const struct nexo_host *h, nexo_ctx *c, const char *key, const char *val)
{
    const char *v = h->setting(c, key);
    return v && strcmp(v, val) == 0;
}

static int fake_validate(const struct nexo_host *h, nexo_ctx *c)
{
    if (is(h, c, "fail", "validate"))
        return h->fail(c, NEXO_EINVAL, "fail = validate");
    if (access(h->setting(c, "dir"), W_OK) != 0)
        return h->fail(c, NEXO_EINVAL, "dir %s is not a writable folder", h->setting(c, "dir"));
    return 0;
}

static int fake_plan(const struct nexo_host *h, nexo_ctx *c)
{
    h->log(c, NEXO_LOG_INFO, "would create %s/%s.applied", h->setting(c, "dir"),
           h->info(c, "step"));
    return 0;
}

static int fake_run(const struct nexo_host *h, nexo_ctx *c)
{
    char path[4096];
    int rc = h->state_set(c, "applied", "1");
    if (rc)
        return rc;
    path_of(h, c, "applied", path, sizeof path);
    rc = touch(h, c, path);
    if (!rc)
        rc = record(h, c, "run");
    int n = atoi(h->setting(c, "checkpoints"));
    for (int i = 1; !rc && i <= n; i++) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "part%d", i);
        path_of(h, c, suffix, path, sizeof path);
        rc = touch(h, c, path);
        if (!rc)
            rc = h->checkpoint(c, suffix);
    }
    long ms = atol(h->setting(c, "sleep_ms"));
    if (!rc && ms > 0) {
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (!rc && is(h, c, "fail", "run"))
        rc = h->fail(c, NEXO_ERROR, "fail = run");
    return rc;
}

static int fake_undo(const struct nexo_host *h, nexo_ctx *c)
{
    char path[4096];
    if (is(h, c, "fail", "undo"))
        return h->fail(c, NEXO_ERROR, "fail = undo");
    int n = atoi(h->setting(c, "checkpoints"));
    for (int i = 1; i <= n; i++) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "part%d", i);
        path_of(h, c, suffix, path, sizeof path);
        unlink(path);
    }
    path_of(h, c, "applied", path, sizeof path);
    if (unlink(path) == 0)
        return record(h, c, "undo");
    if (errno != ENOENT)
        return h->fail(c, NEXO_EIO, "%s: %s", path, strerror(errno));
    return 0;
}

static int fake_commit(const struct nexo_host *h, nexo_ctx *c)
{
    char path[4096];
    if (is(h, c, "kill", "commit") && strcmp(h->info(c, "recovering"), "1") != 0)
        raise(SIGKILL);
    if (is(h, c, "fail", "commit"))
        return h->fail(c, NEXO_ERROR, "fail = commit");
    path_of(h, c, "committed", path, sizeof path);
    if (access(path, F_OK) == 0)
        return 0;
    int rc = touch(h, c, path);
    return rc ? rc : record(h, c, "commit");
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = FAKE_NAME,
    .version = "1.0.0",
    .summary = "test step with visible effects",
    .flags = FAKE_FLAGS,
    .settings = settings,
    .validate = fake_validate,
    .plan = fake_plan,
    .run = fake_run,
    .undo = fake_undo,
    .commit = fake_commit,
};
