/* <custom><script>: an executable inside the package or site, run with a
 * documented environment, no shell, no password on argv, a timeout.
 *
 * Who runs it (contracts §9): code from the site or a package never runs
 * as root. Running as root on a site whose root folder belongs to another
 * user (www-data), the script runs as that user, with that user's groups
 * (from the password database, else only its group); on a root-owned
 * site, or when nexo-update itself runs as the site's owner, as the
 * running user. The working folder is set (by descriptor, before the
 * privileges go) to the source root, so the script reaches the release by
 * relative paths whatever the names above it. It runs in a process group
 * of its own: on timeout the whole group gets SIGTERM, then SIGKILL.
 *
 * Environment: a fixed PATH (/usr/local/bin:/usr/bin:/bin), HOME, USER
 * and LOGNAME of the user it runs as, LANG/LC_ALL/TZ when set, and:
 *   NEXO_FROM_VERSION NEXO_TO_VERSION  the migration file's versions
 *   NEXO_SITE_ROOT NEXO_SOURCE_ROOT    the site; the package (or site) root
 *   NEXO_UPDATE_ID NEXO_COMPONENT
 *   NEXO_DB_DRIVER NEXO_DB_HOST NEXO_DB_PORT NEXO_DB_NAME NEXO_DB_USER
 *   NEXO_DB_PATH (sqlite) NEXO_DB_SSLMODE NEXO_DB_SSLROOTCERT
 *   NEXO_DB_PASSWORD (from $NEXO_DB_PASSWORD or the [database]
 *   password_file, which the site's user may not be able to read) and
 *   NEXO_DB_PASSWORD_FILE (its path, when set)
 * stdout and stderr go to the log. Nothing else of nexo-update's own
 * environment is passed on. */
#include "migrate.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
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

/* Who the script runs as, found before the fork (the password database
 * is not for a forked child). */
struct runas {
    int drop;               /* root on a site another user owns */
    uid_t uid;
    gid_t gid;
    gid_t groups[64];
    int ngroups;
    char name[64];
    char home[PATH_MAX];
    char *password;         /* for NEXO_DB_PASSWORD (malloc'ed) */
};

static void runas_init(const struct nexo_host *h, nexo_ctx *c, struct runas *u)
{
    memset(u, 0, sizeof *u);
    u->uid = geteuid();
    u->gid = getegid();
    const char *root = h->info(c, "root");
    struct stat st;
    if (u->uid == 0 && root && stat(root, &st) == 0 && st.st_uid != 0) {
        u->drop = 1;
        u->uid = st.st_uid;
        u->gid = st.st_gid;
    }
    struct passwd *pw = getpwuid(u->uid);
    snprintf(u->name, sizeof u->name, "%s", pw ? pw->pw_name : "");
    snprintf(u->home, sizeof u->home, "%s", pw && pw->pw_dir ? pw->pw_dir : "/");
    u->groups[0] = u->gid;
    u->ngroups = 1;
    if (u->drop && pw) {
        int n = (int)(sizeof u->groups / sizeof u->groups[0]);
        if (getgrouplist(pw->pw_name, u->gid, u->groups, &n) >= 0)
            u->ngroups = n;
    }
    const char *env = getenv("NEXO_DB_PASSWORD");
    const char *file = h->config(c, "database", "password_file");
    nx_err e;
    size_t len = 0;
    if (env)
        u->password = nx_xstrdup(env);
    else if (file && nx_read_file(file, &u->password, &len, 4096, &e) == 0)
        u->password[strcspn(u->password, "\r\n")] = '\0';
}

static void putenv_opt(char ***envp, size_t *n, const char *name, const char *value)
{
    if (!value)
        return;
    *envp = nx_xrealloc(*envp, (*n + 2) * sizeof **envp);
    (*envp)[(*n)++] = nx_xasprintf("%s=%s", name, value);
    (*envp)[*n] = NULL;
}

static void child(const struct nexo_host *h, nexo_ctx *c, const struct runas *u,
                  const char *base, const char *path, const char *from, const char *to,
                  int outfd)
{
    setpgid(0, 0);
    dup2(outfd, 1);
    dup2(outfd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    /* The source root by the path the host checked, while still allowed
     * to; then the privileges go, for good. */
    if (chdir(base) != 0) {
        dprintf(2, "cannot enter the source root: %s\n", strerror(errno));
        _exit(126);
    }
    if (u->drop && (setgroups((size_t)u->ngroups, u->groups) != 0 || setgid(u->gid) != 0 ||
                    setuid(u->uid) != 0 || setuid(0) == 0)) {
        dprintf(2, "cannot become uid %u gid %u: %s\n", (unsigned)u->uid, (unsigned)u->gid,
                strerror(errno));
        _exit(126);
    }
    char cwd[PATH_MAX];
    char **envp = NULL;
    size_t n = 0;
    putenv_opt(&envp, &n, "PATH", "/usr/local/bin:/usr/bin:/bin");
    putenv_opt(&envp, &n, "HOME", u->home);
    putenv_opt(&envp, &n, "USER", u->name[0] ? u->name : NULL);
    putenv_opt(&envp, &n, "LOGNAME", u->name[0] ? u->name : NULL);
    static const char *const keep[] = { "LANG", "LC_ALL", "TZ" };
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        putenv_opt(&envp, &n, keep[i], getenv(keep[i]));
    putenv_opt(&envp, &n, "NEXO_FROM_VERSION", from);
    putenv_opt(&envp, &n, "NEXO_TO_VERSION", to);
    putenv_opt(&envp, &n, "NEXO_SITE_ROOT", h->info(c, "root"));
    putenv_opt(&envp, &n, "NEXO_SOURCE_ROOT", getcwd(cwd, sizeof cwd) ? cwd : NULL);
    putenv_opt(&envp, &n, "NEXO_UPDATE_ID", h->info(c, "update_id"));
    putenv_opt(&envp, &n, "NEXO_COMPONENT", h->info(c, "component"));
    static const char *const keys[] = { "driver", "host", "port", "name", "user", "path",
                                        "password_file", "sslmode", "sslrootcert" };
    static const char *const vars[] = { "NEXO_DB_DRIVER", "NEXO_DB_HOST", "NEXO_DB_PORT",
                                        "NEXO_DB_NAME", "NEXO_DB_USER", "NEXO_DB_PATH",
                                        "NEXO_DB_PASSWORD_FILE", "NEXO_DB_SSLMODE",
                                        "NEXO_DB_SSLROOTCERT" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        putenv_opt(&envp, &n, vars[i], h->config(c, "database", keys[i]));
    putenv_opt(&envp, &n, "NEXO_DB_PASSWORD", u->password);
    char *argv[] = { (char *)path, NULL };
    execve(path, argv, envp);
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
    struct runas u;
    runas_init(h, c, &u);
    if (u.drop)
        h->log(c, NEXO_LOG_INFO, "running custom script %s as uid %u gid %u (the site's owner)",
               script, (unsigned)u.uid, (unsigned)u.gid);
    else
        h->log(c, NEXO_LOG_INFO, "running custom script %s", script);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        free(u.password);
        return h->fail(c, NEXO_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0)
        child(h, c, &u, base, path, from, to, fds[1]);
    setpgid(pid, pid); /* also here: no window where the group is not yet its own */
    free(u.password);
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
        kill(-pid, SIGTERM); /* the script and everything it started */
        sleep(1);
        kill(-pid, SIGKILL);
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
