/*
 * health_check — refuses to start an update the site cannot take (spec
 * §4.1). Changes nothing (NEXO_STEP_PRECHECK); undo has nothing to do.
 *
 *   - the running user is root or the owner of the site root (else the
 *     owner is named);
 *   - the site root, every [site] managed path and its folder are
 *     writable (the first one that is not is named); for a plugin (fact
 *     component_dir) its folder and the folder above it instead (when
 *     that does not exist yet, the nearest one that does);
 *   - for [database] driver = sqlite: the database file [database] path
 *     (when it exists) and its folder are writable (SQLite writes its
 *     journal and nexo-update its lock file <path>.nexo-lock beside it;
 *     the migration and its undo would fail otherwise), the path named;
 *   - at least min_free_mb MB are free on the filesystems of the site
 *     root, [paths] state and [paths] backups;
 *   - the PHP the site runs, [php] binary of the config (default php on
 *     the PATH), meets the offer's requires.php and loads the extensions
 *     of requires.php_extensions and of the setting php_extensions (space
 *     separated) in `BINARY -m`; when that binary cannot be run the step
 *     fails naming [php] binary and the config file, unless [php] check =
 *     off (then a warning says PHP was not checked);
 *   - the database is reachable (check_database = true) and its server
 *     version meets the offer's "requires".
 * The offer's requires come from the manifest the verify step shares as
 * "manifest_file" (a pipeline that runs health_check before verify, as the
 * shipped ones do, has them checked by the update check instead).
 * "No other update is running" holds already: the host holds the lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/driver.h>
#include <nexo/step.h>

#include "semver.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define PHP_TIMEOUT_MS 30000
#define OUT_MAX 65536

static const struct nexo_setting settings[] = {
    { "min_free_mb", "500", 0, "MB that must be free on the site, state and backups filesystems" },
    { "php_extensions", NULL, 0, "space-separated PHP extensions that must be loaded" },
    { "check_database", "true", 0, "true: the database must be reachable and recent enough" },
    { NULL, NULL, 0, NULL },
};

static int parse_bool(const char *s, int *out)
{
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1") || !strcmp(s, "on")))
        *out = 1;
    else if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0") ||
                   !strcmp(s, "off")))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_mb(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int hc_validate(const struct nexo_host *h, nexo_ctx *c)
{
    unsigned long long mb;
    int b;
    if (parse_mb(h->setting(c, "min_free_mb"), &mb) != 0)
        return h->fail(c, NEXO_EINVAL, "min_free_mb = %s: expected a number of MB",
                       h->setting(c, "min_free_mb"));
    if (parse_bool(h->setting(c, "check_database"), &b) != 0)
        return h->fail(c, NEXO_EINVAL, "check_database = %s: expected true or false",
                       h->setting(c, "check_database"));
    if (!h->info(c, "root"))
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    return 0;
}

/* ---- running user and permissions ---- */

static int check_owner(const struct nexo_host *h, nexo_ctx *c, const char *root)
{
    struct stat st;
    if (stat(root, &st) != 0)
        return h->fail(c, NEXO_ENOTFOUND, "site root %s: %s", root, strerror(errno));
    uid_t me = geteuid();
    if (me == 0 || st.st_uid == me)
        return 0;
    struct passwd *pw = getpwuid(st.st_uid);
    char owner[300];
    if (pw)
        snprintf(owner, sizeof owner, "%s (uid %u)", pw->pw_name, (unsigned)st.st_uid);
    else
        snprintf(owner, sizeof owner, "uid %u", (unsigned)st.st_uid);
    return h->fail(c, NEXO_EINVAL,
                   "running as uid %u, but the site's files belong to %s: "
                   "run as that user or as root", (unsigned)me, owner);
}

/* The path (when it exists) and its parent must be writable; a parent
 * not made yet (a plugin's first install): its nearest existing folder. */
static int check_writable(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
        return h->fail(c, NEXO_EIO, "%s is not writable by uid %u: %s", path,
                       (unsigned)geteuid(), strerror(errno));
    char *parent = nx_dirname(path);
    while (access(parent, F_OK) != 0 && errno == ENOENT && strcmp(parent, "/") != 0) {
        char *up = nx_dirname(parent);
        free(parent);
        parent = up;
    }
    int bad = access(parent, W_OK) != 0;
    int err = errno;
    int rc = 0;
    if (bad)
        rc = h->fail(c, NEXO_EIO, "%s (the folder of %s) is not writable by uid %u: %s", parent,
                     path, (unsigned)geteuid(), strerror(err));
    free(parent);
    return rc;
}

/* The site root itself (not its parent: the update writes inside it), then
 * every managed path and its folder. */
static int check_managed(const struct nexo_host *h, nexo_ctx *c, const char *root)
{
    int rc = 0;
    if (access(root, W_OK) != 0)
        rc = h->fail(c, NEXO_EIO, "the site root %s is not writable by uid %u: %s", root,
                     (unsigned)geteuid(), strerror(errno));
    const char *dir = h->info(c, "component_dir");
    const char *list = dir && *dir ? dir : h->config(c, "site", "managed");
    char *copy = nx_xstrdup(list ? list : "");
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t,", &save); tok && rc == 0;
         tok = strtok_r(NULL, " \t,", &save)) {
        char *path = tok[0] == '/' ? nx_xstrdup(tok) : nx_path_join(root, tok);
        rc = check_writable(h, c, path);
        free(path);
    }
    free(copy);
    return rc;
}

/* SQLite: the database file (when it exists) and its folder, where
 * SQLite writes its journal and the driver its lock file. */
static int check_sqlite(const struct nexo_host *h, nexo_ctx *c)
{
    const char *driver = h->config(c, "database", "driver");
    const char *path = h->config(c, "database", "path");
    if (!driver || strcmp(driver, "sqlite") != 0 || !path || !*path)
        return 0;
    if (access(path, F_OK) == 0 && access(path, W_OK) != 0)
        return h->fail(c, NEXO_EIO, "the SQLite database %s is not writable by uid %u: %s",
                       path, (unsigned)geteuid(), strerror(errno));
    char *dir = nx_dirname(path);
    int rc = 0;
    if (access(dir, W_OK) != 0)
        rc = h->fail(c, NEXO_EIO, "%s (the folder of the SQLite database %s) is not writable "
                     "by uid %u: %s", dir, path, (unsigned)geteuid(), strerror(errno));
    free(dir);
    return rc;
}

/* ---- disk space ---- */

/* statvfs of path or of its nearest existing parent. */
static int free_mb(const char *path, unsigned long long *mb)
{
    char *p = nx_xstrdup(path);
    struct statvfs sv;
    int rc = statvfs(p, &sv);
    while (rc != 0 && errno == ENOENT && strcmp(p, "/") != 0 && strcmp(p, ".") != 0) {
        char *up = nx_dirname(p);
        free(p);
        p = up;
        rc = statvfs(p, &sv);
    }
    free(p);
    if (rc != 0)
        return -1;
    *mb = (unsigned long long)sv.f_bavail * sv.f_frsize / (1024 * 1024);
    return 0;
}

static int check_space_of(const struct nexo_host *h, nexo_ctx *c, const char *what,
                          const char *path, unsigned long long need)
{
    unsigned long long have = 0;
    if (!path) {
        h->log(c, NEXO_LOG_DEBUG, "%s is not set: free space not checked", what);
        return 0;
    }
    if (free_mb(path, &have) != 0)
        return h->fail(c, NEXO_EIO, "%s %s: cannot read free space: %s", what, path,
                       strerror(errno));
    if (have < need)
        return h->fail(c, NEXO_EIO,
                       "only %llu MB free on the filesystem of %s (%s); %llu MB needed "
                       "(min_free_mb)", have, what, path, need);
    h->log(c, NEXO_LOG_DEBUG, "%llu MB free for %s (%s)", have, what, path);
    return 0;
}

static int check_space(const struct nexo_host *h, nexo_ctx *c, const char *root)
{
    unsigned long long need = 0;
    if (parse_mb(h->setting(c, "min_free_mb"), &need) != 0)
        return h->fail(c, NEXO_EINVAL, "min_free_mb = %s: expected a number of MB",
                       h->setting(c, "min_free_mb"));
    const char *state = h->info(c, "state_dir");
    const char *backups = h->info(c, "backups_dir");
    int rc = check_space_of(h, c, "the site root", root, need);
    if (!rc)
        rc = check_space_of(h, c, "[paths] state", state ? state : h->config(c, "paths", "state"),
                            need);
    if (!rc)
        rc = check_space_of(h, c, "[paths] backups",
                            backups ? backups : h->config(c, "paths", "backups"), need);
    return rc;
}

/* ---- PHP ---- */

/* [php] binary (default php; searched on the PATH when it names no
 * folder) into buf; 0, or -1 with why. */
static int find_php(const struct nexo_host *h, nexo_ctx *c, char *buf, size_t len, char *why,
                    size_t wlen)
{
    const char *bin = h->config(c, "php", "binary");
    if (!bin || !*bin)
        bin = "php";
    if (strchr(bin, '/')) {
        snprintf(buf, len, "%s", bin);
        if (access(buf, X_OK) == 0)
            return 0;
        snprintf(why, wlen, "%s: %s", bin, strerror(errno));
        return -1;
    }
    const char *path = getenv("PATH");
    char *copy = nx_xstrdup(path ? path : "/usr/bin:/bin");
    char *save = NULL;
    int found = -1;
    for (char *d = strtok_r(copy, ":", &save); d && found; d = strtok_r(NULL, ":", &save)) {
        int n = snprintf(buf, len, "%s/%s", *d ? d : ".", bin);
        struct stat st;
        if (n > 0 && (size_t)n < len && stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
            access(buf, X_OK) == 0)
            found = 0;
    }
    free(copy);
    if (found)
        snprintf(why, wlen, "not found on the PATH");
    return found;
}

/* [php] binary cannot be run for `what`: fail naming the setting and the
 * config file, or with [php] check = off warn and go on. */
static int php_cannot(const struct nexo_host *h, nexo_ctx *c, const char *what, const char *why)
{
    const char *bin = h->config(c, "php", "binary");
    const char *check = h->config(c, "php", "check");
    const char *file = h->info(c, "config_file");
    if (check && strcmp(check, "off") == 0) {
        h->log(c, NEXO_LOG_WARN, "%s: not checked ([php] check = off)", what);
        return 0;
    }
    return h->fail(c, NEXO_ENOTFOUND, "%s: not checked: [php] binary = %s (in %s) cannot be "
                   "run: %s; set [php] binary to the PHP the site runs (e.g. /usr/bin/php8.2), "
                   "or [php] check = off", what, bin && *bin ? bin : "php",
                   file ? file : "the configuration", why);
}

static void exec_child(char *const argv[], int outfd)
{
    dup2(outfd, 1);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 2);
    }
    execv(argv[0], argv);
    _exit(127);
}

/* Read fd into out until EOF or the deadline; -1 when time ran out. */
static int read_all(int fd, char *out, size_t len, long long deadline)
{
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
        char tmp[4096];
        ssize_t n = read(fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t k = (size_t)n < len - 1 - used ? (size_t)n : len - 1 - used;
        memcpy(out + used, tmp, k);
        used += k;
    }
    out[used] = '\0';
    return 0;
}

/* Run argv, capture stdout; returns the exit code, -1 on failure. */
static int capture(char *const argv[], char *out, size_t len)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0)
        exec_child(argv, fds[1]);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return -1;
    }
    int late = read_all(fds[0], out, len, nx_mono_ms() + PHP_TIMEOUT_MS) != 0;
    close(fds[0]);
    if (late)
        kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (late || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Is `ext` a line of `php -m` (case-insensitive)? */
static int has_line(const char *text, const char *ext)
{
    size_t n = strlen(ext);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncasecmp(l, ext, n) == 0 && (l[n] == '\n' || l[n] == '\r' || l[n] == '\0'))
            return 1;
    }
    return 0;
}

/* The extensions to look for: the setting php_extensions (space
 * separated) and the offer's requires.php_extensions, as one string. */
static char *wanted_extensions(const struct nexo_host *h, nexo_ctx *c, json_t *req)
{
    const char *set = h->setting(c, "php_extensions");
    char *want = nx_xstrdup(set ? set : "");
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(req, "php_extensions"), i, x) {
        if (!json_is_string(x))
            continue;
        char *more = nx_xasprintf("%s%s%s", want, *want ? " " : "", json_string_value(x));
        free(want);
        want = more;
    }
    return want;
}

static int check_extensions(const struct nexo_host *h, nexo_ctx *c, const char *php,
                            const char *want)
{
    char *out = nx_xmalloc(OUT_MAX);
    char *argv[] = { (char *)php, (char *)"-m", NULL };
    int rc = 0;
    if (capture(argv, out, OUT_MAX) != 0) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof why, "'%s -m' failed", php);
        char *what = nx_xasprintf("php_extensions %s", want);
        rc = php_cannot(h, c, what, why);
        free(what);
        free(out);
        return rc;
    }
    char *copy = nx_xstrdup(want);
    char *save = NULL;
    for (char *e = strtok_r(copy, " \t,", &save); e && rc == 0; e = strtok_r(NULL, " \t,", &save))
        if (!has_line(out, e))
            rc = h->fail(c, NEXO_ENOTFOUND, "the PHP extension %s is not loaded (%s -m)", e, php);
    if (rc == 0)
        h->log(c, NEXO_LOG_INFO, "PHP extensions present: %s", want);
    free(copy);
    free(out);
    return rc;
}

/* 1 matches, 0 not (message set), <0 error (message set). */
static int in_range(const struct nexo_host *h, nexo_ctx *c, const char *what,
                    const char *range, const char *version)
{
    nx_err e;
    nx_semver v;
    nx_range *r = NULL;
    if (nx_semver_parse_loose(version, &v, &e) != 0)
        return h->fail(c, NEXO_EINVAL, "%s version: %s", what, e.msg);
    if (nx_range_parse(range, &r, &e) != 0) {
        nx_semver_free(&v);
        return h->fail(c, NEXO_EINVAL, "the release requires %s %s: %s", what, range, e.msg);
    }
    int ok = nx_range_match(r, &v);
    nx_range_free(r);
    nx_semver_free(&v);
    if (!ok)
        return h->fail(c, NEXO_ENOTSUP, "the release requires %s %s, the site has %s", what,
                       range, version);
    h->log(c, NEXO_LOG_INFO, "%s %s meets %s", what, version, range);
    return 0;
}

static int check_php_version(const struct nexo_host *h, nexo_ctx *c, const char *php,
                             const char *range)
{
    char out[256];
    char *argv[] = { (char *)php, (char *)"-r", (char *)"echo PHP_VERSION;", NULL };
    if (capture(argv, out, sizeof out) != 0 || !out[0]) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof why, "'%s -r 'echo PHP_VERSION;'' failed", php);
        char *what = nx_xasprintf("php %s", range);
        int rc = php_cannot(h, c, what, why);
        free(what);
        return rc;
    }
    return in_range(h, c, "php", range, out);
}

/* requires.php and the extensions, with [php] binary. */
static int check_php(const struct nexo_host *h, nexo_ctx *c, json_t *req)
{
    const char *range = json_string_value(json_object_get(req, "php"));
    char *want = wanted_extensions(h, c, req);
    char php[PATH_MAX], why[PATH_MAX + 64];
    int rc = 0;
    if (!range && !*want) {
        free(want);
        return 0;
    }
    if (find_php(h, c, php, sizeof php, why, sizeof why) != 0) {
        char *what = range ? nx_xasprintf("php %s", range)
                           : nx_xasprintf("php_extensions %s", want);
        rc = php_cannot(h, c, what, why);
        free(what);
    } else {
        if (range)
            rc = check_php_version(h, c, php, range);
        if (!rc && *want)
            rc = check_extensions(h, c, php, want);
    }
    free(want);
    return rc;
}

/* ---- database ---- */

static json_t *requirements(const struct nexo_host *h, nexo_ctx *c)
{
    const char *mf = h->shared_get(c, "manifest_file");
    if (!mf)
        return NULL;
    json_error_t je;
    json_t *doc = json_load_file(mf, 0, &je);
    if (!doc) {
        h->log(c, NEXO_LOG_WARN, "%s: %s: requirements not checked", mf, je.text);
        return NULL;
    }
    json_t *req = json_object_get(doc, "requires");
    json_incref(req);
    json_decref(doc);
    return json_is_object(req) ? req : (json_decref(req), NULL);
}

/* The requirement for the driver's dialect, if any. */
static const char *db_requirement(const struct nexo_host *h, nexo_ctx *c, json_t *req,
                                  const char *dialect)
{
    const char *keys[] = { "postgresql", "mysql", "mariadb", "sqlite" };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *range = json_string_value(json_object_get(req, keys[i]));
        if (!range)
            continue;
        if (dialect && strcmp(dialect, keys[i]) == 0)
            return range;
        h->log(c, NEXO_LOG_DEBUG, "requirement %s %s: not this site's database (%s)",
               keys[i], range, dialect ? dialect : "?");
    }
    return NULL;
}

static int check_database(const struct nexo_host *h, nexo_ctx *c, json_t *req)
{
    int want = 1;
    parse_bool(h->setting(c, "check_database"), &want);
    if (!want)
        return 0;
    struct nexo_db *db = h->db(c);
    if (!db) {
        char why[1024];
        snprintf(why, sizeof why, "%s", h->errmsg(c)); /* fail() overwrites it */
        return h->fail(c, NEXO_EDB, "the database is not reachable: %s", why);
    }
    h->log(c, NEXO_LOG_INFO, "database reachable (%s)", db->driver->name);
    const char *range = db_requirement(h, c, req, db->driver->dialect);
    if (!range)
        return 0;
    char ver[256];
    int rc = db->driver->server_version(h, c, db->conn, ver, sizeof ver);
    if (rc)
        return rc;
    return in_range(h, c, db->driver->dialect, range, ver);
}

static int check_offer(const struct nexo_host *h, nexo_ctx *c)
{
    json_t *req = requirements(h, c);
    int rc = check_php(h, c, req);
    if (!rc)
        rc = check_database(h, c, req);
    json_decref(req);
    return rc;
}

static int hc_run(const struct nexo_host *h, nexo_ctx *c)
{
    const char *root = h->info(c, "root");
    if (!root)
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    int rc = check_owner(h, c, root);
    if (!rc)
        rc = check_managed(h, c, root);
    if (!rc)
        rc = check_sqlite(h, c);
    if (!rc)
        rc = check_space(h, c, root);
    if (!rc)
        rc = check_offer(h, c);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "no other update is running (this one holds the lock); "
                                 "the site is ready for the update");
    return rc;
}

static int hc_plan(const struct nexo_host *h, nexo_ctx *c)
{
    return hc_run(h, c);
}

static int hc_undo(const struct nexo_host *h, nexo_ctx *c)
{
    (void)h;
    (void)c;
    return 0; /* checks change nothing */
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "health_check",
    .version = "1.0.0",
    .summary = "check disk space, permissions, user, PHP and database before an update",
    .flags = NEXO_STEP_PRECHECK,
    .settings = settings,
    .validate = hc_validate,
    .plan = hc_plan,
    .run = hc_run,
    .undo = hc_undo,
};
