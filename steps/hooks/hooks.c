/*
 * hooks — runs the site's own executables at fixed points of an update.
 *
 *   event = update.before | update.after | rollback.after
 *   dir   = the folder holding EVENT.d/ (default: the config file's folder
 *           + "/hooks"), timeout = seconds per hook (default 60).
 *
 * Every regular executable file of DIR/EVENT.d/ runs in strcmp order
 * (dotfiles, "*~" and "*.dpkg-*" are skipped). The hook folder, every
 * folder above it and every hook must belong to root or the running user
 * and not be group- or world-writable (contracts §9): otherwise the step
 * refuses in validate, before anything changes, and again in run. A hook gets
 * NEXO_EVENT NEXO_FROM_VERSION NEXO_TO_VERSION NEXO_SITE_ROOT
 * NEXO_UPDATE_ID NEXO_COMPONENT in its environment, /dev/null as stdin; its
 * output goes to the log line by line. A non-zero exit or a timeout (TERM,
 * then KILL 5 s later) fails the step.
 *
 * Hooks cannot be undone: undo of update.before/update.after does nothing.
 * (Setting `when` = run | undo | auto changes that; auto is what follows.)
 * rollback.after is the other way round: run does nothing and undo runs the
 * hooks, so put such an instance early in the pipeline (before
 * maintenance-on) and its hooks run late while the update is unwound:
 *
 *   [hooks-rollback]
 *   module = hooks
 *   event = rollback.after
 *
 * A failing rollback.after hook is logged as a warning; the rollback goes on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/step.h>

#include "secpath.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KILL_GRACE_MS 5000

extern char **environ;

static const struct nexo_setting settings[] = {
    { "event", NULL, NEXO_SETTING_REQUIRED, "update.before, update.after or rollback.after" },
    { "dir", NULL, 0, "folder holding EVENT.d/ (default: hooks/ next to the config file)" },
    { "timeout", "60", 0, "seconds each hook may run" },
    { "when", "auto", 0, "run | undo | auto: when the hooks run (auto: rollback.after in undo, "
                         "while an update is undone; the others in run). The rollback "
                         "pipeline runs rollback.after in run: its run is the rollback" },
    { NULL, NULL, 0, NULL },
};

struct namelist {
    char **v;
    size_t n, cap;
};

static int valid_event(const char *ev)
{
    return ev && (strcmp(ev, "update.before") == 0 || strcmp(ev, "update.after") == 0 ||
                  strcmp(ev, "rollback.after") == 0);
}

/* Do the hooks run in undo (rather than in run)? */
static int is_rollback(const struct nexo_host *h, nexo_ctx *c)
{
    const char *w = h->setting(c, "when");
    if (w && strcmp(w, "run") == 0)
        return 0;
    if (w && strcmp(w, "undo") == 0)
        return 1;
    return strcmp(h->setting(c, "event"), "rollback.after") == 0;
}

static int parse_timeout(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < 1 || v > 86400)
        return -1;
    *out = (int)v;
    return 0;
}

/* DIR/EVENT.d into buf. */
static int event_dir(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len)
{
    const char *dir = h->setting(c, "dir");
    const char *ev = h->setting(c, "event");
    char *base = NULL;
    if (!dir || !*dir) {
        const char *cf = h->info(c, "config_file");
        if (!cf)
            return h->fail(c, NEXO_EINVAL, "dir is not set and the config file is unknown");
        char *cdir = nx_dirname(cf);
        base = nx_path_join(cdir, "hooks");
        free(cdir);
        dir = base;
    }
    int n = snprintf(buf, len, "%s/%s.d", dir, ev);
    free(base);
    if (n < 0 || (size_t)n >= len)
        return h->fail(c, NEXO_EINVAL, "hooks folder path too long");
    return 0;
}

static int skipped_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || name[n - 1] == '~' || strstr(name, ".dpkg-") != NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct namelist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static void names_add(struct namelist *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = nx_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = nx_xstrdup(name);
}

/* The names in dir, sorted; 1 when dir does not exist. */
static int list_dir(const struct nexo_host *h, nexo_ctx *c, const char *dir, struct namelist *l)
{
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT)
        return 1;
    if (!d)
        return h->fail(c, NEXO_EIO, "%s: cannot open: %s", dir, strerror(errno));
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        if (!skipped_name(e->d_name))
            names_add(l, e->d_name);
    closedir(d);
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, cmp_names);
    return 0;
}

/* Where the hook folders are set, for messages. */
static const char *dir_origin(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len)
{
    const char *dir = h->setting(c, "dir");
    if (dir && *dir) {
        snprintf(buf, len, "the step's setting dir = %s", dir);
    } else {
        const char *cf = h->info(c, "config_file");
        snprintf(buf, len, "hooks/ beside %s", cf ? cf : "the configuration file");
    }
    return buf;
}

/* 1: run it, 0: skip it, <0: refused (message set). A hook, like the
 * folders above it, must belong to root or the running user and not be
 * writable by group or others (core/secpath.h). */
static int usable(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return h->fail(c, NEXO_EIO, "hook %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode) || access(path, X_OK) != 0) {
        h->log(c, NEXO_LOG_DEBUG, "skipping %s: not an executable file", path);
        return 0;
    }
    nx_err e;
    if (nx_check_secure_path(path, &e) != 0) {
        char where[PATH_MAX + 64];
        return h->fail(c, NEXO_EINVAL, "hook %s (hook folders: %s)", e.msg,
                       dir_origin(h, c, where, sizeof where));
    }
    return 1;
}

/* The event's hook folder (and the folders above it) and every hook in
 * it: 0 with the sorted names in l, 1 when there is no such folder, <0
 * refused (message set). */
static int trusted_hooks(const struct nexo_host *h, nexo_ctx *c, const char *dir,
                         struct namelist *l)
{
    struct stat st;
    if (lstat(dir, &st) != 0 && errno == ENOENT)
        return 1;
    nx_err e;
    if (nx_check_secure_dir(dir, "hook folder", 0, &e) != 0) {
        char where[PATH_MAX + 64];
        return h->fail(c, NEXO_EINVAL, "%s; refused before running any hook: only root or the "
                       "running user may write the hook folders (%s)", e.msg,
                       dir_origin(h, c, where, sizeof where));
    }
    int rc = list_dir(h, c, dir, l);
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        char *path = nx_path_join(dir, l->v[i]);
        int use = usable(h, c, path);
        rc = use < 0 ? use : 0;
        free(path);
    }
    return rc;
}

static const char *const env_names[] = { "NEXO_EVENT", "NEXO_FROM_VERSION", "NEXO_TO_VERSION",
                                         "NEXO_SITE_ROOT", "NEXO_UPDATE_ID", "NEXO_COMPONENT" };
#define NENV (sizeof env_names / sizeof env_names[0])

static int ours(const char *entry)
{
    for (size_t i = 0; i < NENV; i++) {
        size_t n = strlen(env_names[i]);
        if (strncmp(entry, env_names[i], n) == 0 && entry[n] == '=')
            return 1;
    }
    return 0;
}

/* The inherited environment without our names, then ours; malloc'ed. */
static char **build_env(const struct nexo_host *h, nexo_ctx *c)
{
    const char *vals[NENV] = { h->setting(c, "event"), h->info(c, "from_version"),
                               h->info(c, "to_version"), h->info(c, "root"),
                               h->info(c, "update_id"), h->info(c, "component") };
    size_t n = 0, k = 0;
    while (environ && environ[n])
        n++;
    char **env = nx_xcalloc(n + NENV + 1, sizeof *env);
    for (size_t i = 0; i < n; i++)
        if (!ours(environ[i]))
            env[k++] = nx_xstrdup(environ[i]);
    for (size_t i = 0; i < NENV; i++)
        env[k++] = nx_xasprintf("%s=%s", env_names[i], vals[i] ? vals[i] : "");
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

static void log_lines(const struct nexo_host *h, nexo_ctx *c, const char *name, char *buf,
                      size_t *used, int flush)
{
    char *start = buf;
    char *nl = memchr(start, '\n', *used);
    while (nl) {
        *nl = '\0';
        h->log(c, NEXO_LOG_INFO, "%s: %s", name, start);
        start = nl + 1;
        nl = memchr(start, '\n', *used - (size_t)(start - buf));
    }
    *used -= (size_t)(start - buf);
    memmove(buf, start, *used);
    if (*used && (flush || *used >= 4095)) {
        buf[*used] = '\0';
        h->log(c, NEXO_LOG_INFO, "%s: %s", name, buf);
        *used = 0;
    }
}

/* Log the hook's output until EOF (0) or the deadline (-1). */
static int pump(const struct nexo_host *h, nexo_ctx *c, int fd, const char *name,
                long long deadline)
{
    char buf[4096];
    size_t used = 0;
    for (;;) {
        long long left = deadline - nx_mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
        log_lines(h, c, name, buf, &used, 0);
    }
    log_lines(h, c, name, buf, &used, 1);
    return 0;
}

/* Wait for pid until the deadline: 0 it ended (*status), -1 time is up. */
static int wait_until(pid_t pid, int *status, long long deadline)
{
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 0;
        if (w < 0 && errno != EINTR)
            return 0;
        if (nx_mono_ms() >= deadline)
            return -1;
        usleep(20000);
    }
}

static void stop(pid_t pid, int *status)
{
    kill(-pid, SIGTERM);
    kill(pid, SIGTERM);
    if (wait_until(pid, status, nx_mono_ms() + KILL_GRACE_MS) == 0) {
        kill(-pid, SIGKILL);
        return;
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

static void child(const char *path, char **env, int outfd)
{
    setpgid(0, 0);
    dup2(outfd, 1);
    dup2(outfd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    char *argv[] = { (char *)path, NULL };
    execve(path, argv, env);
    dprintf(2, "cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
}

static int verdict(const struct nexo_host *h, nexo_ctx *c, const char *path, int status,
                   int timed_out, int timeout_s)
{
    if (timed_out)
        return h->fail(c, NEXO_ERROR, "hook %s did not finish within %d s (killed)", path,
                       timeout_s);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return h->fail(c, NEXO_ERROR, "hook %s exited with %d", path, WEXITSTATUS(status));
    return h->fail(c, NEXO_ERROR, "hook %s was killed by signal %d", path, WTERMSIG(status));
}

static int run_one(const struct nexo_host *h, nexo_ctx *c, const char *path, const char *name,
                   int timeout_s)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return h->fail(c, NEXO_EIO, "pipe: %s", strerror(errno));
    char **env = build_env(h, c);
    h->log(c, NEXO_LOG_INFO, "running hook %s", path);
    pid_t pid = fork();
    if (pid == 0)
        child(path, env, fds[1]);
    int err = errno;
    free_env(env);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return h->fail(c, NEXO_EIO, "fork: %s", strerror(err));
    }
    setpgid(pid, pid);
    long long deadline = nx_mono_ms() + (long long)timeout_s * 1000;
    int status = 0;
    int timed_out = pump(h, c, fds[0], name, deadline) != 0;
    close(fds[0]);
    if (!timed_out)
        timed_out = wait_until(pid, &status, deadline) != 0;
    if (timed_out)
        stop(pid, &status);
    return verdict(h, c, path, status, timed_out, timeout_s);
}

/* Run every hook of the event's folder; journal each when `journal`. */
static int run_all(const struct nexo_host *h, nexo_ctx *c, int journal)
{
    char dir[PATH_MAX];
    int timeout_s = 60;
    int rc = event_dir(h, c, dir, sizeof dir);
    if (rc)
        return rc;
    if (parse_timeout(h->setting(c, "timeout"), &timeout_s) != 0)
        return h->fail(c, NEXO_EINVAL, "timeout = %s: expected seconds (1..86400)",
                       h->setting(c, "timeout"));
    struct namelist l = { NULL, 0, 0 };
    rc = trusted_hooks(h, c, dir, &l);
    if (rc == 1) {
        h->log(c, NEXO_LOG_DEBUG, "no hooks: %s does not exist", dir);
        return 0;
    }
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        char *path = nx_path_join(dir, l.v[i]);
        int use = usable(h, c, path);
        rc = use < 0 ? use : 0;
        if (use == 1 && journal)
            rc = h->state_set(c, "hook", l.v[i]);
        if (use == 1 && rc == 0)
            rc = run_one(h, c, path, l.v[i], timeout_s);
        free(path);
    }
    names_free(&l);
    return rc;
}

static int hk_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *ev = h->setting(c, "event");
    int t;
    if (!valid_event(ev))
        return h->fail(c, NEXO_EINVAL,
                       "event = %s: expected update.before, update.after or rollback.after",
                       ev ? ev : "");
    if (parse_timeout(h->setting(c, "timeout"), &t) != 0)
        return h->fail(c, NEXO_EINVAL, "timeout = %s: expected seconds (1..86400)",
                       h->setting(c, "timeout"));
    char dir[PATH_MAX];
    const char *w = h->setting(c, "when");
    if (w && strcmp(w, "auto") != 0 && strcmp(w, "run") != 0 && strcmp(w, "undo") != 0)
        return h->fail(c, NEXO_EINVAL, "when = %s: expected run, undo or auto", w);
    int rc = event_dir(h, c, dir, sizeof dir);
    if (rc)
        return rc;
    /* an untrusted hook folder is refused before anything changes; run
     * (or undo) checks again when the hooks are about to run */
    struct namelist l = { NULL, 0, 0 };
    rc = trusted_hooks(h, c, dir, &l);
    names_free(&l);
    return rc == 1 ? 0 : rc;
}

static int hk_plan(const struct nexo_host *h, nexo_ctx *c)
{
    char dir[PATH_MAX];
    int rc = event_dir(h, c, dir, sizeof dir);
    if (rc)
        return rc;
    h->log(c, NEXO_LOG_INFO, "would run the hooks of %s%s", dir,
           is_rollback(h, c) ? " if the update is rolled back" : "");
    return 0;
}

static int hk_run(const struct nexo_host *h, nexo_ctx *c)
{
    if (is_rollback(h, c)) {
        h->log(c, NEXO_LOG_DEBUG, "%s hooks run only when the update is undone",
               h->setting(c, "event"));
        return 0;
    }
    return run_all(h, c, 1);
}

static int hk_undo(const struct nexo_host *h, nexo_ctx *c)
{
    if (!is_rollback(h, c)) {
        if (h->state_get(c, "hook"))
            h->log(c, NEXO_LOG_INFO, "the effects of the %s hooks are not undone",
                   h->setting(c, "event"));
        return 0;
    }
    if (run_all(h, c, 0) != 0) {
        char why[1024];
        snprintf(why, sizeof why, "%s", h->errmsg(c));
        h->log(c, NEXO_LOG_WARN, "a %s hook failed (the rollback goes on): %s",
               h->setting(c, "event"), why);
    }
    return 0;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "hooks",
    .version = "1.0.0",
    .summary = "run the site's hooks/<event>.d/ executables (update.before, update.after, "
               "rollback.after)",
    .settings = settings,
    .validate = hk_validate,
    .plan = hk_plan,
    .run = hk_run,
    .undo = hk_undo,
};
