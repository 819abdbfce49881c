/* nexo-update pipeline show | validate | run */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *step_json(const nx_step_inst *s, const char *load_error)
{
    json_t *set = json_object();
    const struct nexo_step_module *m = s->mod ? s->mod->step : NULL;
    for (size_t k = 0; k < s->nsettings; k++)
        json_object_set_new(set, s->settings[k].key, json_string(s->settings[k].value));
    for (const struct nexo_setting *d = m ? m->settings : NULL; d && d->name; d++)
        if (!json_object_get(set, d->name) && d->default_value)
            json_object_set_new(set, d->name, json_string(d->default_value));
    json_t *j = json_pack("{s:s, s:s, s:s?, s:o}", "name", s->name, "module", s->module, "file",
                          s->module_path, "settings", set);
    if (m) {
        json_object_set_new(j, "version", json_string(m->version));
        json_object_set_new(j, "summary", json_string(m->summary ? m->summary : ""));
    }
    if (load_error)
        json_object_set_new(j, "error", json_string(load_error));
    return j;
}

static void print_step(size_t i, json_t *j)
{
    const char *err = json_string_value(json_object_get(j, "error"));
    printf("%2zu. [%s] %s", i + 1, json_string_value(json_object_get(j, "name")),
           json_string_value(json_object_get(j, "module")));
    if (err) {
        printf("  NOT LOADABLE\n      %s\n", err);
        return;
    }
    printf(" %s — %s\n      %s\n", json_string_value(json_object_get(j, "version")),
           json_string_value(json_object_get(j, "summary")),
           json_string_value(json_object_get(j, "file")));
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(j, "settings"), k, v)
        printf("      %s = %s\n", k, json_string_value(v));
}

/* Load each step's module on its own so that show can list every
 * problem, not only the first. */
static int show(struct cli *c, const char *what)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    char *path = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"), what);
    nx_err e;
    nx_pipeline *pl = nx_pipeline_parse(path, &e);
    free(path);
    if (!pl) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        return NX_EXIT_FAILED;
    }
    const char *mods = nx_config_get(cfg, "paths", "modules");
    int bad = 0;
    json_t *steps = json_array();
    for (size_t i = 0; i < pl->nsteps; i++) {
        nx_step_inst *s = &pl->steps[i];
        const char *err = NULL;
        s->module_path = nx_module_resolve(mods, NX_STEP, s->module, &e);
        if (s->module_path)
            s->mod = nx_module_load(s->module_path, NX_STEP, &e);
        if (!s->mod) {
            err = e.msg;
            bad = 1;
        }
        json_array_append_new(steps, step_json(s, err));
    }
    json_t *doc = json_pack("{s:s, s:s, s:s?, s:o}", "name", pl->name, "file", pl->file,
                            "description", pl->description, "steps", steps);
    if (c->out.json) {
        cli_print_json(doc);
    } else {
        printf("pipeline '%s' (%s)%s%s\n", pl->name, pl->file, pl->description ? ": " : "",
               pl->description ? pl->description : "");
        size_t i;
        json_t *j;
        json_array_foreach(steps, i, j)
            print_step(i, j);
        json_decref(doc);
    }
    nx_pipeline_free(pl);
    return bad ? NX_EXIT_FAILED : NX_EXIT_OK;
}

/* A pipeline by name (PIPELINES/NAME.ini) or file, checked on its own:
 * the run has no component, versions or backup (steps check their
 * settings; the update's facts come with an update). */
static int validate(struct cli *c, const char *what)
{
    nx_config *cfg = cli_config(c);
    if (!cfg)
        return NX_EXIT_FAILED;
    char *file = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"), what);
    nx_err e;
    nx_pipeline *pl = nx_pipeline_parse(file, &e);
    int code = NX_EXIT_FAILED;
    if (!pl || nx_pipeline_load_modules(pl, nx_config_get(cfg, "paths", "modules"), &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        goto out;
    }
    nx_run r;
    json_t *info = json_pack("{s:s, s:s}", "update_id", "validate", "pipeline", pl->name);
    nx_run_init(&r, &c->out, cfg, pl, NULL, info);
    r.dry_run = 1;
    json_decref(info);
    int ok = nx_engine_validate(&r, &e) == 0;
    nx_run_free(&r);
    if (!ok) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s: %s", file, e.msg);
        goto out;
    }
    code = NX_EXIT_OK;
    if (c->out.json)
        cli_print_json(json_pack("{s:s, s:s, s:b, s:I}", "file", file, "name", pl->name, "valid",
                                 1, "steps", (json_int_t)pl->nsteps));
    else
        printf("%s: valid pipeline '%s' with %zu steps\n", file, pl->name, pl->nsteps);
out:
    nx_pipeline_free(pl);
    free(file);
    return code;
}

static int run(struct cli *c, int argc, char **argv, json_t *doc, int *usage)
{
    *usage = 1;
    struct nx_update_req req = { 0 };
    const char *what = NULL;
    json_t *params = json_object();
    for (int i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--param") == 0) {
            const char *kv = i + 1 < argc ? argv[++i] : NULL;
            const char *eq = kv ? strchr(kv, '=') : NULL;
            if (!eq || eq == kv) {
                fprintf(stderr, "nexo-update: --param needs NAME=VALUE\n");
                json_decref(params);
                return NX_EXIT_USAGE;
            }
            char *k = nx_xstrndup(kv, (size_t)(eq - kv));
            json_object_set_new(params, k, json_string(eq + 1));
            free(k);
            continue;
        }
        if (strcmp(argv[i], "--component") == 0)
            slot = &req.component;
        else if (strcmp(argv[i], "--from") == 0)
            slot = &req.from;
        else if (strcmp(argv[i], "--to") == 0)
            slot = &req.to;
        if (slot) {
            if (i + 1 >= argc) {
                fprintf(stderr, "nexo-update: %s needs a value\n", argv[i]);
                json_decref(params);
                return NX_EXIT_USAGE;
            }
            *slot = argv[++i];
        } else if (argv[i][0] == '-' || what) {
            fprintf(stderr, "nexo-update: pipeline run: unexpected '%s'\n", argv[i]);
            json_decref(params);
            return NX_EXIT_USAGE;
        } else {
            what = argv[i];
        }
    }
    if (!what) {
        fprintf(stderr, "nexo-update: pipeline run needs a pipeline name or file\n");
        json_decref(params);
        return NX_EXIT_USAGE;
    }
    *usage = 0;
    nx_config *cfg = cli_config(c);
    if (!cfg) {
        json_decref(params);
        return NX_EXIT_FAILED;
    }
    req.params = params;
    char *path = nx_pipeline_path(nx_config_get(cfg, "paths", "pipelines"), what);
    req.pipeline = path;
    req.dry_run = c->dry_run;
    if (!c->dry_run) {
        char *q = nx_xasprintf("Run pipeline %s on the site %s?", path,
                               nx_config_get(cfg, "site", "root")
                                   ? nx_config_get(cfg, "site", "root") : "(no [site] root)");
        int ok = cli_confirm(c, q);
        free(q);
        if (ok <= 0) {
            free(path);
            json_decref(params);
            json_object_set_new(doc, "outcome", json_string("refused"));
            json_object_set_new(doc, "error", json_string("not confirmed"));
            return ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
        }
    }
    int code = nx_update_run(&c->out, cfg, &req, c->faults);
    free(path);
    json_decref(params);
    return code;
}

/* pipeline run: its lines go into the update's log; --json prints the
 * run's report at the end. */
static int run_cmd(struct cli *c, int argc, char **argv)
{
    nx_capture cap;
    nx_capture_begin(&cap, &c->out);
    json_t *extra = json_object();
    int usage = 0;
    int code = run(c, argc, argv, extra, &usage);
    json_t *doc = nx_capture_end(&cap, code, NULL, NULL, NULL);
    json_object_update(doc, extra);
    json_decref(extra);
    if (c->out.json && !usage)
        cli_print_json(doc);
    else
        json_decref(doc);
    return code;
}

int cmd_pipeline(struct cli *c, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (sub && strcmp(sub, "show") == 0 && argc <= 3)
        return show(c, argc == 3 ? argv[2] : "core");
    if (sub && strcmp(sub, "validate") == 0 && argc == 3)
        return validate(c, argv[2]);
    if (sub && strcmp(sub, "run") == 0)
        return run_cmd(c, argc, argv);
    fprintf(stderr, "Usage: nexo-update pipeline show [NAME|FILE] | validate NAME|FILE | run NAME|FILE "
                    "[--component C] [--from V] [--to V]\n");
    return NX_EXIT_USAGE;
}
