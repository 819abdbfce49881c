/* The update check: fetch (libcurl), the signed static index, the API,
 * requirements and the choice of the offer. See update_check.h. */
#include "update_check.h"
#include "buildconf.h"
#include "records.h"
#include "compat.h"
#include "engine.h"
#include "manifest.h"
#include "phpver.h"
#include "semver.h"
#include "trust.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUTURE_SLACK (24 * 3600) /* generated_at may be this far ahead of our clock */

/* ---- fetching ----------------------------------------------------------- */

struct fetch {
    long timeout;
    int allow_http;
    const char *ca_file;
    const char *api_key;
};

struct buf {
    char *p;
    size_t n;
    int too_big;
};

static void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct buf *b = ud;
    size_t n = size * nmemb;
    if (n > NX_CHECK_MAX_ANSWER - b->n) {
        b->too_big = 1;
        return 0;
    }
    b->p = nx_xrealloc(b->p, b->n + n + 1);
    memcpy(b->p + b->n, ptr, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static int is_loopback(const char *host)
{
    if (!host)
        return 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    return strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0;
}

/* https always, file always, http only to loopback unless allow_http. */
static int url_allowed(const char *url, int allow_http, nx_err *e)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        nx_seterr(e, "%s: not a valid URL", url);
        goto out;
    }
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (strcmp(scheme, "https") == 0 || strcmp(scheme, "file") == 0)
        rc = 0;
    else if (strcmp(scheme, "http") != 0)
        nx_seterr(e, "%s: unsupported scheme '%s' (https, file, or http to loopback)", url,
                  scheme);
    else if (allow_http || is_loopback(host))
        rc = 0;
    else
        nx_seterr(e, "%s: plain http is allowed only to loopback; use https (or set "
                     "[server] allow_http = true)", url);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

static void fetch_setup(CURL *h, const struct fetch *f, const char *url, struct buf *b,
                        char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, f->timeout);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http,file");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, f->allow_http ? "https,http" : "https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)NX_CHECK_MAX_ANSWER);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "nexo-update/" NX_VERSION);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (f->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, f->ca_file);
    if (f->api_key && *f->api_key) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, f->api_key);
    }
}

/* GET (post NULL) or POST form-encoded `post`; the body in b. */
static int fetch(const struct fetch *f, const char *url, const char *post, struct buf *b,
                 nx_err *e)
{
    memset(b, 0, sizeof *b);
    if (url_allowed(url, f->allow_http, e) != 0)
        return -1;
    CURL *h = curl_easy_init();
    if (!h) {
        nx_seterr(e, "%s: cannot set up libcurl", url);
        return -1;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    fetch_setup(h, f, url, b, errbuf);
    if (post)
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, post);
    CURLcode cc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    int rc = -1;
    if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED)
        nx_seterr(e, "answer from %s larger than %u MiB: refused", url,
                  NX_CHECK_MAX_ANSWER / (1024u * 1024u));
    else if (cc != CURLE_OK)
        nx_seterr(e, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    else if (status >= 300)
        nx_seterr(e, "%s: HTTP status %ld", url, status);
    else
        rc = 0;
    if (rc != 0)
        buf_free(b);
    return rc;
}

static json_t *parse_json(const struct buf *b, const char *url, nx_err *e)
{
    json_error_t je;
    json_t *j = json_loadb(b->p ? b->p : "", b->n, JSON_REJECT_DUPLICATES, &je);
    /* jansson quotes the answer near the error, newlines and all: one line */
    for (char *p = je.text; !j && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (!j)
        nx_seterr(e, "%s: malformed JSON at line %d, column %d: %s", url, je.line, je.column,
                  je.text);
    else if (!json_is_object(j)) {
        nx_seterr(e, "%s: the answer is not a JSON object", url);
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* A download_url relative to the source, made absolute. */
static char *url_resolve(const char *base, const char *rel, nx_err *e)
{
    CURLU *u = curl_url();
    char *out = NULL, *res = NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, rel, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
        nx_seterr(e, "download_url '%s' relative to %s: not a valid URL", rel, base);
    else
        res = nx_xstrdup(out);
    curl_free(out);
    curl_url_cleanup(u);
    return res;
}

/* ---- the site ----------------------------------------------------------- */

/* A version.php array of ranges ('requires', 'dependencies'): an object
 * of it, NULL when absent or empty; anything else is noted and ignored. */
static json_t *ranges(json_t *v, const char *key, const char *file, json_t *notes)
{
    json_t *o = json_object_get(v, key);
    if (!o || (json_is_array(o) && json_array_size(o) == 0))
        return NULL;
    if (json_is_object(o))
        return json_incref(o);
    char *t = nx_xasprintf("%s: '%s' is not an array of NAME => RANGE; not checked", file, key);
    json_array_append_new(notes, json_string(t));
    free(t);
    return NULL;
}

/* The version in c->file; for a plugin also its requires and
 * dependencies (the compatibility rules read them). */
static int installed_version(nx_check *chk, nx_component *c, nx_err *e)
{
    json_t *v = nx_phpver_load(c->file, e);
    if (!v)
        return -1;
    const char *ver = json_string_value(json_object_get(v, "version"));
    nx_semver sv;
    int rc = -1;
    if (!ver)
        nx_seterr(e, "%s: no 'version' string", c->file);
    else if (nx_semver_parse(ver, &sv, e) != 0)
        nx_preferr(e, "%s", c->file);
    else {
        nx_semver_free(&sv);
        c->installed = nx_xstrdup(ver);
        if (c->slug) {
            c->requires = ranges(v, "requires", c->file, chk->notes);
            c->dependencies = ranges(v, "dependencies", c->file, chk->notes);
        }
        rc = 0;
    }
    json_decref(v);
    return rc;
}

static nx_component *add_comp(nx_check *chk, const char *name, const char *slug)
{
    chk->comp = nx_xrealloc(chk->comp, (chk->ncomp + 1) * sizeof *chk->comp);
    nx_component *c = &chk->comp[chk->ncomp++];
    memset(c, 0, sizeof *c);
    c->name = nx_xstrdup(name);
    c->slug = slug ? nx_xstrdup(slug) : NULL;
    return c;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_dir(const char *dir, size_t *n)
{
    char **names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        names = nx_xrealloc(names, (*n + 1) * sizeof *names);
        names[(*n)++] = nx_xstrdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof *names, cmp_names);
    return names;
}

static int add_plugin(nx_check *chk, const char *dir, const char *slug, nx_err *e)
{
    char *file = nx_xasprintf("%s/%s/version.php", dir, slug);
    int rc = 0;
    if (access(file, F_OK) != 0) {
        char *note = nx_xasprintf("plugin %s: no %s; not asked about", slug, file);
        json_array_append_new(chk->notes, json_string(note));
        free(note);
    } else {
        char *name = nx_xasprintf("plugin:%s", slug);
        nx_component *c = add_comp(chk, name, slug);
        c->file = nx_xstrdup(file);
        rc = installed_version(chk, c, e);
        free(name);
    }
    free(file);
    return rc;
}

static int read_site(nx_check *chk, const nx_config *cfg, nx_err *e)
{
    const char *root = nx_config_get(cfg, "site", "root");
    if (!root) {
        nx_seterr(e, "%s: [site] root is not set", nx_config_file(cfg));
        return -1;
    }
    nx_component *core = add_comp(chk, "core", NULL);
    core->file = nx_path_join(root, "core/version.php");
    if (installed_version(chk, core, e) != 0)
        return -1;
    char *dir = nx_path_join(root, "modules/plugins");
    size_t n = 0;
    char **names = list_dir(dir, &n);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = add_plugin(chk, dir, names[i], e);
        free(names[i]);
    }
    free(names);
    free(dir);
    return rc;
}

/* ---- the database's registered versions ------------------------------------ */

static void note(json_t *notes, const char *text);

static int registered_row(void *arg, int ncols, const char *const *names,
                          const char *const *values)
{
    (void)names;
    json_t *v = arg;
    if (ncols >= 2 && values[0] && values[1] && !json_object_get(v, values[0]))
        json_object_set_new(v, values[0], json_string(values[1]));
    return 0;
}

int nx_db_registered(const nx_out *out, const nx_config *cfg, json_t **versions, nx_err *e)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    const char *path = nx_config_get(cfg, "database", "path");
    *versions = NULL;
    if (!drv) {
        nx_seterr(e, "%s: no [database] configured", nx_config_file(cfg));
        return 1;
    }
    if (strcmp(drv, "sqlite") == 0 && (!path || access(path, F_OK) != 0)) {
        nx_seterr(e, "the database file %s does not exist", path ? path : "([database] path)");
        return 1;
    }
    json_t *v = json_object();
    if (nx_db_query_standalone(out, cfg, "SELECT component, version_number FROM "
                               "system_versions ORDER BY version_code DESC, id DESC",
                               registered_row, v, e) != 0) {
        json_decref(v);
        return -1;
    }
    *versions = v;
    return 0;
}

int nx_db_state(const char *component, const char *files, const char *registered, char **msg)
{
    nx_err e;
    *msg = NULL;
    if (!files)
        return NX_DB_UNKNOWN;
    if (!registered)
        return NX_DB_NOT_REGISTERED;
    int cmp = nx_semver_cmp_str(files, registered, &e);
    if (cmp == 0)
        return NX_DB_SAME;
    if (cmp > 0 && strcmp(component, "core") == 0) {
        *msg = nx_xasprintf("the database is at %s, the files at %s: the next update of core "
                            "runs the migrations from %s first; or run 'nexo-update update-db'",
                            registered, files, registered);
        return NX_DB_FILES_AHEAD;
    }
    if (cmp > 0) {
        *msg = nx_xasprintf("the database is at %s, the files at %s: the next update of %s "
                            "runs its migrations from %s first", registered, files, component,
                            registered);
        return NX_DB_FILES_AHEAD;
    }
    if (cmp < 0) {
        *msg = nx_xasprintf("refused: the database is at %s, ahead of the files' %s",
                            registered, files);
        return NX_DB_DB_AHEAD;
    }
    *msg = nx_xasprintf("the database's version '%s' and the files' '%s' cannot be compared: %s",
                        registered, files, e.msg);
    return NX_DB_UNKNOWN;
}

const char *nx_db_state_name(int state)
{
    static const char *const names[] = { "unknown", "same", "files_ahead", "database_ahead",
                                         "not_registered" };
    return state >= 0 && state <= NX_DB_NOT_REGISTERED ? names[state] : "unknown";
}

/* Each component's registered version, when the database can be read;
 * otherwise a note (a check never fails for it). */
static void read_registered(const nx_out *out, const nx_config *cfg, nx_check *chk)
{
    if (!nx_config_get(cfg, "database", "driver"))
        return;
    nx_out quiet = *out;
    quiet.verbosity = 0;
    json_t *v = NULL;
    nx_err e;
    if (nx_db_registered(&quiet, cfg, &v, &e) != 0) {
        char *t = nx_xasprintf("the versions registered in the database were not compared with "
                               "the files: %s", e.msg);
        note(chk->notes, t);
        free(t);
        return;
    }
    chk->db_read = 1;
    for (size_t i = 0; i < chk->ncomp; i++) {
        nx_component *c = &chk->comp[i];
        const char *reg = json_string_value(json_object_get(v, c->name));
        char *msg = NULL;
        c->registered = reg ? nx_xstrdup(reg) : NULL;
        c->db_state = nx_db_state(c->name, c->installed, c->registered, &msg);
        free(msg);
    }
    json_decref(v);
}

/* ---- requirements --------------------------------------------------------- */

struct env {
    const nx_out *out;
    const nx_config *cfg;
    const nx_check *chk;
    int php_state; /* 0 not run yet, 1 known, -1 cannot be run, 2 [php] check = off */
    char php[128];  /* its PHP_VERSION */
    char *php_bin;  /* [php] binary, found on the PATH when it names no folder */
    char php_why[1024]; /* php_state -1: "[php] binary = X (in FILE) cannot be run: ..." */
    char *php_mods; /* its `-m` output, NULL until asked */
    int mods_state; /* 0 not asked, 1 known, -1 failed (php_why says why) */
    int db_state;  /* 0 not asked, 1 known, -1 no database configured */
    char db[256];
};

static void note(json_t *notes, const char *text)
{
    size_t i;
    json_t *v;
    json_array_foreach(notes, i, v) {
        if (strcmp(json_string_value(v), text) == 0)
            return;
    }
    json_array_append_new(notes, json_string(text));
}

static char *find_in_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    char *copy = nx_xstrdup(path), *save = NULL, *found = NULL;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *f = nx_path_join(*d ? d : ".", name);
        struct stat st;
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode) && access(f, X_OK) == 0)
            found = f;
        else
            free(f);
    }
    free(copy);
    return found;
}

#define PHP_OUT_MAX 65536 /* bytes of `php -m` read */

/* Run `php ARG...` (no shell, stdin and stderr /dev/null) for at most
 * `secs` seconds ([server] timeout); its output in buf, trailing space
 * dropped. 0, or -1 with why naming the command. */
static int run_php(const char *php, char *const args[], long secs, char *buf, size_t len,
                   char *why, size_t wlen)
{
    int fd[2];
    if (pipe(fd) != 0) {
        snprintf(why, wlen, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    char *argv[4] = { (char *)php, args[0], args[1], NULL };
    pid_t pid;
    int sp = posix_spawn(&pid, php, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    size_t n = 0;
    ssize_t r = 1;
    long long deadline = nx_mono_ms() + secs * 1000;
    int late = 0;
    while (sp == 0 && r > 0) {
        char tmp[4096];
        struct pollfd p = { .fd = fd[0], .events = POLLIN };
        long long left = deadline - nx_mono_ms();
        if (left <= 0) {
            late = 1;
            kill(pid, SIGKILL);
            break;
        }
        int pr = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        r = read(fd[0], tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            r = 1;
        else if (r > 0 && n + 1 < len) {
            size_t k = (size_t)r < len - 1 - n ? (size_t)r : len - 1 - n;
            memcpy(buf + n, tmp, k);
            n += k;
        }
    }
    buf[n] = '\0';
    close(fd[0]);
    int status = 0;
    if (sp != 0) {
        snprintf(why, wlen, "%s: %s", php, strerror(sp));
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    if (late)
        snprintf(why, wlen, "'%s %s%s%s' did not finish in %ld seconds ([server] timeout)",
                 php, args[0], args[1] ? " " : "", args[1] ? args[1] : "", secs);
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        snprintf(why, wlen, "'%s %s%s%s' %s %d", php, args[0], args[1] ? " " : "",
                 args[1] ? args[1] : "", WIFEXITED(status) ? "exited with status" :
                 "was killed by signal", WIFEXITED(status) ? WEXITSTATUS(status)
                                                           : WTERMSIG(status));
    else if (n == 0)
        snprintf(why, wlen, "'%s %s%s%s' printed nothing", php, args[0], args[1] ? " " : "",
                 args[1] ? args[1] : "");
    else
        return 0;
    return -1;
}

/* How long php may take: [server] timeout (default 30 s). */
static long php_secs(const struct env *env)
{
    const char *t = nx_config_get(env->cfg, "server", "timeout");
    long secs = t ? strtol(t, NULL, 10) : 30;
    return secs > 0 ? secs : 30;
}

/* [php] check = off: nothing is run, a note says so. */
static int php_check_off(struct env *env, json_t *notes)
{
    const char *v = nx_config_get(env->cfg, "php", "check");
    if (!v || strcmp(v, "off") != 0)
        return 0;
    char *t = nx_xasprintf("php requirements not checked: [php] check = off in %s",
                           nx_config_file(env->cfg));
    note(notes, t);
    free(t);
    return 1;
}

static void php_cannot(struct env *env, const char *bin, const char *why)
{
    snprintf(env->php_why, sizeof env->php_why, "[php] binary = %s (in %s) cannot be run: %s",
             bin, nx_config_file(env->cfg), why);
    env->php_state = -1;
}

/* The site's PHP version from [php] binary: NULL when [php] check = off
 * (noted) or when it cannot be run (env->php_state -1, env->php_why). */
static const char *php_version(struct env *env, json_t *notes)
{
    if (env->php_state == 0) {
        const char *bin = nx_config_get(env->cfg, "php", "binary");
        char why[512];
        if (!bin || !*bin)
            bin = "php";
        env->php_bin = strchr(bin, '/') ? nx_xstrdup(bin) : find_in_path(bin);
        if (php_check_off(env, notes))
            env->php_state = 2;
        else if (!env->php_bin)
            php_cannot(env, bin, "not found on the PATH");
        else if (run_php(env->php_bin, (char *[]){ (char *)"-r", (char *)"echo PHP_VERSION;" },
                         php_secs(env), env->php, sizeof env->php, why, sizeof why) != 0)
            php_cannot(env, bin, why);
        else
            env->php_state = 1;
    }
    return env->php_state == 1 ? env->php : NULL;
}

/* The extensions `[php] binary -m` lists; NULL when it cannot be run
 * (php_why) or [php] check = off. */
static const char *php_modules(struct env *env, json_t *notes)
{
    if (!php_version(env, notes))
        return NULL;
    if (env->mods_state == 0) {
        char why[512];
        env->php_mods = nx_xmalloc(PHP_OUT_MAX);
        env->mods_state = 1;
        if (run_php(env->php_bin, (char *[]){ (char *)"-m", NULL }, php_secs(env), env->php_mods,
                    PHP_OUT_MAX, why, sizeof why) != 0) {
            php_cannot(env, nx_config_get(env->cfg, "php", "binary"), why);
            env->mods_state = -1;
        }
    }
    return env->mods_state == 1 ? env->php_mods : NULL;
}

/* Is `ext` a line of `php -m` (case-insensitive, as PHP compares)? */
static int php_has_module(const char *mods, const char *ext)
{
    size_t n = strlen(ext);
    for (const char *l = mods; l && *l;) {
        size_t len = strcspn(l, "\r\n");
        if (len == n && strncasecmp(l, ext, n) == 0)
            return 1;
        l += len;
        l += strspn(l, "\r\n");
    }
    return 0;
}

static const char *db_key(const char *driver, const char *server)
{
    if (strcmp(driver, "pgsql") == 0)
        return "postgresql";
    if (strcmp(driver, "sqlite") == 0)
        return "sqlite";
    return strcasestr(server, "mariadb") ? "mariadb" : "mysql";
}

static int is_db_key(const char *k)
{
    return strcmp(k, "mysql") == 0 || strcmp(k, "mariadb") == 0 ||
           strcmp(k, "postgresql") == 0 || strcmp(k, "sqlite") == 0;
}

/* The database server's version when requirement `key` applies to the
 * configured database; NULL when it does not (or none is configured). */
static int db_version(struct env *env, json_t *notes, const char *key, const char **out,
                      nx_err *e)
{
    *out = NULL;
    const char *driver = nx_config_get(env->cfg, "database", "driver");
    if (!driver) {
        note(notes, "database requirements not checked: no [database] configured");
        return 0;
    }
    const char *path = nx_config_get(env->cfg, "database", "path");
    if (strcmp(driver, "sqlite") == 0 && (!path || access(path, F_OK) != 0)) {
        /* connecting would create it: a check changes nothing */
        char *t = nx_xasprintf("database requirements not checked: the SQLite database %s "
                               "does not exist", path ? path : "([database] path not set)");
        note(notes, t);
        free(t);
        return 0;
    }
    if (env->db_state == 0) {
        if (nx_db_server_version(env->out, env->cfg, env->db, sizeof env->db, e) != 0) {
            nx_preferr(e, "cannot check the database requirements");
            return -1;
        }
        env->db_state = 1;
    }
    if (strcmp(db_key(driver, env->db), key) == 0)
        *out = env->db;
    return 0;
}

static void unmet(nx_release *r, const char *fmt, ...) NX_PRINTF(2, 3);
static void unmet(nx_release *r, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_array_append_new(r->unmet, json_string(buf));
}

/* 1 matches, 0 not, -1 (e) when the range or the version does not parse;
 * `loose` for versions reported by programs ("15.4 (Debian ...)"). */
static int match(const char *range, const char *have, int loose, nx_err *e)
{
    nx_range *r;
    nx_semver v;
    if (nx_range_parse(range, &r, e) != 0)
        return -1;
    int prc = loose ? nx_semver_parse_loose(have, &v, e) : nx_semver_parse(have, &v, e);
    if (prc != 0) {
        nx_range_free(r);
        return -1;
    }
    int m = nx_range_match(r, &v);
    nx_semver_free(&v);
    nx_range_free(r);
    return m;
}

static void require(nx_release *r, const char *key, const char *range, const char *have,
                    const char *what, int loose)
{
    nx_err e;
    int m = match(range, have, loose, &e);
    if (m < 0)
        unmet(r, "%s %s: cannot be evaluated: %s", key, range, e.msg);
    else if (m == 0)
        unmet(r, "%s %s (%s %s)", key, range, what, have);
}

/* A PHP requirement that cannot be checked because [php] binary cannot be
 * run: unmet, saying so once per release (the update is refused). */
static void php_unchecked(struct env *env, nx_release *r, const char *what)
{
    if (r->php_unchecked)
        unmet(r, "%s: not checked either", what);
    else
        unmet(r, "%s: not checked: %s; set [php] binary to the PHP the site runs (e.g. "
                 "/usr/bin/php8.2), or [php] check = off to update without checking it",
              what, env->php_why);
    r->php_unchecked = 1;
}

/* requires.php_extensions: each must be listed by `[php] binary -m`. */
static void eval_extensions(struct env *env, json_t *notes, nx_release *r, json_t *val)
{
    size_t i;
    json_t *x;
    int ok = json_is_array(val);
    json_array_foreach(val, i, x)
        ok = ok && json_is_string(x) && nx_php_ext_ok(json_string_value(x));
    if (!ok) {
        unmet(r, NX_REQ_PHP_EXTENSIONS ": not a list of PHP extension names");
        return;
    }
    if (json_array_size(val) == 0)
        return;
    const char *mods = php_modules(env, notes);
    if (!mods) {
        if (env->php_state == -1) {
            char what[1024];
            size_t off = (size_t)snprintf(what, sizeof what, NX_REQ_PHP_EXTENSIONS);
            json_array_foreach(val, i, x)
                if (off < sizeof what)
                    off += (size_t)snprintf(what + off, sizeof what - off, " %s",
                                            json_string_value(x));
            php_unchecked(env, r, what);
        }
        return;
    }
    json_array_foreach(val, i, x)
        if (!php_has_module(mods, json_string_value(x)))
            unmet(r, NX_REQ_PHP_EXTENSIONS ": %s is not loaded (%s -m)", json_string_value(x),
                  env->php_bin);
}

/* One requirement of r's `requires`. A plugin release's nexosupport is
 * a compatibility rule (compat.h), not an environment requirement. */
static int eval_one(struct env *env, json_t *notes, nx_release *r, int is_core,
                    const char *key, json_t *val, nx_err *e)
{
    const char *range = json_string_value(val);
    const char *have = NULL;
    if (strcmp(key, "nexosupport") == 0 && !is_core)
        return 0;
    if (strcmp(key, NX_REQ_PHP_EXTENSIONS) == 0) {
        eval_extensions(env, notes, r, val);
        return 0;
    }
    if (!range) {
        unmet(r, "%s: the requirement is not a string", key);
        return 0;
    }
    if (strcmp(key, "nexosupport") == 0) {
        require(r, key, range, env->chk->comp[0].installed, "installed core is", 0);
    } else if (strcmp(key, "php") == 0) {
        have = php_version(env, notes);
        if (have)
            require(r, key, range, have, "the site's php is", 1);
        else if (env->php_state == -1) {
            char what[512];
            snprintf(what, sizeof what, "php %s", range);
            php_unchecked(env, r, what);
        }
    } else if (is_db_key(key)) {
        if (db_version(env, notes, key, &have, e) != 0)
            return -1;
        if (have)
            require(r, key, range, have, "the database server is", 1);
    } else {
        char *t = nx_xasprintf("requirement '%s' is unknown to this nexo-update; not checked",
                               key);
        note(notes, t);
        free(t);
    }
    return 0;
}

/* The site as the compatibility rules see it: core, then the installed
 * plugins (a component without an installed version is not there). */
static nx_installed *site_of(const nx_check *chk, size_t *n)
{
    nx_installed *site = nx_xcalloc(chk->ncomp ? chk->ncomp : 1, sizeof *site);
    *n = 0;
    for (size_t i = 0; i < chk->ncomp; i++) {
        const nx_component *c = &chk->comp[i];
        if (c->installed)
            site[(*n)++] = (nx_installed){ c->slug, c->installed, c->requires,
                                           c->dependencies };
    }
    return site;
}

/* r's environment requirements into r->unmet, its conflicts into
 * r->conflicts (and, unless forced, their messages after them in unmet). */
static int eval_release(struct env *env, json_t *notes, const nx_installed *site,
                        size_t nsite, const nx_component *c, nx_release *r, nx_err *e)
{
    const char *key;
    json_t *val;
    json_object_foreach(r->requires, key, val) {
        if (eval_one(env, notes, r, !c->slug, key, val, e) != 0)
            return -1;
    }
    r->nenv = json_array_size(r->unmet);
    nx_candidate cand = { c->slug, r->version, r->requires, r->compat, r->dependencies };
    nx_compat_conflicts(site, nsite, &cand, r->conflicts);
    size_t i;
    json_t *o;
    if (!env->chk->force)
        json_array_foreach(r->conflicts, i, o)
            json_array_append(r->unmet, json_object_get(o, "message"));
    return 0;
}

/* ---- releases ------------------------------------------------------------- */

static void release_free(nx_release *r)
{
    free(r->version);
    free(r->url);
    free(r->sha256);
    free(r->signature);
    free(r->release_date);
    free(r->changelog);
    json_decref(r->requires);
    json_decref(r->compat);
    json_decref(r->dependencies);
    json_decref(r->unmet);
    json_decref(r->conflicts);
}

static int is_sha256(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return 1;
}

static char *opt_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? nx_xstrdup(s) : NULL;
}

static int release_fields(json_t *o, const char *vkey, const char *where, nx_err *e)
{
    const char *ver = json_string_value(json_object_get(o, vkey));
    const char *url = json_string_value(json_object_get(o, "download_url"));
    const char *sha = json_string_value(json_object_get(json_object_get(o, "checksum"),
                                                        "sha256"));
    const char *sig = json_string_value(json_object_get(o, "signature"));
    json_t *size = json_object_get(o, "size_bytes");
    json_t *req = json_object_get(o, "requires");
    json_t *deps = json_object_get(o, "dependencies");
    nx_semver sv;
    if (!ver || nx_semver_parse(ver, &sv, e) != 0) {
        if (ver)
            nx_preferr(e, "%s: %s", where, vkey);
        else
            nx_seterr(e, "%s: no %s", where, vkey);
        return -1;
    }
    nx_semver_free(&sv);
    if (!url || !*url)
        nx_seterr(e, "%s: %s %s: no download_url", where, vkey, ver);
    else if (!is_sha256(sha))
        nx_seterr(e, "%s: %s %s: checksum.sha256 is missing or not 64 hex digits", where,
                  vkey, ver);
    else if (!sig || !*sig)
        nx_seterr(e, "%s: %s %s: no signature", where, vkey, ver);
    else if (!json_is_integer(size) || json_integer_value(size) <= 0)
        nx_seterr(e, "%s: %s %s: size_bytes is missing or not a positive integer", where, vkey,
                  ver);
    else if (req && !json_is_object(req) && !json_is_null(req))
        nx_seterr(e, "%s: %s %s: requires is not an object", where, vkey, ver);
    else if (deps && !json_is_object(deps) && !json_is_null(deps))
        nx_seterr(e, "%s: %s %s: dependencies is not an object", where, vkey, ver);
    else
        return 0;
    return -1;
}

/* One release object (index entry or API answer) into r; vkey names the
 * version field ("version" or "latest_version"). */
static int release_parse(json_t *o, const char *vkey, const char *base, const char *where,
                         nx_release *r, nx_err *e)
{
    memset(r, 0, sizeof *r);
    if (release_fields(o, vkey, where, e) != 0)
        return -1;
    r->url = url_resolve(base, json_string_value(json_object_get(o, "download_url")), e);
    if (!r->url) {
        nx_preferr(e, "%s", where);
        return -1;
    }
    r->version = opt_str(o, vkey);
    r->channel = nx_version_channel(r->version); /* parsed by release_fields */
    r->sha256 = opt_str(json_object_get(o, "checksum"), "sha256");
    for (char *p = r->sha256; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    r->signature = opt_str(o, "signature");
    r->size = (uint64_t)json_integer_value(json_object_get(o, "size_bytes"));
    r->release_date = opt_str(o, "release_date");
    r->changelog = opt_str(o, "changelog");
    r->security = json_is_true(json_object_get(o, "is_security_update"));
    r->critical = json_is_true(json_object_get(o, "is_critical"));
    json_t *req = json_object_get(o, "requires");
    r->requires = json_is_object(req) ? json_deep_copy(req) : json_object();
    json_t *compat = json_object_get(o, "compatibility");
    r->compat = json_is_object(compat) ? json_deep_copy(compat) : NULL;
    json_t *deps = json_object_get(o, "dependencies");
    r->dependencies = json_is_object(deps) ? json_deep_copy(deps) : NULL;
    r->unmet = json_array();
    r->conflicts = json_array();
    return 0;
}

static nx_release *add_release(nx_component *c)
{
    c->rel = nx_xrealloc(c->rel, (c->nrel + 1) * sizeof *c->rel);
    return &c->rel[c->nrel++];
}

/* ---- static index --------------------------------------------------------- */

/* A time as RFC 3339 UTC: YYYY-MM-DDTHH:MM:SS[.fraction]Z, nothing else. */
struct utc {
    time_t t;
    long nsec;
};

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

static int parse_rfc3339(const char *s, struct utc *out)
{
    int y, mo, d, h, mi, sec;
    if (!s || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    long nsec = 0;
    if (*p == '.') {
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            if (n >= 9)
                return -1;
            nsec = nsec * 10 + (*p - '0');
        }
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            nsec *= 10;
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    out->t = timegm(&tm);
    out->nsec = nsec;
    return 0;
}

static int parse_utc(const char *s, time_t *out)
{
    struct utc u;
    if (parse_rfc3339(s, &u) != 0)
        return -1;
    *out = u.t;
    return 0;
}

static int utc_cmp(const struct utc *a, const struct utc *b)
{
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return a->nsec < b->nsec ? -1 : a->nsec > b->nsec;
}

static char *index_url(const char *url)
{
    size_t n = strlen(url);
    if (n >= 5 && strcmp(url + n - 5, ".json") == 0)
        return nx_xstrdup(url);
    return nx_xasprintf("%s%sindex.json", url, n && url[n - 1] == '/' ? "" : "/");
}

static int is_index_mode(const char *url)
{
    size_t n = strlen(url);
    return strncasecmp(url, "file://", 7) == 0 || (n >= 5 && strcmp(url + n - 5, ".json") == 0);
}

static int verify_index(const nx_config *cfg, nx_check *chk, const struct buf *idx,
                        struct buf *sig, nx_err *e)
{
    const char *keys = nx_config_get(cfg, "server", "trusted_keys");
    if (!keys) {
        nx_seterr(e, "%s: refused: no trusted keys configured ([server] trusted_keys in %s); "
                     "a signed index cannot be verified without them", chk->source,
                  nx_config_file(cfg));
        return -1;
    }
    nx_keyring *ring = nx_keyring_load(keys, e);
    if (!ring) {
        nx_preferr(e, "%s: refused: trusted keys", chk->source);
        return -1;
    }
    char *s = sig->p ? sig->p : (char *)"";
    while (*s && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    const char *kid = NULL;
    int rc = -1;
    if (!*s)
        nx_seterr(e, "%s: refused: the signature file %s.sig is empty", chk->source,
                  chk->source);
    else if (nx_verify_buffer(ring, "index", idx->p ? idx->p : "", idx->n, s, &kid, e) != 0)
        nx_preferr(e, "%s: refused: bad signature (%s.sig)", chk->source, chk->source);
    else {
        chk->key_id = nx_xstrdup(kid ? kid : "?");
        rc = 0;
    }
    nx_keyring_free(ring);
    return rc;
}

static int check_times(nx_check *chk, json_t *doc, nx_err *e)
{
    json_t *fmt = json_object_get(doc, "format");
    time_t gen, exp, now = time(NULL);
    chk->generated_at = opt_str(doc, "generated_at");
    chk->expires = opt_str(doc, "expires");
    if (!json_is_integer(fmt) || json_integer_value(fmt) != 1)
        nx_seterr(e, "%s: unknown index format (this nexo-update reads \"format\": 1)",
                  chk->source);
    else if (parse_utc(chk->expires, &exp) != 0)
        nx_seterr(e, "%s: \"expires\" is missing or not RFC 3339 UTC (YYYY-MM-DDTHH:MM:SSZ)",
                  chk->source);
    else if (parse_utc(chk->generated_at, &gen) != 0)
        nx_seterr(e, "%s: \"generated_at\" is missing or not RFC 3339 UTC "
                     "(YYYY-MM-DDTHH:MM:SSZ)", chk->source);
    else if (exp <= now)
        nx_seterr(e, "%s: refused: the index expired at %s (the repository must re-sign it: "
                     "nexo-release index)", chk->source, chk->expires);
    else if (gen > now + FUTURE_SLACK)
        nx_seterr(e, "%s: refused: generated_at %s is in the future (check the clocks)",
                  chk->source, chk->generated_at);
    else if (!json_is_array(json_object_get(doc, "releases")))
        nx_seterr(e, "%s: no \"releases\" array", chk->source);
    else
        return 0;
    return -1;
}

/* "core", "plugin:SLUG", or "plugin" with "slug". */
static char *entry_component(json_t *o)
{
    const char *c = json_string_value(json_object_get(o, "component"));
    const char *slug = json_string_value(json_object_get(o, "slug"));
    if (!c)
        return NULL;
    if (strcmp(c, "plugin") == 0 && slug)
        return nx_xasprintf("plugin:%s", slug);
    return nx_xstrdup(c);
}

static int index_releases(nx_check *chk, json_t *doc, const char *only, nx_err *e)
{
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(doc, "releases"), i, o) {
        char *name = entry_component(o);
        char where[512];
        snprintf(where, sizeof where, "%s: releases[%zu]", chk->source, i);
        if (!name) {
            nx_seterr(e, "%s: no component", where);
            return -1;
        }
        nx_component *c = (nx_component *)nx_check_find(chk, name);
        free(name);
        if (!c || (only && strcmp(only, c->name) != 0))
            continue;
        nx_release r;
        if (release_parse(o, "version", chk->source, where, &r, e) != 0)
            return -1;
        *add_release(c) = r;
    }
    return 0;
}

int nx_check_index_doc(nx_check *chk, const char *text, size_t len, const char *only, nx_err *e)
{
    struct buf b = { (char *)text, len, 0 };
    json_t *doc = parse_json(&b, chk->source, e);
    int rc = doc && check_times(chk, doc, e) == 0 && index_releases(chk, doc, only, e) == 0
                 ? 0 : -1;
    json_decref(doc);
    return rc;
}

/* ---- replay protection (contracts §6) ------------------------------------- */

#define SEEN_FILE "index-seen.json"
#define SEEN_MAX (1024 * 1024)

/* STATE/index-seen.json: {"format": 1, "sources": {URL: {"generated_at":
 * T, "seen_at": T}}}; a missing file is an empty record. */
static json_t *seen_load(const char *path, nx_err *e)
{
    char *text = NULL;
    size_t len = 0;
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT)
        return json_pack("{s:i, s:{}}", "format", 1, "sources");
    if (nx_read_file(path, &text, &len, SEEN_MAX, e) != 0) {
        nx_preferr(e, "refused: the record of the newest index seen per source cannot be read "
                      "(run as the owner of [paths] state)");
        return NULL;
    }
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!doc || !json_is_object(json_object_get(doc, "sources"))) {
        nx_seterr(e, "%s: not the record of the indexes seen (%s); remove it to start the "
                     "record again", path, doc ? "no \"sources\" object" : je.text);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static int no_write_access(int err)
{
    return err == EACCES || err == EPERM || err == EROFS;
}

/* Refuse an index older than the newest valid one seen from this source;
 * remember a newer one. Serialized with the other checks by a flock on
 * STATE/index-seen.lock. A user who may not write the state folder (a
 * check run by the site owner on a root-installed updater) is still held
 * to the record; that a newer index could not be recorded is a note. */
static int replay_check(const nx_config *cfg, nx_check *chk, nx_err *e)
{
    const char *state = nx_config_get(cfg, "paths", "state");
    struct utc now_gen, old_gen;
    if (parse_rfc3339(chk->generated_at, &now_gen) != 0) {
        nx_seterr(e, "%s: \"generated_at\" is missing or not RFC 3339 UTC", chk->source);
        return -1;
    }
    if (!state) {
        nx_seterr(e, "%s: [paths] state is not set: the newest index seen cannot be "
                     "remembered", nx_config_file(cfg));
        return -1;
    }
    struct stat st;
    if (stat(state, &st) != 0 && nx_mkdirs(state, 0700, e) != 0) {
        nx_preferr(e, "[paths] state");
        return -1;
    }
    char *path = nx_path_join(state, SEEN_FILE);
    char *lockpath = nx_path_join(state, "index-seen.lock");
    json_t *doc = NULL;
    int rc = -1;
    int lfd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    int readonly = lfd < 0 && no_write_access(errno);
    if ((lfd < 0 && !readonly) || (lfd >= 0 && flock(lfd, LOCK_EX) != 0)) {
        nx_seterr(e, "%s: cannot lock: %s", lockpath, strerror(errno));
        goto out;
    }
    doc = seen_load(path, e);
    if (!doc)
        goto out;
    json_t *sources = json_object_get(doc, "sources");
    json_t *rec = json_object_get(sources, chk->source);
    const char *old = json_string_value(json_object_get(rec, "generated_at"));
    if (rec && parse_rfc3339(old, &old_gen) != 0) {
        nx_seterr(e, "%s: the record of %s has no valid \"generated_at\"; remove it to start "
                     "the record again", path, chk->source);
        goto out;
    }
    int cmp = rec ? utc_cmp(&now_gen, &old_gen) : 1;
    if (cmp < 0) {
        nx_seterr(e, "%s: refused: the index was generated at %s, before the newest index "
                     "already seen from this source (generated at %s, recorded in %s): an "
                     "old index replayed", chk->source, chk->generated_at, old, path);
        goto out;
    }
    if (cmp > 0 && readonly) {
        char *t = nx_xasprintf("the newest index seen (generated at %s) is not recorded: %s "
                               "cannot be written by this user", chk->generated_at, state);
        note(chk->notes, t);
        free(t);
    } else if (cmp > 0) {
        char seen[32];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(seen, sizeof seen, "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_object_set_new(sources, chk->source, json_pack("{s:s, s:s}", "generated_at",
                                                            chk->generated_at, "seen_at", seen));
        char *dump = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
        char *text = nx_xasprintf("%s\n", dump ? dump : "{}");
        free(dump);
        int w = nx_write_file_atomic(path, text, strlen(text), 0600, e);
        free(text);
        if (w != 0 && access(state, W_OK) != 0 && no_write_access(errno)) {
            char *why = nx_xasprintf("the newest index seen (generated at %s) is not "
                                     "recorded: %s", chk->generated_at, e->msg);
            note(chk->notes, why);
            free(why);
        } else if (w != 0) {
            nx_preferr(e, "the newest index seen cannot be remembered");
            goto out;
        }
    }
    rc = 0;
out:
    if (lfd >= 0)
        close(lfd);
    json_decref(doc);
    free(lockpath);
    free(path);
    return rc;
}

static int index_mode(const struct fetch *f, const nx_config *cfg, nx_check *chk,
                      const char *only, nx_err *e)
{
    struct buf idx, sig;
    char *sigurl = nx_xasprintf("%s.sig", chk->source);
    int rc = -1;
    if (fetch(f, chk->source, NULL, &idx, e) != 0) {
        free(sigurl);
        return -1;
    }
    if (fetch(f, sigurl, NULL, &sig, e) != 0) {
        nx_preferr(e, "refused: the index's signature cannot be fetched");
        goto out;
    }
    if (verify_index(cfg, chk, &idx, &sig, e) != 0)
        goto out;
    if (nx_check_index_doc(chk, idx.p, idx.n, only, e) != 0 || replay_check(cfg, chk, e) != 0)
        goto out;
    for (size_t i = 0; i < chk->ncomp; i++)
        chk->comp[i].asked = !only || strcmp(only, chk->comp[i].name) == 0;
    rc = 0;
out:
    buf_free(&idx);
    buf_free(&sig);
    free(sigurl);
    return rc;
}

/* ---- API mode ------------------------------------------------------------- */

static void form_add(char **form, const char *key, const char *value)
{
    char *v = curl_easy_escape(NULL, value, 0);
    char *n = nx_xasprintf("%s%s%s=%s", *form ? *form : "", *form ? "&" : "", key,
                           v ? v : "");
    curl_free(v);
    free(*form);
    *form = n;
}

static char *api_form(const nx_component *c, const char *php, const char *channel)
{
    char *form = NULL;
    form_add(&form, "component", c->slug ? "plugin" : "core");
    if (c->slug)
        form_add(&form, "slug", c->slug);
    if (c->installed)
        form_add(&form, "current_version", c->installed);
    if (php)
        form_add(&form, "php_version", php);
    if (channel && strcmp(channel, "stable") != 0)
        form_add(&form, "channel", channel); /* the answer is filtered all the same */
    return form;
}

static int api_answer(nx_component *c, json_t *doc, const char *url, nx_err *e)
{
    json_t *avail = json_object_get(doc, "update_available");
    char where[512];
    snprintf(where, sizeof where, "%s (%s)", url, c->name);
    if (!json_is_boolean(avail)) {
        nx_seterr(e, "%s: the answer has no boolean \"update_available\"", where);
        return -1;
    }
    if (json_is_false(avail))
        return 0;
    nx_release r;
    if (release_parse(doc, "latest_version", url, where, &r, e) != 0)
        return -1;
    *add_release(c) = r;
    return 0;
}

int nx_check_api_doc(nx_component *c, const char *text, size_t len, const char *url, nx_err *e)
{
    struct buf b = { (char *)text, len, 0 };
    json_t *doc = parse_json(&b, url, e);
    int rc = doc ? api_answer(c, doc, url, e) : -1;
    json_decref(doc);
    return rc;
}

static int api_ask(const struct fetch *f, const char *url, nx_component *c, const char *php,
                   const char *channel, nx_err *e)
{
    char *form = api_form(c, php, channel);
    struct buf b;
    int rc = fetch(f, url, form, &b, e);
    free(form);
    if (rc != 0)
        return -1;
    rc = nx_check_api_doc(c, b.p, b.n, url, e);
    buf_free(&b);
    c->asked = 1;
    return rc;
}

static int api_mode(const struct fetch *f, struct env *env, nx_check *chk, const char *only,
                    nx_err *e)
{
    const char *php = php_version(env, chk->notes);
    for (size_t i = 0; i < chk->ncomp; i++) {
        if (only && strcmp(only, chk->comp[i].name) != 0)
            continue;
        if (api_ask(f, chk->source, &chk->comp[i], php, chk->channel, e) != 0)
            return -1;
    }
    return 0;
}

/* ---- choice ------------------------------------------------------------- */

static int cmp_newest_first(const void *a, const void *b)
{
    const nx_release *x = a, *y = b;
    nx_err e;
    int c = nx_semver_cmp_str(y->version, x->version, &e);
    return c == -2 ? 0 : c;
}

int nx_release_newer(const nx_component *c, const nx_release *r)
{
    if (!c->installed)
        return 1; /* a plugin not installed yet: any release is new */
    nx_err e;
    int cmp = nx_semver_cmp_str(r->version, c->installed, &e);
    return cmp == -2 ? -1 : cmp > 0;
}

int nx_release_offerable(const nx_component *c, const nx_release *r)
{
    return r->admitted && nx_release_newer(c, r) == 1 && json_array_size(r->unmet) == 0;
}

const nx_release *nx_component_php_blocked(const nx_component *c)
{
    for (size_t i = 0; i < c->nrel && &c->rel[i] != c->offer; i++) {
        const nx_release *r = &c->rel[i];
        if (r->admitted && r->php_unchecked && nx_release_newer(c, r) == 1)
            return r;
    }
    return NULL;
}

char *nx_php_refusal(const nx_component *c, const nx_release *r)
{
    char *text = nx_xasprintf("refused: %s %s:", c->name, r->version);
    size_t i;
    json_t *u;
    json_array_foreach(r->unmet, i, u) {
        char *more = nx_xasprintf("%s%s %s", text, i ? ";" : "", json_string_value(u));
        free(text);
        text = more;
    }
    return text;
}

static int choose(struct env *env, nx_check *chk, nx_err *e)
{
    size_t nsite;
    nx_installed *site = site_of(chk, &nsite);
    int rc = 0;
    for (size_t i = 0; i < chk->ncomp && rc == 0; i++) {
        nx_component *c = &chk->comp[i];
        if (c->nrel > 1)
            qsort(c->rel, c->nrel, sizeof *c->rel, cmp_newest_first);
        for (size_t k = 0; k < c->nrel && rc == 0; k++) {
            nx_release *r = &c->rel[k];
            r->admitted = nx_channel_admits(chk->channel, r->channel);
            rc = eval_release(env, chk->notes, site, nsite, c, r, e);
            if (rc == 0 && !c->offer && nx_release_offerable(c, r))
                c->offer = r;
        }
    }
    free(site);
    return rc;
}

/* ---- public --------------------------------------------------------------- */

const nx_component *nx_check_find(const nx_check *c, const char *name)
{
    for (size_t i = 0; c && i < c->ncomp; i++)
        if (strcmp(c->comp[i].name, name) == 0)
            return &c->comp[i];
    return NULL;
}

const nx_release *nx_component_release(const nx_component *c, const char *version)
{
    for (size_t i = 0; c && i < c->nrel; i++) {
        nx_err e;
        if (nx_semver_cmp_str(c->rel[i].version, version, &e) == 0)
            return &c->rel[i];
    }
    return NULL;
}

int nx_check_plugin_order(const nx_check *c, char ***slugs, size_t *n, nx_err *e)
{
    const char **names = nx_xcalloc(c->ncomp ? c->ncomp : 1, sizeof *names);
    const json_t **deps = nx_xcalloc(c->ncomp ? c->ncomp : 1, sizeof *deps);
    size_t *order = nx_xcalloc(c->ncomp ? c->ncomp : 1, sizeof *order);
    size_t m = 0;
    for (size_t i = 0; i < c->ncomp; i++) {
        const nx_component *k = &c->comp[i];
        if (!k->slug || !k->installed || !k->offer)
            continue;
        names[m] = k->slug;
        deps[m++] = k->offer->dependencies ? k->offer->dependencies : k->dependencies;
    }
    *slugs = NULL;
    *n = 0;
    int rc = nx_compat_order(names, deps, m, order, e);
    if (rc == 0 && m) {
        *slugs = nx_xcalloc(m, sizeof **slugs);
        for (size_t i = 0; i < m; i++)
            (*slugs)[i] = nx_xstrdup(names[order[i]]);
        *n = m;
    }
    free(names);
    free(deps);
    free(order);
    return rc;
}

void nx_check_free(nx_check *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ncomp; i++) {
        nx_component *k = &c->comp[i];
        for (size_t r = 0; r < k->nrel; r++)
            release_free(&k->rel[r]);
        free(k->rel);
        free(k->name);
        free(k->slug);
        free(k->installed);
        free(k->registered);
        free(k->file);
        json_decref(k->requires);
        json_decref(k->dependencies);
    }
    free(c->comp);
    free(c->source);
    free(c->key_id);
    free(c->generated_at);
    free(c->expires);
    free(c->channel);
    json_decref(c->notes);
    free(c);
}

static void fetch_opts(struct fetch *f, const nx_config *cfg)
{
    const char *t = nx_config_get(cfg, "server", "timeout");
    const char *h = nx_config_get(cfg, "server", "allow_http");
    f->timeout = t ? strtol(t, NULL, 10) : 30;
    if (f->timeout <= 0)
        f->timeout = 30;
    f->allow_http = h && (strcmp(h, "true") == 0 || strcmp(h, "1") == 0 ||
                          strcmp(h, "yes") == 0 || strcmp(h, "on") == 0);
    f->ca_file = nx_config_get(cfg, "server", "ca_file");
    f->api_key = nx_config_get(cfg, "server", "api_key");
}

static int ask(const nx_out *out, const nx_config *cfg, nx_check *chk, const char *url,
               const char *only, nx_err *e)
{
    struct fetch f;
    fetch_opts(&f, cfg);
    struct env env = { .out = out, .cfg = cfg, .chk = chk };
    int rc;
    if (is_index_mode(url)) {
        chk->mode = "index";
        chk->source = index_url(url);
        rc = index_mode(&f, cfg, chk, only, e);
    } else {
        size_t n = strlen(url);
        while (n > 0 && url[n - 1] == '/')
            n--;
        chk->mode = "api";
        chk->source = nx_xasprintf("%.*s/api/check", (int)n, url);
        rc = api_mode(&f, &env, chk, only, e);
    }
    rc = rc == 0 ? choose(&env, chk, e) : -1;
    free(env.php_bin);
    free(env.php_mods);
    return rc;
}

/* `only` names a plugin that is not installed (`plugin SLUG` installs
 * it): ask about it too, as a component with no installed version. */
static void add_not_installed(nx_check *chk, const nx_config *cfg, const char *only)
{
    if (!only || strncmp(only, "plugin:", 7) != 0 || nx_check_find(chk, only))
        return;
    nx_component *c = add_comp(chk, only, only + 7);
    c->file = nx_xasprintf("%s/modules/plugins/%s/version.php",
                           nx_config_get(cfg, "site", "root"), only + 7);
}

nx_check *nx_check_run(const nx_out *out, const nx_config *cfg, const char *only, nx_err *e)
{
    return nx_check_run_force(out, cfg, only, 0, e);
}

nx_check *nx_check_run_force(const nx_out *out, const nx_config *cfg, const char *only,
                             int force, nx_err *e)
{
    const char *url = nx_config_get(cfg, "server", "url");
    if (!url || !*url) {
        nx_seterr(e, "%s: no update source: [server] url is not set", nx_config_file(cfg));
        return NULL;
    }
    nx_check *chk = nx_xcalloc(1, sizeof *chk);
    chk->notes = json_array();
    chk->force = force;
    const char *channel = nx_config_get(cfg, "server", "channel");
    chk->channel = nx_xstrdup(channel ? channel : "stable");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        nx_seterr(e, "%s: cannot initialize libcurl", url);
        nx_check_free(chk);
        return NULL;
    }
    int rc = read_site(chk, cfg, e);
    if (rc == 0)
        add_not_installed(chk, cfg, only);
    if (rc == 0)
        read_registered(out, cfg, chk);
    if (rc == 0)
        rc = ask(out, cfg, chk, url, only, e);
    curl_global_cleanup();
    if (rc != 0) {
        nx_check_free(chk);
        return NULL;
    }
    return chk;
}
