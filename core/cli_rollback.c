/* nexo-update rollback [--to UPDATE_ID]: put back the backup taken before
 * the last (or the named) update, through the rollback pipeline
 * (PIPELINES/rollback.ini): a backup of the current state first, then the
 * restore step (database and staged files), replace_files, the
 * rollback.after hooks, cache clear — an update of its own, undone step
 * by step if it fails.
 *
 * The rollback runs as the backup's component: for core the managed
 * paths, for plugin:SLUG that plugin's folder (the steps learn it from
 * the fact component_dir) — and the database either way. */
#include "backupstore.h"
#include "cli.h"
#include "phpver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int args(int argc, char **argv, const char **to)
{
    *to = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            *to = argv[++i];
        else if (strncmp(argv[i], "--to=", 5) == 0 && argv[i][5])
            *to = argv[i] + 5;
        else {
            fprintf(stderr, "nexo-update: rollback: %s '%s'\n",
                    strcmp(argv[i], "--to") == 0 ? "an update id must follow" : "unexpected",
                    argv[i]);
            return NX_EXIT_USAGE;
        }
    }
    return 0;
}

/* The default: the newest backup an update made (not a rollback's own
 * safety backup) that has not been restored yet. */
static const nx_backup *pick_default(const nx_backup_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const nx_backup *b = &l->v[i];
        if (!b->meta)
            continue;
        if (b->pipeline && strcmp(b->pipeline, "rollback") == 0)
            continue;
        if (json_object_get(b->meta, "restored_by"))
            continue;
        return b;
    }
    return NULL;
}

/* "core", or the slug of "plugin:SLUG" (valid: docs/releases.md); NULL
 * for anything else. */
static const char *slug_of(const char *component, int *is_core)
{
    *is_core = component && strcmp(component, "core") == 0;
    if (!component || strncmp(component, "plugin:", 7) != 0)
        return NULL;
    const char *s = component + 7;
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n ||
        s[0] == '_' || s[0] == '-')
        return NULL;
    return s;
}

/* The version on disk of core (slug NULL) or of a plugin; NULL when none. */
static char *disk_version(const nx_config *cfg, const char *slug)
{
    char *rel = slug ? nx_xasprintf("modules/plugins/%s/version.php", slug)
                     : nx_xstrdup("core/version.php");
    char *file = nx_path_join(nx_config_get(cfg, "site", "root"), rel);
    free(rel);
    if (slug && access(file, F_OK) != 0) {
        free(file);
        return NULL;
    }
    nx_err e;
    json_t *v = nx_phpver_load(file, &e);
    free(file);
    const char *s = v ? json_string_value(json_object_get(v, "version")) : NULL;
    char *out = s ? nx_xstrdup(s) : NULL;
    json_decref(v);
    return out;
}

static const char *or_q(const char *s)
{
    return s && *s ? s : "?";
}

static void describe(const struct cli *c, const nx_backup *b, const char *now,
                     const char *slug)
{
    const nx_out *o = &c->out;
    if (o->json)
        return;
    nx_print(o, 1, "Backup:   %s", b->path);
    nx_print(o, 1, "          taken %s before update %s (%s %s -> %s)", or_q(b->created_at),
             or_q(b->update_id), or_q(b->component), or_q(b->from_version),
             or_q(b->to_version));
    if (!slug)
        nx_print(o, 1, "Restores: the managed files and the database as they were then: "
                 "%s %s -> %s", or_q(b->component), now ? now : "?", or_q(b->from_version));
    else
        nx_print(o, 1, "Restores: the plugin's folder modules/plugins/%s and the database as "
                 "they were then: %s %s -> %s", slug, b->component,
                 now ? now : "not installed",
                 b->from_version ? b->from_version : "not installed");
    if (json_is_object(json_object_get(b->meta, "database")))
        nx_print(o, 1, "Warning:  changes made to the database since %s are lost (update "
                 "history is kept).", or_q(b->created_at));
    nx_print(o, 1, "          A backup of the current state is taken first: 'nexo-update "
             "rollback --to <this rollback's id>' undoes the rollback.");
}

static json_t *jstr(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The backup a rollback restores, for --json. */
static json_t *backup_json(const nx_backup *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "update_id", jstr(b->update_id));
    json_object_set_new(o, "name", json_string(b->name));
    json_object_set_new(o, "path", json_string(b->path));
    json_object_set_new(o, "created_at", jstr(b->created_at));
    json_object_set_new(o, "component", jstr(b->component));
    json_object_set_new(o, "from_version", jstr(b->from_version));
    json_object_set_new(o, "to_version", jstr(b->to_version));
    json_object_set_new(o, "pipeline", jstr(b->pipeline));
    return o;
}

static int rollback(struct cli *c, const char *to, json_t *doc, char **from_v, char **to_v);

/* Its lines go into the rollback's log; --json prints one document at
 * the end: the run's report and the backup. */
int cmd_rollback(struct cli *c, int argc, char **argv)
{
    const char *to;
    int code = args(argc, argv, &to);
    if (code)
        return code;
    nx_capture cap;
    nx_capture_begin(&cap, &c->out);
    json_t *extra = json_object();
    char *from_v = NULL, *to_v = NULL;
    code = rollback(c, to, extra, &from_v, &to_v);
    const char *comp = json_string_value(json_object_get(json_object_get(extra, "backup"),
                                                         "component"));
    json_t *doc = nx_capture_end(&cap, code, comp, from_v, to_v);
    json_object_update(doc, extra);
    json_decref(extra);
    free(from_v);
    free(to_v);
    if (c->out.json)
        cli_print_json(doc);
    else
        json_decref(doc);
    return code;
}

static int rollback(struct cli *c, const char *to, json_t *doc, char **from_v, char **to_v)
{
    int code;
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    const char *dir = nx_config_get(cfg, "paths", "backups");
    nx_backup_list l = { 0 };
    nx_err e;
    if (nx_backups_list(dir, &l, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return NX_EXIT_FAILED;
    }
    const nx_backup *b = to ? nx_backups_find(&l, to) : pick_default(&l);
    char *now = NULL;
    code = NX_EXIT_FAILED;
    if (!b) {
        if (to)
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "no backup of update '%s' in %s "
                   "('nexo-update backups list' shows them)", to, dir);
        else
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "no backup to roll back to in %s: backups "
                   "are kept for successful updates ('nexo-update backups list'; a backup "
                   "already restored is only used with --to)", dir);
        goto out;
    }
    if (!b->meta) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s/meta.json cannot be read: not a usable "
               "backup ('nexo-update backups verify %s')", b->path, b->name);
        goto out;
    }
    int is_core;
    const char *slug = slug_of(b->component, &is_core);
    if (!is_core && !slug) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s is a backup of %s: only backups of core "
               "and of plugins (plugin:SLUG) can be rolled back", b->path,
               or_q(b->component));
        goto out;
    }
    now = disk_version(cfg, slug);
    json_object_set_new(doc, "backup", backup_json(b));
    *from_v = now ? nx_xstrdup(now) : NULL;
    *to_v = b->from_version ? nx_xstrdup(b->from_version) : NULL;
    describe(c, b, now, slug);
    fflush(stdout);
    if (!c->dry_run) {
        const char *root = nx_config_get(cfg, "site", "root");
        char *q = !slug ? nx_xasprintf("Roll the site %s back to %s from this backup?", root,
                                       or_q(b->from_version))
                  : b->from_version
                      ? nx_xasprintf("Roll %s on the site %s back to %s from this backup?",
                                     b->component, root, b->from_version)
                      : nx_xasprintf("Remove %s from the site %s (update %s installed it)?",
                                     b->component, root, or_q(b->update_id));
        int ok = cli_confirm(c, q);
        free(q);
        if (ok <= 0) {
            code = ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
            if (ok == 0)
                nx_print(&c->out, 1, "Nothing was changed.");
            json_object_set_new(doc, "outcome", json_string("refused"));
            json_object_set_new(doc, "error", json_string("not confirmed"));
            goto out;
        }
    }
    char *path = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"), "rollback");
    json_t *params = json_pack("{s:s}", "backup_dir", b->path);
    struct nx_update_req req = { .pipeline = path, .component = b->component,
                                 .from = now, .to = b->from_version, .params = params,
                                 .success_outcome = "manual_rollback",
                                 .dry_run = c->dry_run };
    code = nx_update_run(&c->out, cfg, &req, c->faults);
    json_decref(params);
    free(path);
out:
    free(now);
    nx_backups_free(&l);
    return code;
}
