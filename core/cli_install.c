/*
 * nexo-update install and update-db (contracts §2; docs/install.md).
 *
 * install --package FILE | --version V
 *   A fresh install on an empty database (no table at all) and a site root
 *   that holds none of the managed paths yet (preserved things such as
 *   .env, var/ or modules/plugins may be there). PIPELINES/install.ini
 *   does the work as an update of its own (lock, journal, recover): when a
 *   step fails, the steps before it are undone, so the site root and the
 *   database end as they were.
 *
 *   --package FILE  a local release package. Its detached signature
 *       FILE.sig must be beside it: trust is never optional. Its component
 *       and version come from its manifest, which only the verify step
 *       reads, after checking the signature: this command runs that step
 *       (and, for a dry run, the extract step) in-process in a private
 *       temporary folder before it asks anything ("the probe"). The
 *       file's sha256 and size, taken here, and FILE.sig's content become
 *       the offer facts of the run, so the pipeline installs exactly the
 *       bytes whose signature was checked (the download step refuses other
 *       bytes). The sha256 is not a trust anchor: the signature is.
 *   --version=V     release V from the update source ([server] url), as
 *       `core --to V` picks it, with nothing installed. The update check
 *       reads the installed version from ROOT/core/version.php, which a
 *       fresh site does not have: it runs over a private stand-in root
 *       whose core/version.php says 0.0.0 and whose modules/plugins is the
 *       site's. (`--version V` and `--version=V` both work: after the
 *       command word, --version is the command's option.)
 *
 * update-db
 *   The files on disk (ROOT/core/version.php) are newer than the newest
 *   core row of system_versions (an admin copied a release by hand): run
 *   PIPELINES/db.ini with component core, from = the database's version,
 *   to = the disk's. No package is staged, so the migrate step reads
 *   ROOT/database/upgrades.
 */
#include "cli.h"
#include "loader.h"
#include "manifest.h"
#include "offer.h"
#include "phpver.h"
#include "pipeline.h"
#include "semver.h"
#include "trust.h"
#include "update_check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAMES_SHOWN 10      /* tables named in a refusal */
#define SIG_MAX 4096        /* bytes of a FILE.sig */
#define DEFAULT_MANAGED "core public_html resources database"

/* ---- small helpers ------------------------------------------------------- */

static void log_err(const struct cli *c, const char *fmt, ...) NX_PRINTF(2, 3);
static void log_err(const struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nx_vlog(&c->out, NEXO_LOG_ERROR, NULL, fmt, ap);
    va_end(ap);
}

/* A private temporary folder (0700) under $TMPDIR or /tmp; NULL logged. */
static char *private_tmp(const struct cli *c)
{
    const char *t = getenv("TMPDIR");
    char *dir = nx_xasprintf("%s/nexo-update-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        log_err(c, "cannot make a temporary folder %s: %s", dir, strerror(errno));
        free(dir);
        return NULL;
    }
    return dir;
}

static void remove_tmp(const struct cli *c, char *dir)
{
    nx_err e;
    if (dir && nx_rmtree(dir, &e) != 0)
        nx_log(&c->out, NEXO_LOG_WARN, NULL, "%s", e.msg);
    free(dir);
}

/* "a, b, c and 4 more" (malloc'ed) from a JSON array of strings. */
static char *join_names(const json_t *arr)
{
    size_t n = json_array_size(arr), len = 0;
    char *out = nx_xstrdup("");
    for (size_t i = 0; i < n && i < NAMES_SHOWN; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        char *next = nx_xasprintf("%s%s%s", out, i ? ", " : "", s ? s : "?");
        free(out);
        out = next;
        len++;
    }
    if (n > len) {
        char *next = nx_xasprintf("%s and %zu more", out, n - len);
        free(out);
        out = next;
    }
    return out;
}

/* Set a fact of the offer (offer.h names, "param.X") as the request
 * parameter X. */
static void set_param(json_t *params, const char *fact, const char *value)
{
    const char *dot = strchr(fact, '.');
    if (value)
        json_object_set_new(params, dot ? dot + 1 : fact, json_string(value));
}

static const char *get_param(const json_t *params, const char *fact)
{
    const char *dot = strchr(fact, '.');
    return json_string_value(json_object_get(params, dot ? dot + 1 : fact));
}

/* The facts a step sees for request parameters: "param.X". */
static void add_params_to_info(json_t *info, const json_t *params)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)params, k, v) {
        char *key = nx_xasprintf("param.%s", k);
        json_object_set(info, key, v);
        free(key);
    }
}

/* ---- the database as it is --------------------------------------------- */

static int first_column(void *arg, int ncols, const char *const *names,
                        const char *const *values)
{
    (void)names;
    if (ncols >= 1 && values[0])
        json_array_append_new(arg, json_string(values[0]));
    return 0;
}

/* Tables and views in the configured database, in the driver's dialect
 * (other drivers: information_schema, as MariaDB). */
static const char *tables_sql(const char *driver)
{
    if (strcmp(driver, "sqlite") == 0)
        return "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
               "AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name";
    if (strcmp(driver, "pgsql") == 0)
        return "SELECT CASE WHEN n.nspname = 'public' THEN c.relname "
               "ELSE n.nspname || '.' || c.relname END "
               "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
               "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
               "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1";
    return "SELECT table_name FROM information_schema.tables "
           "WHERE table_schema = DATABASE() ORDER BY table_name";
}

/* A SQLite database file that does not exist is empty; it is not created
 * by looking at it. */
static int sqlite_missing(const nx_config *cfg)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    const char *path = nx_config_get(cfg, "database", "path");
    return drv && strcmp(drv, "sqlite") == 0 && path && access(path, F_OK) != 0 &&
           errno == ENOENT;
}

/* The database's tables (a new JSON array), or NULL (logged). */
static json_t *db_tables(const struct cli *c, const nx_config *cfg)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    if (!drv) {
        log_err(c, "no database configured ([database] driver is not set in %s)",
                nx_config_file(cfg));
        return NULL;
    }
    json_t *names = json_array();
    if (sqlite_missing(cfg))
        return names;
    nx_err e;
    if (nx_db_query_standalone(&c->out, cfg, tables_sql(drv), first_column, names, &e) != 0) {
        log_err(c, "cannot list the tables of the database: %s", e.msg);
        json_decref(names);
        return NULL;
    }
    return names;
}

static int has_name(const json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (json_string_value(v) && strcmp(json_string_value(v), name) == 0)
            return 1;
    return 0;
}

/* The newest core version registered in system_versions (the row written
 * last): 0 with *out set (NULL: no core row), -1 logged. */
static int db_core_version(const struct cli *c, const nx_config *cfg, char **out)
{
    *out = NULL;
    json_t *rows = json_array();
    nx_err e;
    int rc = nx_db_query_standalone(&c->out, cfg, "SELECT version_number FROM system_versions "
                                    "WHERE component = 'core' ORDER BY id DESC",
                                    first_column, rows, &e);
    if (rc != 0)
        log_err(c, "cannot read system_versions: %s", e.msg);
    else if (json_array_size(rows))
        *out = nx_xstrdup(json_string_value(json_array_get(rows, 0)));
    json_decref(rows);
    return rc ? -1 : 0;
}

static const char *db_name(const nx_config *cfg)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    const char *name = nx_config_get(cfg, "database", drv && strcmp(drv, "sqlite") == 0
                                                          ? "path" : "name");
    return name ? name : "?";
}

/* install needs a database without any table. 0 empty, -1 refused (logged). */
static int db_must_be_empty(const struct cli *c, const nx_config *cfg)
{
    json_t *tables = db_tables(c, cfg);
    if (!tables)
        return -1;
    int rc = 0;
    if (json_array_size(tables)) {
        char *list = join_names(tables);
        char *ver = NULL;
        if (has_name(tables, "system_versions"))
            db_core_version(c, cfg, &ver);
        if (ver)
            log_err(c, "refused: the database %s already has NexoSupport core %s registered "
                    "(system_versions); update it with 'nexo-update core', or, when the files "
                    "were copied by hand, 'nexo-update update-db'", db_name(cfg), ver);
        log_err(c, "refused: install needs an empty database, but %s has %zu table(s): %s",
                db_name(cfg), json_array_size(tables), list);
        free(list);
        free(ver);
        rc = -1;
    }
    json_decref(tables);
    return rc;
}

/* ---- the site as it is ------------------------------------------------- */

/* The managed paths ([site] managed), split at spaces and commas: a new
 * JSON array. */
static json_t *managed_paths(const nx_config *cfg)
{
    const char *m = nx_config_get(cfg, "site", "managed");
    if (!m || !*m)
        m = DEFAULT_MANAGED;
    json_t *out = json_array();
    for (const char *p = m; *p;) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, " \t,");
        if (len) {
            char *one = nx_xstrndup(p, len);
            while (len > 1 && one[len - 1] == '/')
                one[--len] = '\0';
            json_array_append_new(out, json_string(one));
            free(one);
        }
        p += len;
    }
    return out;
}

/* install needs a site root that exists and holds no managed path yet. */
static int site_must_be_empty(const struct cli *c, const nx_config *cfg)
{
    const char *root = nx_config_get(cfg, "site", "root");
    struct stat st;
    if (!root) {
        log_err(c, "%s: [site] root is not set", nx_config_file(cfg));
        return -1;
    }
    int err = stat(root, &st) != 0 ? errno : 0;
    if (err || !S_ISDIR(st.st_mode)) {
        log_err(c, "refused: the site root %s is not a folder%s%s: make it (empty, owned by "
                "the site's user) first", root, err ? ": " : "", err ? strerror(err) : "");
        return -1;
    }
    json_t *managed = managed_paths(cfg);
    int rc = 0;
    size_t i;
    json_t *v;
    json_array_foreach(managed, i, v) {
        char *p = nx_path_join(root, json_string_value(v));
        if (lstat(p, &st) == 0) {
            char *list = join_names(managed);
            log_err(c, "refused: %s exists: install needs a site root that holds none of the "
                    "managed paths (%s) yet; .env, var/ and modules/plugins may be there. "
                    "Update an installed site with 'nexo-update core'", p, list);
            free(list);
            rc = -1;
        }
        free(p);
        if (rc)
            break;
    }
    json_decref(managed);
    return rc;
}

/* ---- the probe: the verify (and extract) step in-process ---------------- */

struct probe {
    char *dir;          /* private temporary folder: the probe's work folder */
    char *staged;       /* dir/stage when extracted */
    char *manifest;     /* dir/nexo-release.json, the verify step's copy */
    nx_manifest *m;
};

static void probe_free(const struct cli *c, struct probe *p)
{
    nx_manifest_free(p->m);
    free(p->staged);
    free(p->manifest);
    remove_tmp(c, p->dir);
    memset(p, 0, sizeof *p);
}

static json_t *probe_step(const char *modules, const char *name, json_t *settings, nx_err *e)
{
    char *path = nx_module_resolve(modules, NX_STEP, name, e);
    if (!path) {
        json_decref(settings);
        return NULL;
    }
    json_t *s = json_pack("{s:s, s:s, s:s, s:i, s:o}", "name", name, "module", name, "path",
                          path, "line", 0, "settings", settings);
    free(path);
    return s;
}

/* Call one step function as the engine does; 0 or the step's message
 * logged with its name. */
static int probe_call(const struct cli *c, nx_run *r, size_t i, const char *phase,
                      nexo_step_fn fn)
{
    int rc = nx_engine_call(r, i, phase, fn);
    if (rc != 0)
        nx_log(&c->out, NEXO_LOG_ERROR, r->pl->steps[i].name, "%s", r->ctx[i].msg);
    return rc;
}

/* Run the steps' validate and run in order, as an update without journal
 * or lock whose work folder is p->dir; the first failure stops it. */
static int probe_steps(const struct cli *c, const nx_config *cfg, nx_pipeline *pl,
                       const json_t *params, const char *dir)
{
    json_t *info = json_pack("{s:s, s:s, s:s, s:s}", "update_id", "install-probe",
                             "component", "core", "pipeline", pl->name, "work_dir", dir);
    add_params_to_info(info, params);
    nx_out quiet = c->out;
    if (quiet.verbosity < 2)
        quiet.verbosity = 0;
    quiet.sink = NULL; /* the probe's lines are not the install's */
    nx_run r;
    nx_run_init(&r, &quiet, cfg, pl, NULL, info);
    json_decref(info);
    int rc = 0;
    for (size_t i = 0; !rc && i < pl->nsteps; i++) {
        const struct nexo_step_module *m = pl->steps[i].mod->step;
        if (m->validate)
            rc = probe_call(c, &r, i, "validate", m->validate);
        if (!rc)
            rc = probe_call(c, &r, i, "run", m->run);
    }
    nx_run_free(&r);
    return rc;
}

/* Verify a local package (and with `stage`, unpack it into p->staged)
 * with the installed verify and extract steps; then read the manifest the
 * verify step copied. 0, or -1 (logged). */
static int probe_package(const struct cli *c, const nx_config *cfg, const json_t *params,
                         int stage, struct probe *p)
{
    memset(p, 0, sizeof *p);
    p->dir = private_tmp(c);
    if (!p->dir)
        return -1;
    p->manifest = nx_path_join(p->dir, NX_MANIFEST_NAME);
    const char *mods = nx_config_get(cfg, "paths", "modules");
    nx_err e;
    json_t *steps = json_array();
    json_t *s = probe_step(mods, "verify", json_object(), &e);
    if (s)
        json_array_append_new(steps, s);
    if (s && stage) {
        p->staged = nx_path_join(p->dir, "stage");
        s = probe_step(mods, "extract", json_pack("{s:s, s:s}", "staging", p->staged,
                                                  "record_manifest", ""), &e);
        if (s)
            json_array_append_new(steps, s);
    }
    nx_pipeline *pl = NULL;
    if (s) {
        json_t *doc = json_pack("{s:s, s:s, s:o}", "file", "(install probe)", "name",
                                "install-probe", "steps", steps);
        steps = NULL;
        pl = nx_pipeline_from_json(doc, &e);
        json_decref(doc);
    }
    json_decref(steps);
    if (!pl || nx_pipeline_load_modules(pl, mods, &e) != 0) {
        log_err(c, "%s", e.msg);
        nx_pipeline_free(pl);
        return -1;
    }
    int rc = probe_steps(c, cfg, pl, params, p->dir);
    nx_pipeline_free(pl);
    if (rc)
        return -1;
    char *text = NULL;
    size_t len = 0;
    if (nx_read_file(p->manifest, &text, &len, NX_MANIFEST_MAX, &e) == 0)
        p->m = nx_manifest_parse(text, len, p->manifest, &e);
    free(text);
    if (!p->m) {
        log_err(c, "%s", e.msg);
        return -1;
    }
    return 0;
}

/* ---- install: where the release comes from ------------------------------ */

struct source {
    const char *package_arg;  /* --package as given */
    const char *version_arg;  /* --version */
    char *package;            /* absolute path of a local package (also file://) */
    char *version;            /* the version to install */
    char *what;               /* for messages: the package file or URL */
    uint64_t size;
    json_t *params;           /* the offer facts without "param." */
};

static void source_free(struct source *s)
{
    free(s->package);
    free(s->version);
    free(s->what);
    json_decref(s->params);
}

static int install_args(int argc, char **argv, struct source *s)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        const char *val = NULL;
        if (strcmp(a, "--package") == 0 || strcmp(a, "--version") == 0) {
            slot = a[2] == 'p' ? &s->package_arg : &s->version_arg;
            val = i + 1 < argc ? argv[++i] : NULL;
        } else if (strncmp(a, "--package=", 10) == 0) {
            slot = &s->package_arg;
            val = a + 10;
        } else if (strncmp(a, "--version=", 10) == 0) {
            slot = &s->version_arg;
            val = a + 10;
        } else {
            fprintf(stderr, "nexo-update: install: unexpected '%s' (see nexo-update install "
                            "--help)\n", a);
            return NX_EXIT_USAGE;
        }
        if (!val || !*val) {
            fprintf(stderr, "nexo-update: install: %s needs a value\n", a);
            return NX_EXIT_USAGE;
        }
        if (*slot) {
            fprintf(stderr, "nexo-update: install: %s given twice\n", a);
            return NX_EXIT_USAGE;
        }
        *slot = val;
    }
    if (!s->package_arg == !s->version_arg) {
        fprintf(stderr, "nexo-update: install: give either --package FILE or --version V\n");
        return NX_EXIT_USAGE;
    }
    return 0;
}

/* FILE.sig beside the package as given (malloc'ed, trailing white space
 * cut); NULL logged. */
static char *read_signature(const struct cli *c, const char *pkg)
{
    char *path = nx_xasprintf("%s.sig", pkg);
    char *text = NULL;
    nx_err e;
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        log_err(c, "refused: %s has no detached signature %s: a package is installed only "
                "with its signature (nexo-release writes it beside the package)", pkg, path);
    } else if (nx_read_file(path, &text, NULL, SIG_MAX, &e) != 0) {
        log_err(c, "refused: %s", e.msg);
    } else {
        size_t n = strlen(text);
        while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
            text[--n] = '\0';
        if (!n) {
            log_err(c, "refused: %s is empty", path);
            free(text);
            text = NULL;
        }
    }
    free(path);
    return text;
}

/* --package FILE: sha256, size and FILE.sig become the facts; the probe
 * (verify) says what it is. */
static int from_package(const struct cli *c, const nx_config *cfg, struct source *s,
                        struct probe *p)
{
    s->package = realpath(s->package_arg, NULL);
    if (!s->package) {
        log_err(c, "package %s: %s", s->package_arg, strerror(errno));
        return -1;
    }
    s->what = nx_xstrdup(s->package);
    char *sig = read_signature(c, s->package_arg);
    if (!sig)
        return -1;
    char sha[NX_SHA256_HEX], size[32];
    nx_err e;
    if (nx_sha256_file(s->package, sha, &s->size, &e) != 0) {
        log_err(c, "%s", e.msg);
        free(sig);
        return -1;
    }
    snprintf(size, sizeof size, "%llu", (unsigned long long)s->size);
    s->params = json_object();
    set_param(s->params, NX_OFFER_PACKAGE, s->package);
    set_param(s->params, NX_OFFER_SHA256, sha);
    set_param(s->params, NX_OFFER_SIZE, size);
    set_param(s->params, NX_OFFER_SIGNATURE, sig);
    set_param(s->params, NX_OFFER_COMPONENT, "core");
    free(sig);
    if (probe_package(c, cfg, s->params, c->dry_run, p) != 0) {
        log_err(c, "install: %s refused; nothing was changed", s->package);
        return -1;
    }
    if (strcmp(p->m->component, "core") != 0) {
        log_err(c, "refused: %s is %s %s: install installs core (a plugin: 'nexo-update "
                "plugin SLUG')", s->package, p->m->component, p->m->version);
        return -1;
    }
    s->version = nx_xstrdup(p->m->version);
    set_param(s->params, NX_OFFER_VERSION, s->version);
    return 0;
}

/* file:///PATH (or file://localhost/PATH), percent-decoded; NULL when
 * the URL is not a local file. */
static char *file_url_path(const char *url)
{
    const char *p = NULL;
    if (strncmp(url, "file:///", 8) == 0)
        p = url + 7;
    else if (strncmp(url, "file://localhost/", 17) == 0)
        p = url + 16;
    if (!p)
        return NULL;
    char *out = nx_xmalloc(strlen(p) + 1), *o = out;
    for (; *p; p++) {
        unsigned v;
        if (*p == '%' && p[1] && p[2] && sscanf(p + 1, "%2x", &v) == 1 && v != 0) {
            *o++ = (char)v;
            p += 2;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* The update check over a stand-in root with nothing installed (see the
 * top of this file). */
static nx_check *check_fresh(const struct cli *c, const nx_config *cfg, const char *tmp)
{
    const char *root = nx_config_get(cfg, "site", "root");
    char *stand = nx_path_join(tmp, "root");
    char *core = nx_path_join(stand, "core");
    char *file = nx_path_join(core, "version.php");
    static const char php[] = "<?php\n// nexo-update install: a site with nothing installed "
                              "yet\nreturn ['version' => '0.0.0'];\n";
    nx_err e;
    nx_check *chk = NULL;
    nx_config *tmpcfg = NULL;
    if (nx_mkdirs(core, 0700, &e) != 0 ||
        nx_write_file_atomic(file, php, sizeof php - 1, 0600, &e) != 0)
        goto out;
    char *plugins = nx_path_join(root, "modules/plugins");
    struct stat st;
    if (stat(plugins, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *mods = nx_path_join(stand, "modules");
        char *link = nx_path_join(mods, "plugins");
        if (nx_mkdirs(mods, 0700, &e) == 0 && symlink(plugins, link) != 0)
            nx_log(&c->out, NEXO_LOG_WARN, NULL, "%s: %s: installed plugins not considered",
                   link, strerror(errno));
        free(mods);
        free(link);
    }
    free(plugins);
    json_t *snap = nx_config_snapshot(cfg);
    json_t *vals = json_object_get(snap, "values");
    json_object_set_new(vals, "site.root", json_string(stand));
    const char *key = nx_config_get(cfg, "server", "api_key"); /* not in snapshots */
    if (key)
        json_object_set_new(vals, "server.api_key", json_string(key));
    tmpcfg = nx_config_from_json(snap, &e);
    json_decref(snap);
    if (tmpcfg)
        chk = nx_check_run(&c->out, tmpcfg, "core", &e);
out:
    if (!chk)
        log_err(c, "%s", e.msg);
    else {
        size_t i;
        json_t *n;
        json_array_foreach(chk->notes, i, n)
            nx_log(&c->out, NEXO_LOG_INFO, NULL, "note: %s", json_string_value(n));
    }
    nx_config_free(tmpcfg);
    free(file);
    free(core);
    free(stand);
    return chk;
}

static void list_versions(const nx_component *k, char *buf, size_t len)
{
    size_t off = 0;
    snprintf(buf, len, "none");
    for (size_t i = 0; i < k->nrel; i++) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", k->rel[i].version);
        if (n < 0 || (size_t)n >= len - off)
            break;
        off += (size_t)n;
    }
}

/* --version=V: release V from the update source. A dry run on a local
 * repository (file://) also probes the package to plan its schema. */
static int from_source(const struct cli *c, const nx_config *cfg, struct source *s,
                       struct probe *p)
{
    char *tmp = private_tmp(c);
    if (!tmp)
        return -1;
    nx_check *chk = check_fresh(c, cfg, tmp);
    remove_tmp(c, tmp);
    if (!chk)
        return -1;
    int rc = -1;
    const nx_component *k = nx_check_find(chk, "core");
    const nx_release *r = k ? nx_component_release(k, s->version_arg) : NULL;
    char buf[2048];
    if (!r) {
        if (k)
            list_versions(k, buf, sizeof buf);
        log_err(c, "core %s is not offered by %s (offered: %s)", s->version_arg, chk->source,
                k ? buf : "none");
    } else if (json_array_size(r->unmet)) {
        size_t i;
        json_t *u;
        json_array_foreach(r->unmet, i, u)
            log_err(c, "core %s: the site does not meet its requirement %s", r->version,
                    json_string_value(u));
    } else {
        char size[32];
        snprintf(size, sizeof size, "%llu", (unsigned long long)r->size);
        s->version = nx_xstrdup(r->version);
        s->what = nx_xstrdup(r->url);
        s->size = r->size;
        s->params = json_object();
        set_param(s->params, NX_OFFER_URL, r->url);
        set_param(s->params, NX_OFFER_SHA256, r->sha256);
        set_param(s->params, NX_OFFER_SIGNATURE, r->signature);
        set_param(s->params, NX_OFFER_SIZE, size);
        set_param(s->params, NX_OFFER_COMPONENT, "core");
        set_param(s->params, NX_OFFER_VERSION, r->version);
        set_param(s->params, NX_OFFER_DOWNGRADE, "0");
        s->package = file_url_path(r->url);
        rc = 0;
    }
    nx_check_free(chk);
    if (rc == 0 && c->dry_run && s->package) {
        json_t *pp = json_deep_copy(s->params);
        set_param(pp, NX_OFFER_PACKAGE, s->package);
        rc = probe_package(c, cfg, pp, 1, p);
        json_decref(pp);
        if (rc)
            log_err(c, "install: %s refused; nothing was changed", s->what);
    }
    return rc;
}

/* ---- install: dry run ------------------------------------------------- */

static int is_install_migrate(const nx_step_inst *st)
{
    const char *mode = nx_step_setting(st, "mode");
    return strcmp(st->mod->step->name, "migrate") == 0 && mode && strcmp(mode, "install") == 0;
}

/* Validate and plan the install pipeline; with a probed package its
 * staged tree stands in for the extract step's, so that the migrate step
 * shows the SQL of the package's install.xml. */
static int install_plan(const struct cli *c, const nx_config *cfg, const char *path,
                        const struct source *s, const struct probe *p)
{
    nx_err e;
    nx_pipeline *pl = nx_pipeline_parse(path, &e);
    if (!pl || nx_pipeline_load_modules(pl, nx_config_get(cfg, "paths", "modules"), &e) != 0) {
        log_err(c, "%s", e.msg);
        log_err(c, "nothing was run: every module of a pipeline must load before any step "
                   "runs");
        nx_pipeline_free(pl);
        return NX_EXIT_FAILED;
    }
    json_t *info = json_pack("{s:s, s:s, s:s, s:s}", "update_id", "dry-run", "component",
                             "core", "pipeline", pl->name, "to_version", s->version);
    add_params_to_info(info, s->params);
    nx_run r;
    nx_run_init(&r, &c->out, cfg, pl, NULL, info);
    json_decref(info);
    r.dry_run = 1;
    if (p->staged) {
        json_object_set_new(r.shared, NX_SHARED_STAGING, json_string(p->staged));
        json_object_set_new(r.shared, NX_SHARED_MANIFEST, json_string(p->manifest));
    }
    nx_log(&c->out, NEXO_LOG_INFO, NULL, "dry run of pipeline '%s' (%s): nothing will change",
           pl->name, pl->file);
    int code = NX_EXIT_OK;
    if (nx_engine_validate(&r, &e) != 0) {
        log_err(c, "%s", e.msg);
        code = NX_EXIT_FAILED;
    }
    for (size_t i = 0; code == NX_EXIT_OK && i < pl->nsteps; i++) {
        const nx_step_inst *st = &pl->steps[i];
        const struct nexo_step_module *m = st->mod->step;
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "step %zu/%zu [%s]: %s %s (%s)", i + 1,
               pl->nsteps, st->name, m->name, m->version, st->module_path);
        if (!p->staged && is_install_migrate(st))
            nx_log(&c->out, NEXO_LOG_INFO, st->name, "would create the schema from the "
                   "package's %s (its SQL is shown when the package is local: install "
                   "--package FILE -n)", nx_step_setting(st, "schema"));
        else if (m->plan && probe_call(c, &r, i, "plan", m->plan) != 0)
            code = NX_EXIT_FAILED;
    }
    nx_run_free(&r);
    nx_pipeline_free(pl);
    return code;
}

/* What is installed: on stdout (not with -q), and for --json into doc. */
static void print_summary(const struct cli *c, const nx_config *cfg, const struct source *s,
                          json_t *doc)
{
    const char *sha = get_param(s->params, NX_OFFER_SHA256);
    const nx_out *o = &c->out;
    json_t *facts = json_object();
    add_params_to_info(facts, s->params);
    json_t *sum = json_pack("{s:s, s:s, s:s?, s:I, s:s?, s:s?, s:s, s:o}", "version",
                            s->version, "source", s->what, "sha256", sha, "size_bytes",
                            (json_int_t)s->size, "root", nx_config_get(cfg, "site", "root"),
                            "database_driver", nx_config_get(cfg, "database", "driver"),
                            "database", db_name(cfg), "facts", facts);
    json_object_update(doc, sum);
    json_decref(sum);
    if (o->json)
        return;
    nx_print(o, 1, "install core %s", s->version);
    nx_print(o, 1, "  from:       %s", s->what);
    nx_print(o, 1, "  size:       %llu bytes", (unsigned long long)s->size);
    nx_print(o, 1, "  sha256:     %s", sha ? sha : "?");
    const char *keys = nx_config_get(cfg, "server", "trusted_keys");
    if (s->package_arg)
        nx_print(o, 1, "  signature:  %s.sig verified with the keys in %s", s->package_arg,
                 keys ? keys : "?");
    else
        nx_print(o, 1, "  signature:  offered by the source; the verify step checks it with "
                 "the keys in %s", keys ? keys : "?");
    nx_print(o, 1, "  site root:  %s (no managed path yet)", nx_config_get(cfg, "site", "root"));
    nx_print(o, 1, "  database:   %s %s (empty)", nx_config_get(cfg, "database", "driver"),
             db_name(cfg));
    fflush(stdout);
}

static int install(struct cli *c, int argc, char **argv, json_t *doc, char **version,
                   int *usage)
{
    struct source s = { 0 };
    struct probe p = { 0 };
    int code = install_args(argc, argv, &s);
    *usage = code != 0;
    if (code != 0)
        return code;
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    code = NX_EXIT_FAILED;
    int site = site_must_be_empty(c, cfg);
    int db = db_must_be_empty(c, cfg);
    if (site != 0 || db != 0)
        goto out;
    if (s.package_arg ? from_package(c, cfg, &s, &p) : from_source(c, cfg, &s, &p))
        goto out;
    *version = nx_xstrdup(s.version);
    print_summary(c, cfg, &s, doc);
    char *path = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"), "install");
    if (c->dry_run) {
        code = install_plan(c, cfg, path, &s, &p);
        json_object_set_new(doc, "outcome", json_string(code ? "refused" : "planned"));
        json_object_set_new(doc, "dry_run", json_true());
        free(path);
        goto out;
    }
    probe_free(c, &p);
    char *q = nx_xasprintf("Install NexoSupport core %s on the site %s and the empty %s "
                           "database %s?", s.version, nx_config_get(cfg, "site", "root"),
                           nx_config_get(cfg, "database", "driver"), db_name(cfg));
    int ok = cli_confirm(c, q);
    free(q);
    if (ok <= 0) {
        code = ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
        if (ok == 0)
            nx_log(&c->out, NEXO_LOG_INFO, NULL, "not installed");
        json_object_set_new(doc, "outcome", json_string("refused"));
        json_object_set_new(doc, "error", json_string("not confirmed"));
        free(path);
        goto out;
    }
    struct nx_update_req req = { .pipeline = path, .component = "core", .to = s.version,
                                 .params = s.params };
    code = nx_update_run(&c->out, cfg, &req, c->faults);
    if (code == NX_EXIT_OK)
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "core %s is installed on the site %s",
               s.version, nx_config_get(cfg, "site", "root"));
    free(path);
out:
    probe_free(c, &p);
    source_free(&s);
    return code;
}

/* The install's lines go into its log; --json: one document at the end,
 * the run's report and what was installed. */
int cmd_install(struct cli *c, int argc, char **argv)
{
    nx_capture cap;
    nx_capture_begin(&cap, &c->out);
    json_t *extra = json_object();
    char *version = NULL;
    int usage = 0;
    int code = install(c, argc, argv, extra, &version, &usage);
    json_t *doc = nx_capture_end(&cap, code, "core", NULL, version);
    json_object_update(doc, extra);
    json_decref(extra);
    free(version);
    if (c->out.json && !usage)
        cli_print_json(doc);
    else
        json_decref(doc);
    return code;
}

/* ---- update-db ------------------------------------------------------------ */

static char *disk_version(const struct cli *c, const nx_config *cfg)
{
    char *file = nx_path_join(nx_config_get(cfg, "site", "root"), "core/version.php");
    nx_err e;
    char *out = NULL;
    int missing = access(file, F_OK) != 0 && errno == ENOENT;
    json_t *v = missing ? NULL : nx_phpver_load(file, &e);
    if (missing)
        log_err(c, "refused: %s does not exist: no core on disk (a fresh site: 'nexo-update "
                "install')", file);
    else if (!v)
        log_err(c, "%s", e.msg);
    else {
        const char *s = json_string_value(json_object_get(v, "version"));
        nx_semver sv;
        if (!s)
            log_err(c, "%s: no 'version' string", file);
        else if (nx_semver_parse(s, &sv, &e) != 0)
            log_err(c, "%s: %s", file, e.msg);
        else {
            nx_semver_free(&sv);
            out = nx_xstrdup(s);
        }
    }
    json_decref(v);
    free(file);
    return out;
}

/* The database's core version; NULL logged (no table, no row: refused). */
static char *database_version(const struct cli *c, const nx_config *cfg)
{
    json_t *tables = db_tables(c, cfg);
    if (!tables)
        return NULL;
    char *v = NULL;
    if (!has_name(tables, "system_versions"))
        log_err(c, "refused: the database %s has no system_versions table: no version of "
                "NexoSupport is recorded in it (a fresh site: 'nexo-update install')",
                db_name(cfg));
    else if (db_core_version(c, cfg, &v) == 0 && !v)
        log_err(c, "refused: system_versions in %s has no core row: no core version is "
                "recorded (a fresh site: 'nexo-update install')", db_name(cfg));
    json_decref(tables);
    return v;
}

/* -1, 0, 1 as a is older, equal, newer than b; -2 logged. */
static int compare(const struct cli *c, const char *a, const char *b)
{
    nx_semver va, vb;
    nx_err e;
    if (nx_semver_parse(a, &va, &e) != 0) {
        log_err(c, "%s", e.msg);
        return -2;
    }
    if (nx_semver_parse(b, &vb, &e) != 0) {
        log_err(c, "system_versions: core version '%s': %s", b, e.msg);
        nx_semver_free(&va);
        return -2;
    }
    int r = nx_semver_cmp(&va, &vb);
    nx_semver_free(&va);
    nx_semver_free(&vb);
    return r < 0 ? -1 : r > 0;
}

static void update_db_json(json_t *doc, const char *dbv, const char *diskv,
                           const char *action)
{
    json_object_set_new(doc, "database_version", dbv ? json_string(dbv) : json_null());
    json_object_set_new(doc, "disk_version", diskv ? json_string(diskv) : json_null());
    json_object_set_new(doc, "action", json_string(action));
}

static int update_db(struct cli *c, json_t *doc, char **from, char **to);

/* Its lines go into the update's log; --json: one document at the end,
 * the run's report with the database's and the disk's versions. */
int cmd_update_db(struct cli *c, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "nexo-update: update-db: unexpected '%s'\n", argv[1]);
        return NX_EXIT_USAGE;
    }
    nx_capture cap;
    nx_capture_begin(&cap, &c->out);
    json_t *extra = json_object();
    char *from = NULL, *to = NULL;
    int code = update_db(c, extra, &from, &to);
    json_t *doc = nx_capture_end(&cap, code, "core", from, to);
    json_object_update(doc, extra);
    json_decref(extra);
    free(from);
    free(to);
    if (c->out.json)
        cli_print_json(doc);
    else
        json_decref(doc);
    return code;
}

static int update_db(struct cli *c, json_t *doc, char **from, char **to)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    const char *root = nx_config_get(cfg, "site", "root");
    if (!root) {
        log_err(c, "%s: [site] root is not set", nx_config_file(cfg));
        return NX_EXIT_FAILED;
    }
    char *diskv = disk_version(c, cfg);
    char *dbv = diskv ? database_version(c, cfg) : NULL;
    int code = NX_EXIT_FAILED;
    int cmp = dbv ? compare(c, diskv, dbv) : -2;
    update_db_json(doc, dbv, diskv, cmp == 0 ? "nothing" : cmp == 1 ? "migrate" : "refused");
    *from = dbv ? nx_xstrdup(dbv) : NULL;
    *to = diskv ? nx_xstrdup(diskv) : NULL;
    if (cmp == 0) {
        nx_print(&c->out, 1, "nothing to do: the database is at core %s, as the files on "
                 "disk (%s)", dbv, root);
        code = NX_EXIT_OK;
    } else if (cmp == -1) {
        log_err(c, "refused: the files on disk (core %s, %s/core/version.php) are older than "
                "the database (core %s in system_versions): migrations only go forward. Put "
                "back the files of %s (or 'nexo-update rollback' to the backup of the files "
                "and the database)", diskv, root, dbv, dbv);
    } else if (cmp == 1) {
        nx_print(&c->out, 1, "update-db: the files on disk are core %s, the database is at "
                 "core %s: migrate it %s -> %s (%s/database/upgrades)", diskv, dbv, dbv, diskv,
                 root);
        fflush(stdout);
        int ok = 1;
        if (!c->dry_run) {
            char *q = nx_xasprintf("Migrate the database %s from core %s to %s (the files on "
                                   "disk)?", db_name(cfg), dbv, diskv);
            ok = cli_confirm(c, q);
            free(q);
        }
        if (ok <= 0) {
            code = ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
            json_object_set_new(doc, "outcome", json_string("refused"));
            json_object_set_new(doc, "error", json_string("not confirmed"));
        } else {
            char *path = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"), "db");
            struct nx_update_req req = { .pipeline = path, .component = "core", .from = dbv,
                                         .to = diskv, .dry_run = c->dry_run };
            code = nx_update_run(&c->out, cfg, &req, c->faults);
            free(path);
        }
    }
    free(diskv);
    free(dbv);
    return code;
}
