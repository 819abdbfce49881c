/* nexo-update status: versions on disk and in the database (core and
 * each installed plugin: plugin:SLUG rows of system_versions), maintenance
 * mode, the lock, an interrupted update. */
#include "cli.h"
#include "journal.h"
#include "lock.h"
#include "phpver.h"
#include "update_check.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static json_t *version_of(const char *file)
{
    nx_err e;
    if (access(file, F_OK) != 0)
        return json_pack("{s:s, s:n}", "file", file, "version");
    json_t *v = nx_phpver_load(file, &e);
    if (!v)
        return json_pack("{s:s, s:n, s:s}", "file", file, "version", "error", e.msg);
    json_t *ver = json_object_get(v, "version");
    json_t *out = json_pack("{s:s, s:O}", "file", file, "version", ver ? ver : json_null());
    json_decref(v);
    return out;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static json_t *plugins(const char *root)
{
    json_t *arr = json_array();
    char *dir = nx_path_join(root, "modules/plugins");
    DIR *d = opendir(dir);
    if (!d) {
        free(dir);
        return arr;
    }
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        names = nx_xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = nx_xstrdup(de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        char *f = nx_xasprintf("%s/%s/version.php", dir, names[i]);
        json_t *v = version_of(f);
        json_object_set_new(v, "slug", json_string(names[i]));
        json_array_append_new(arr, v);
        free(f);
        free(names[i]);
    }
    free(names);
    free(dir);
    return arr;
}

static json_t *maintenance(const char *root)
{
    char *f = nx_path_join(root, "MAINTENANCE");
    json_t *m;
    char *text = NULL;
    nx_err e;
    if (access(f, F_OK) != 0) {
        m = json_pack("{s:b}", "on", 0);
    } else if (nx_read_file(f, &text, NULL, 65536, &e) == 0) {
        json_t *parsed = json_loads(text, 0, NULL);
        m = json_pack("{s:b, s:s, s:o}", "on", 1, "file", f, "record",
                      parsed ? parsed : json_string(text));
    } else {
        m = json_pack("{s:b, s:s}", "on", 1, "file", f);
    }
    free(text);
    free(f);
    return m;
}

/* What the journal says of an interrupted update. */
static json_t *interrupted(const char *state)
{
    char *cur = nx_journal_current(state);
    json_t *records = NULL;
    nx_err e;
    int torn = 0;
    if (access(cur, F_OK) != 0) {
        free(cur);
        return json_null();
    }
    if (nx_journal_unstarted(cur, &e) == 1) {
        /* stopped while its journal was created: nothing ran under it */
        json_t *r = json_pack("{s:s, s:s, s:s}", "journal", cur, "phase", "unstarted",
                              "message", "an update stopped while creating its journal, before "
                              "any step ran: 'nexo-update recover' closes it (nothing to undo)");
        free(cur);
        return r;
    }
    if (nx_journal_read(cur, &records, &torn, &e) != 0) {
        json_t *r = json_pack("{s:s, s:s}", "journal", cur, "error", e.msg);
        free(cur);
        return r;
    }
    json_t *begin = json_array_get(records, 0);
    json_t *info = json_object_get(begin, "info");
    json_t *steps = json_object_get(json_object_get(begin, "pipeline"), "steps");
    size_t n = json_array_size(steps);
    const char **status = nx_xcalloc(n ? n : 1, sizeof *status);
    for (size_t i = 0; i < n; i++)
        status[i] = "pending";
    const char *phase = "running";
    size_t k;
    json_t *rec;
    json_array_foreach(records, k, rec) {
        const char *ev = json_string_value(json_object_get(rec, "ev"));
        json_int_t i = json_integer_value(json_object_get(rec, "step"));
        int has = json_is_integer(json_object_get(rec, "step")) && i >= 0 && (size_t)i < n;
        if (!ev)
            continue;
        if (strcmp(ev, "commit-begin") == 0)
            phase = "finalizing";
        else if (strcmp(ev, "end") == 0)
            phase = "ended";
        else if (has && strcmp(ev, "step-start") == 0)
            status[i] = "started";
        else if (has && strcmp(ev, "step-done") == 0)
            status[i] = "done";
        else if (has && strcmp(ev, "step-failed") == 0)
            status[i] = "failed";
        else if (has && strcmp(ev, "undo-start") == 0) {
            status[i] = "undoing";
            phase = "rolling back";
        } else if (has && strcmp(ev, "undo-done") == 0)
            status[i] = "undone";
        else if (has && strcmp(ev, "undo-failed") == 0)
            status[i] = "undo failed";
    }
    json_t *js = json_array(), *undo = json_array();
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(steps, i), "name"));
        json_array_append_new(js, json_pack("{s:s, s:s}", "name", name ? name : "?", "status",
                                            status[i]));
    }
    for (size_t i = n; i-- > 0;) {
        if (strcmp(status[i], "pending") != 0 && strcmp(status[i], "undone") != 0)
            json_array_append(undo, json_object_get(json_array_get(js, i), "name"));
    }
    long long t = json_integer_value(json_object_get(begin, "t"));
    json_t *out = json_pack(
        "{s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s, s:s, s:o, s:o, s:O?}", "update_id",
        json_string_value(json_object_get(begin, "id")), "component",
        json_string_value(json_object_get(info, "component")), "from_version",
        json_string_value(json_object_get(info, "from_version")), "to_version",
        json_string_value(json_object_get(info, "to_version")), "pipeline",
        json_string_value(json_object_get(info, "pipeline")), "started_at", (json_int_t)(t / 1000),
        "phase", phase, "journal", cur, "steps", js, "recover_would",
        strcmp(phase, "finalizing") == 0 ? json_string("finish finalizing") : undo, "pid",
        json_object_get(begin, "pid"));
    if (strcmp(phase, "finalizing") == 0)
        json_decref(undo);
    free(status);
    free(cur);
    json_decref(records);
    return out;
}

/* The newest registered version of each component (system_versions,
 * read as check and list read it: nx_db_registered). */
static json_t *db_versions(struct cli *c, const nx_config *cfg)
{
    const char *drv = nx_config_get(cfg, "database", "driver");
    if (!drv)
        return json_null();
    json_t *v = NULL;
    nx_err e;
    nx_out quiet = c->out;
    quiet.verbosity = 0;
    if (nx_db_registered(&quiet, cfg, &v, &e) != 0)
        return json_pack("{s:s, s:s}", "driver", drv, "error", e.msg);
    return json_pack("{s:s, s:o}", "driver", drv, "versions", v);
}

/* One component whose files' and registered versions differ (nx_db_state). */
static void db_differs(json_t *arr, const char *name, const char *files, json_t *versions)
{
    const char *reg = json_string_value(json_object_get(versions, name));
    char *msg = NULL;
    int st = nx_db_state(name, files, reg, &msg);
    if (msg)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "component", name,
                                             "files", files, "database", reg, "state",
                                             nx_db_state_name(st), "message", msg));
    free(msg);
}

/* "database_versions": core and the plugins whose versions differ from
 * the database's, when it could be read. */
static void db_compare(json_t *s, json_t *db)
{
    json_t *v = json_object_get(db, "versions");
    if (!json_is_object(v))
        return;
    json_t *arr = json_array();
    db_differs(arr, "core", json_string_value(json_object_get(json_object_get(s, "core"),
                                                               "version")), v);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(s, "plugins"), i, p) {
        char *name = nx_xasprintf("plugin:%s", json_string_value(json_object_get(p, "slug")));
        db_differs(arr, name, json_string_value(json_object_get(p, "version")), v);
        free(name);
    }
    json_object_set_new(s, "database_versions", arr);
}

static void print_db(json_t *s)
{
    json_t *db = json_object_get(s, "database");
    if (!db || json_is_null(db))
        return;
    const char *err = json_string_value(json_object_get(db, "error"));
    if (err) {
        printf("database:     %s: %s\n", json_string_value(json_object_get(db, "driver")), err);
        return;
    }
    const char *k;
    json_t *v;
    if (json_object_size(json_object_get(db, "versions")) == 0)
        printf("database:     no version registered yet\n");
    json_object_foreach(json_object_get(db, "versions"), k, v)
        printf("database:     %s %s (registered)\n", k, json_string_value(v));
    size_t i;
    json_array_foreach(json_object_get(s, "database_versions"), i, v)
        printf("database:     %s: %s\n", json_string_value(json_object_get(v, "component")),
               json_string_value(json_object_get(v, "message")));
}

/* Each plugin gets "registered": the newest plugin:SLUG version in the
 * database (null when none, absent when the database cannot be read). */
static void plugins_registered(json_t *plugins, json_t *db)
{
    json_t *v = json_object_get(db, "versions");
    if (!json_is_object(v))
        return;
    size_t i;
    json_t *p;
    json_array_foreach(plugins, i, p) {
        char *name = nx_xasprintf("plugin:%s", json_string_value(json_object_get(p, "slug")));
        json_t *reg = json_object_get(v, name);
        json_object_set_new(p, "registered", reg ? json_incref(reg) : json_null());
        free(name);
    }
}

static void print_text(json_t *s)
{
    json_t *core = json_object_get(s, "core");
    printf("config:       %s\n", json_string_value(json_object_get(s, "config")));
    printf("site root:    %s\n", json_string_value(json_object_get(s, "root")));
    const char *cv = json_string_value(json_object_get(core, "version"));
    const char *cerr = json_string_value(json_object_get(core, "error"));
    printf("core:         %s (%s)\n", cv ? cv : cerr ? cerr : "not found",
           json_string_value(json_object_get(core, "file")));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(s, "plugins"), i, p) {
        const char *v = json_string_value(json_object_get(p, "version"));
        const char *pe = json_string_value(json_object_get(p, "error"));
        json_t *reg = json_object_get(p, "registered");
        char db[160] = "";
        if (json_is_string(reg))
            snprintf(db, sizeof db, " (database: %s)", json_string_value(reg));
        else if (reg)
            snprintf(db, sizeof db, " (database: not registered)");
        printf("plugin:       %s %s%s\n", json_string_value(json_object_get(p, "slug")),
               v ? v : pe ? pe : "(no version.php)", db);
    }
    print_db(s);
    json_t *m = json_object_get(s, "maintenance");
    if (json_is_true(json_object_get(m, "on")))
        printf("maintenance:  ON (%s)\n", json_string_value(json_object_get(m, "file")));
    else
        printf("maintenance:  off\n");
    json_t *l = json_object_get(s, "lock");
    if (json_is_true(json_object_get(l, "held")))
        printf("lock:         held by pid %lld%s%s\n",
               (long long)json_integer_value(json_object_get(l, "pid")),
               json_string_length(json_object_get(l, "update_id")) ? ", update " : "",
               json_string_value(json_object_get(l, "update_id")));
    else
        printf("lock:         free\n");
    json_t *u = json_object_get(s, "interrupted");
    if (json_is_null(u) || !u) {
        printf("interrupted:  none\n");
        return;
    }
    if (json_object_get(u, "error")) {
        printf("interrupted:  unreadable journal: %s\n",
               json_string_value(json_object_get(u, "error")));
        return;
    }
    if (json_object_get(u, "message")) {
        printf("interrupted:  %s (%s)\n", json_string_value(json_object_get(u, "message")),
               json_string_value(json_object_get(u, "journal")));
        return;
    }
    time_t t = (time_t)json_integer_value(json_object_get(u, "started_at"));
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S %Z", localtime(&t));
    const char *from = json_string_value(json_object_get(u, "from_version"));
    const char *to = json_string_value(json_object_get(u, "to_version"));
    /* a journal with its lock held is an update running now, not an
     * interrupted one */
    int running = json_is_true(json_object_get(json_object_get(s, "lock"), "held"));
    printf("%s  update %s (%s%s%s%s%s), pipeline '%s', started %s, %s\n",
           running ? "running:    " : "interrupted:",
           json_string_value(json_object_get(u, "update_id")),
           json_string_value(json_object_get(u, "component")), from || to ? " " : "",
           from ? from : "", from || to ? " -> " : "", to ? to : "",
           json_string_value(json_object_get(u, "pipeline")), ts,
           json_string_value(json_object_get(u, "phase")));
    json_array_foreach(json_object_get(u, "steps"), i, p)
        printf("              %-20s %s\n", json_string_value(json_object_get(p, "name")),
               json_string_value(json_object_get(p, "status")));
    json_t *w = json_object_get(u, "recover_would");
    if (running) {
        printf("              (in progress: 'nexo-update recover' is for an update whose "
               "process died)\n");
        return;
    }
    if (json_is_string(w)) {
        printf("              'nexo-update recover' will %s\n", json_string_value(w));
    } else {
        printf("              'nexo-update recover' will undo:");
        json_array_foreach(w, i, p)
            printf(" %s", json_string_value(p));
        printf("%s\n", json_array_size(w) ? "" : " nothing (then close the journal)");
    }
}

int cmd_status(struct cli *c, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "nexo-update: status takes no arguments\n");
        return NX_EXIT_USAGE;
    }
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    const char *root = nx_config_get(cfg, "site", "root");
    const char *state = nx_config_get(cfg, "paths", "state");
    if (!root) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s: [site] root is not set", nx_config_file(cfg));
        return NX_EXIT_FAILED;
    }
    /* a missing site root is a failure naming it (the rest is still shown) */
    struct stat rst;
    char *root_error = NULL;
    if (stat(root, &rst) != 0) {
        int err = errno;
        root_error = nx_xasprintf("%s: the site root ([site] root in %s) cannot be read: %s",
                                  root, nx_config_file(cfg), strerror(err));
    }
    else if (!S_ISDIR(rst.st_mode)) {
        root_error = nx_xasprintf("%s: the site root ([site] root in %s) is not a folder",
                                  root, nx_config_file(cfg));
    }
    char *corefile = nx_path_join(root, "core/version.php");
    long pid = 0;
    char id[200] = "";
    nx_err e;
    int held = nx_lock_probe(state, &pid, id, sizeof id, &e);
    json_t *lock = held < 0 ? json_pack("{s:b, s:s}", "held", 0, "error", e.msg)
                   : held ? json_pack("{s:b, s:I, s:s}", "held", 1, "pid", (json_int_t)pid,
                                      "update_id", id)
                          : json_pack("{s:b}", "held", 0);
    json_t *s = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "config",
                          nx_config_file(cfg), "root", root, "state_dir", state, "core",
                          version_of(corefile), "plugins", plugins(root), "maintenance",
                          maintenance(root), "lock", lock, "interrupted", interrupted(state));
    json_t *db = db_versions(c, cfg);
    plugins_registered(json_object_get(s, "plugins"), db);
    db_compare(s, db);
    json_object_set_new(s, "database", db);
    free(corefile);
    if (root_error) {
        json_object_set_new(s, "error", json_string(root_error));
        json_object_set_new(s, "exit", json_integer(NX_EXIT_FAILED));
    }
    if (c->out.json)
        cli_print_json(s);
    else {
        print_text(s);
        json_decref(s);
    }
    if (!root_error)
        return NX_EXIT_OK;
    nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", root_error);
    free(root_error);
    return NX_EXIT_FAILED;
}
