#include "config.h"
#include "defaults.h"
#include "inifile.h"
#include "loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum ktype { K_STR, K_PATH, K_INT, K_BOOL, K_CHOICE, K_LIST, K_WINDOW };

struct key {
    const char *section;
    const char *name;
    enum ktype type;
    const char *def;
    const char *choices; /* K_CHOICE: "a|b|c" */
    int secret;
};

static const struct key KEYS[] = {
    { "site", "root", K_PATH, NULL, NULL, 0 },
    { "site", "managed", K_LIST, "core public_html resources database", NULL, 0 },
    { "site", "preserve", K_LIST, ".env var modules/plugins", NULL, 0 },
    { "database", "driver", K_CHOICE, NULL, "pgsql|mariadb|sqlite", 0 },
    { "database", "host", K_STR, "127.0.0.1", NULL, 0 },
    { "database", "port", K_INT, NULL, NULL, 0 },
    { "database", "name", K_STR, NULL, NULL, 0 },
    { "database", "user", K_STR, NULL, NULL, 0 },
    { "database", "password_file", K_PATH, NULL, NULL, 0 },
    { "database", "path", K_PATH, NULL, NULL, 0 },
    /* TLS to the database server (contracts §9; docs/database.md "TLS"):
     * PostgreSQL's sslmode and root certificate, MariaDB's equivalents;
     * passed to the dump and restore tools too */
    { "database", "sslmode", K_CHOICE, NULL, "disable|allow|prefer|require|verify-ca|verify-full", 0 },
    { "database", "sslrootcert", K_PATH, NULL, NULL, 0 },
    { "server", "url", K_STR, NULL, NULL, 0 },
    { "server", "api_key", K_STR, NULL, NULL, 1 },
    { "server", "timeout", K_INT, "30", NULL, 0 },
    { "server", "trusted_keys", K_PATH, NULL, NULL, 0 },
    { "server", "allow_http", K_BOOL, "false", NULL, 0 },
    /* extension: a CA bundle for a private update server (default: the
     * system's trust store); TLS is always verified */
    { "server", "ca_file", K_PATH, NULL, NULL, 0 },
    /* seconds a whole download may take (timeout bounds connecting and
     * each stall); 0: no overall deadline */
    { "server", "download_timeout", K_INT, "3600", NULL, 0 },
    /* contracts §11: the pre-releases offered (docs/admin-guide.md "Channels") */
    { "server", "channel", K_CHOICE, "stable", "stable|rc|beta|alpha", 0 },
    /* defaults of [paths] come from nx_defaults (the install prefix) */
    { "paths", "state", K_PATH, NULL, NULL, 0 },
    { "paths", "backups", K_PATH, NULL, NULL, 0 },
    { "paths", "modules", K_PATH, NULL, NULL, 0 },
    { "paths", "pipelines", K_PATH, NULL, NULL, 0 },
    { "backup", "keep", K_INT, "5", NULL, 0 },
    { "backup", "keep_days", K_INT, "30", NULL, 0 },
    { "notify", "email", K_STR, NULL, NULL, 0 },
    { "notify", "smtp_url", K_STR, "smtp://127.0.0.1:25", NULL, 0 },
    { "notify", "from", K_STR, "nexo-update@localhost", NULL, 0 },
    /* SMTP login (docs/operations.md "E-mail"): the password file is 0600 */
    { "notify", "user", K_STR, NULL, NULL, 0 },
    { "notify", "password_file", K_PATH, NULL, NULL, 0 },
    { "notify", "starttls", K_BOOL, "false", NULL, 0 },
    { "auto", "apply", K_CHOICE, "none", "none|patch|minor", 0 },
    /* HH:MM-HH:MM local time, may wrap midnight (22:00-04:00) */
    { "auto", "window", K_WINDOW, NULL, NULL, 0 },
    /* contracts §9: plugins whose packages may bring native step modules */
    { "plugins", "native_steps", K_LIST, "", NULL, 0 },
    /* the PHP the site runs: a release's requires.php and php_extensions are
     * checked with it (docs/admin-guide.md "PHP"); check = off updates
     * without checking them, with a warning */
    { "php", "binary", K_STR, "php", NULL, 0 },
    { "php", "check", K_CHOICE, "on", "on|off", 0 },
};
#define NKEYS (sizeof KEYS / sizeof KEYS[0])

struct nx_config {
    char *file;
    char *dir;
    char *val[NKEYS];
    int line[NKEYS];
};

static int find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].section, section) == 0 && strcmp(KEYS[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int known_section(const char *section)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(KEYS[i].section, section) == 0)
            return 1;
    return 0;
}

/* "HH:MM-HH:MM": two times of day, not equal. */
static int window_ok(const char *v)
{
    if (strlen(v) != 11 || v[2] != ':' || v[5] != '-' || v[8] != ':')
        return 0;
    for (size_t i = 0; i < 11; i++)
        if (i != 2 && i != 5 && i != 8 && (v[i] < '0' || v[i] > '9'))
            return 0;
    int h1 = (v[0] - '0') * 10 + (v[1] - '0'), m1 = (v[3] - '0') * 10 + (v[4] - '0');
    int h2 = (v[6] - '0') * 10 + (v[7] - '0'), m2 = (v[9] - '0') * 10 + (v[10] - '0');
    return h1 < 24 && h2 < 24 && m1 < 60 && m2 < 60 && (h1 != h2 || m1 != m2);
}

static int check_value(const struct key *k, const char *v, nx_err *e)
{
    char *end = NULL;
    switch (k->type) {
    case K_INT: {
        errno = 0;
        long long num = strtoll(v, &end, 10);
        if (!*v || *end || errno || num < 0) {
            nx_seterr(e, "[%s] %s: '%s' is not a non-negative whole number", k->section,
                      k->name, v);
            return -1;
        }
        return 0;
    }
    case K_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "yes") && strcmp(v, "no") &&
            strcmp(v, "1") && strcmp(v, "0")) {
            nx_seterr(e, "[%s] %s: '%s' is not true or false", k->section, k->name, v);
            return -1;
        }
        return 0;
    case K_CHOICE: {
        size_t n = strlen(v);
        for (const char *p = k->choices; *p;) {
            const char *bar = strchr(p, '|');
            size_t len = bar ? (size_t)(bar - p) : strlen(p);
            if (len == n && strncmp(p, v, n) == 0)
                return 0;
            p += len + (bar ? 1 : 0);
        }
        nx_seterr(e, "[%s] %s: '%s' is not one of %s", k->section, k->name, v, k->choices);
        return -1;
    }
    case K_WINDOW:
        if (!window_ok(v)) {
            nx_seterr(e, "[%s] %s: '%s' is not a time window HH:MM-HH:MM (local time, "
                      "24-hour clock; it may wrap midnight, e.g. 22:00-04:00)", k->section,
                      k->name, v);
            return -1;
        }
        return 0;
    case K_PATH:
        if (!*v) {
            nx_seterr(e, "[%s] %s: empty path", k->section, k->name);
            return -1;
        }
        return 0;
    default:
        return 0;
    }
}

static int on_entry(void *user, const char *section, const char *key, const char *value,
                    int line, int cont, nx_err *e)
{
    nx_config *c = user;
    if (!known_section(section)) {
        nx_seterr(e, "unknown section [%s]", section);
        return -1;
    }
    if (!key)
        return 0;
    int i = find_key(section, key);
    if (i < 0) {
        nx_seterr(e, "unknown key '%s' in [%s]", key, section);
        return -1;
    }
    if (cont) {
        char *joined = nx_xasprintf("%s %s", c->val[i] ? c->val[i] : "", value);
        free(c->val[i]);
        c->val[i] = joined;
        return check_value(&KEYS[i], joined, e);
    }
    if (c->line[i]) {
        nx_seterr(e, "[%s] %s given twice (first on line %d)", section, key, c->line[i]);
        return -1;
    }
    if (check_value(&KEYS[i], value, e) != 0)
        return -1;
    c->val[i] = nx_xstrdup(value);
    c->line[i] = line;
    return 0;
}

static char *absolute_dir(const char *file)
{
    char *dir = nx_dirname(file);
    if (dir[0] == '/')
        return dir;
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd)) {
        free(dir);
        return nx_xstrdup("/");
    }
    char *abs = strcmp(dir, ".") == 0 ? nx_xstrdup(cwd) : nx_path_join(cwd, dir);
    free(dir);
    return abs;
}

static void set_default(nx_config *c, const char *key, const char *value)
{
    int i = find_key("paths", key);
    if (i >= 0 && !c->val[i])
        c->val[i] = nx_xstrdup(value);
}

static void finish(nx_config *c)
{
    nx_defaults d;
    nx_defaults_init(&d);
    set_default(c, "state", d.state);
    set_default(c, "backups", d.backups);
    set_default(c, "modules", d.modules);
    set_default(c, "pipelines", d.pipelines);
    for (size_t i = 0; i < NKEYS; i++) {
        if (!c->val[i] && KEYS[i].def)
            c->val[i] = nx_xstrdup(KEYS[i].def);
        if (c->val[i] && KEYS[i].type == K_PATH && c->val[i][0] != '/') {
            char *abs = nx_path_join(c->dir, c->val[i]);
            free(c->val[i]);
            c->val[i] = abs;
        }
    }
}

nx_config *nx_config_load(const char *path, nx_err *e)
{
    nx_config *c = nx_xcalloc(1, sizeof *c);
    c->file = nx_xstrdup(path);
    c->dir = absolute_dir(path);
    /* The configuration names the module folder: not writable by others. */
    if (nx_check_secure_path(path, e) != 0 || nx_ini_parse(path, on_entry, c, e) != 0) {
        nx_preferr(e, "config");
        nx_config_free(c);
        return NULL;
    }
    finish(c);
    return c;
}

nx_config *nx_config_from_json(const json_t *snap, nx_err *e)
{
    const char *file = json_string_value(json_object_get(snap, "file"));
    json_t *vals = json_object_get(snap, "values");
    if (!file || !json_is_object(vals)) {
        nx_seterr(e, "journal: configuration snapshot is malformed");
        return NULL;
    }
    nx_config *c = nx_xcalloc(1, sizeof *c);
    c->file = nx_xstrdup(file);
    c->dir = absolute_dir(file);
    for (size_t i = 0; i < NKEYS; i++) {
        char *k = nx_xasprintf("%s.%s", KEYS[i].section, KEYS[i].name);
        const char *v = json_string_value(json_object_get(vals, k));
        free(k);
        if (v)
            c->val[i] = nx_xstrdup(v);
    }
    return c;
}

void nx_config_free(nx_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        free(c->val[i]);
    free(c->file);
    free(c->dir);
    free(c);
}

const char *nx_config_get(const nx_config *c, const char *section, const char *key)
{
    int i = find_key(section, key);
    return i < 0 ? NULL : c->val[i];
}

const char *nx_config_file(const nx_config *c)
{
    return c->file;
}

json_t *nx_config_snapshot(const nx_config *c)
{
    json_t *vals = json_object();
    for (size_t i = 0; i < NKEYS; i++) {
        if (!c->val[i] || KEYS[i].secret)
            continue;
        char *k = nx_xasprintf("%s.%s", KEYS[i].section, KEYS[i].name);
        json_object_set_new(vals, k, json_string(c->val[i]));
        free(k);
    }
    return json_pack("{s:s, s:o}", "file", c->file, "values", vals);
}
