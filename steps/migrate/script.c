/* <custom><script>: an executable inside the package or site, run with a
 * documented environment, no shell, no password on argv, a timeout.
 *
 * Environment (besides the inherited one, which carries
 * $NEXO_DB_PASSWORD when that is how the password is given):
 *   NEXO_FROM_VERSION NEXO_TO_VERSION  the migration file's versions
 *   NEXO_SITE_ROOT NEXO_SOURCE_ROOT    the site; the package (or site) root
 *   NEXO_UPDATE_ID NEXO_COMPONENT
 *   NEXO_DB_DRIVER NEXO_DB_HOST NEXO_DB_PORT NEXO_DB_NAME NEXO_DB_USER
 *   NEXO_DB_PATH (sqlite) NEXO_DB_PASSWORD_FILE (when [database]
 *   password_file is set: the path of that 0600 file)
 * The working folder is the source root; stdout and stderr go to the log. */
#include "migrate.h"
#include "util.h"

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
#include <time.h>
#include <unistd.h>

static void setenv_opt(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void child(const struct nexo_host *h, nexo_ctx *c, const char *base, const char *path,
                  const char *from, const char *to, int outfd)
{
    dup2(outfd, 1);
    dup2(outfd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    setenv_opt("NEXO_FROM_VERSION", from);
    setenv_opt("NEXO_TO_VERSION", to);
    setenv_opt("NEXO_SITE_ROOT", h->info(c, "root"));
    setenv_opt("NEXO_SOURCE_ROOT", base);
    setenv_opt("NEXO_UPDATE_ID", h->info(c, "update_id"));
    setenv_opt("NEXO_COMPONENT", h->info(c, "component"));
    static const char *const keys[] = { "driver", "host", "port", "name", "user", "path",
                                        "password_file" };
    static const char *const vars[] = { "NEXO_DB_DRIVER", "NEXO_DB_HOST", "NEXO_DB_PORT",
                                        "NEXO_DB_NAME", "NEXO_DB_USER", "NEXO_DB_PATH",
                                        "NEXO_DB_PASSWORD_FILE" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        setenv_opt(vars[i], h->config(c, "database", keys[i]));
    if (chdir(base) != 0)
        _exit(126);
    char *argv[] = { (char *)path, NULL };
    execv(path, argv);
    dprintf(2, "cannot run %s: %s\n", path, strerror(errno));
    _exit(127);
}

/* Log the script's output line by line until it ends or time runs out. */
static int pump(const struct nexo_host *h, nexo_ctx *c, int fd, const char *name,
                long long deadline_ms)
{
    char buf[4096];
    size_t used = 0;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now >= deadline_ms)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int pr = poll(&p, 1, (int)(deadline_ms - now > 1000 ? 1000 : deadline_ms - now));
        if (pr < 0 && errno != EINTR)
            return 0;
        if (pr <= 0)
            continue;
        ssize_t n = read(fd, buf + used, sizeof buf - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        buf[used] = '\0';
        char *start = buf, *nl;
        while ((nl = memchr(start, '\n', used - (size_t)(start - buf))) != NULL) {
            *nl = '\0';
            h->log(c, NEXO_LOG_INFO, "%s: %s", name, start);
            start = nl + 1;
        }
        used -= (size_t)(start - buf);
        memmove(buf, start, used);
        if (used == sizeof buf - 1) {
            buf[used] = '\0';
            h->log(c, NEXO_LOG_INFO, "%s: %s", name, buf);
            used = 0;
        }
    }
    if (used) {
        buf[used] = '\0';
        h->log(c, NEXO_LOG_INFO, "%s: %s", name, buf);
    }
    return 0;
}

/* The script must be a regular executable file inside base. */
static int resolve(const struct nexo_host *h, nexo_ctx *c, const char *base, const char *script,
                   const char *where, char *out)
{
    char *joined = nx_path_join(base, script);
    char rbase[PATH_MAX];
    int rc = 0;
    struct stat st;
    if (!realpath(base, rbase) || !realpath(joined, out))
        rc = h->fail(c, NEXO_ENOTFOUND, "%s: custom script %s: %s", where, joined,
                     strerror(errno));
    else if (strncmp(out, rbase, strlen(rbase)) != 0 || out[strlen(rbase)] != '/')
        rc = h->fail(c, NEXO_EINVAL, "%s: custom script %s leaves %s", where, script, base);
    else if (stat(out, &st) != 0 || !S_ISREG(st.st_mode) || access(out, X_OK) != 0)
        rc = h->fail(c, NEXO_EINVAL, "%s: custom script %s is not an executable file", where,
                     joined);
    free(joined);
    return rc;
}

int mg_run_script(const struct nexo_host *h, nexo_ctx *c, const char *base, const char *script,
                  const char *from, const char *to, int timeout_s, const char *where)
{
    char path[PATH_MAX];
    int rc = resolve(h, c, base, script, where, path);
    if (rc)
        return rc;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return h->fail(c, NEXO_EIO, "pipe: %s", strerror(errno));
    h->log(c, NEXO_LOG_INFO, "running custom script %s", script);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return h->fail(c, NEXO_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0)
        child(h, c, base, path, from, to, fds[1]);
    close(fds[1]);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long deadline = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
                         (long long)timeout_s * 1000;
    int timed_out = pump(h, c, fds[0], script, deadline) != 0;
    close(fds[0]);
    int status = 0;
    pid_t w = 0;
    while (!timed_out) {
        w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= deadline)
            timed_out = 1;
        else
            usleep(50000);
    }
    if (timed_out) {
        kill(pid, SIGTERM);
        sleep(1);
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    if (timed_out)
        return h->fail(c, NEXO_ERROR, "%s: custom script %s did not finish within %d s (killed)",
                       where, script, timeout_s);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return h->fail(c, NEXO_ERROR, "%s: custom script %s failed with exit code %d", where,
                       script, WEXITSTATUS(status));
    return h->fail(c, NEXO_ERROR, "%s: custom script %s was killed by signal %d", where, script,
                   WTERMSIG(status));
}
