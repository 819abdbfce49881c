#include "pipeline.h"
#include "inifile.h"

#include <stdlib.h>
#include <string.h>

struct parse {
    nx_pipeline *p;
    int pipeline_line;
};

static int valid_instance_name(const char *s)
{
    if (!*s || strlen(s) > 64)
        return 0;
    for (const char *q = s; *q; q++) {
        char c = *q;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static nx_step_inst *find_step(nx_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (strcmp(p->steps[i].name, name) == 0)
            return &p->steps[i];
    return NULL;
}

static int pipeline_key(struct parse *ps, const char *key, const char *value, int cont,
                        nx_err *e)
{
    char **slot = NULL;
    if (strcmp(key, "name") == 0)
        slot = &ps->p->name;
    else if (strcmp(key, "description") == 0)
        slot = &ps->p->description;
    if (!slot) {
        nx_seterr(e, "unknown key '%s' in [pipeline] (known: name, description)", key);
        return -1;
    }
    if (*slot && cont) {
        char *joined = nx_xasprintf("%s %s", *slot, value);
        free(*slot);
        *slot = joined;
        return 0;
    }
    if (*slot) {
        nx_seterr(e, "[pipeline] %s given twice", key);
        return -1;
    }
    *slot = nx_xstrdup(value);
    return 0;
}

static int new_section(struct parse *ps, const char *section, int line, nx_err *e)
{
    nx_pipeline *p = ps->p;
    if (strcmp(section, "pipeline") == 0) {
        if (ps->pipeline_line) {
            nx_seterr(e, "[pipeline] given twice (first on line %d)", ps->pipeline_line);
            return -1;
        }
        ps->pipeline_line = line;
        return 0;
    }
    if (!valid_instance_name(section)) {
        nx_seterr(e, "invalid step name [%s] (letters, digits, '_', '-', '.'; at most 64)",
                  section);
        return -1;
    }
    nx_step_inst *old = find_step(p, section);
    if (old) {
        nx_seterr(e, "step [%s] given twice (first on line %d)", section, old->line);
        return -1;
    }
    p->steps = nx_xrealloc(p->steps, (p->nsteps + 1) * sizeof *p->steps);
    nx_step_inst *s = &p->steps[p->nsteps++];
    memset(s, 0, sizeof *s);
    s->name = nx_xstrdup(section);
    s->line = line;
    return 0;
}

static int step_key(nx_step_inst *s, const char *key, const char *value, int line, int cont,
                    nx_err *e)
{
    if (strcmp(key, "module") == 0) {
        if (cont || s->module) {
            nx_seterr(e, "step [%s]: module given twice", s->name);
            return -1;
        }
        if (!*value) {
            nx_seterr(e, "step [%s]: empty module", s->name);
            return -1;
        }
        s->module = nx_xstrdup(value);
        s->module_line = line;
        return 0;
    }
    for (size_t i = 0; i < s->nsettings; i++) {
        if (strcmp(s->settings[i].key, key) != 0)
            continue;
        if (!cont) {
            nx_seterr(e, "step [%s]: setting '%s' given twice (first on line %d)", s->name,
                      key, s->settings[i].line);
            return -1;
        }
        char *joined = nx_xasprintf("%s %s", s->settings[i].value, value);
        free(s->settings[i].value);
        s->settings[i].value = joined;
        return 0;
    }
    s->settings = nx_xrealloc(s->settings, (s->nsettings + 1) * sizeof *s->settings);
    s->settings[s->nsettings].key = nx_xstrdup(key);
    s->settings[s->nsettings].value = nx_xstrdup(value);
    s->settings[s->nsettings].line = line;
    s->nsettings++;
    return 0;
}

static int on_entry(void *user, const char *section, const char *key, const char *value,
                    int line, int cont, nx_err *e)
{
    struct parse *ps = user;
    if (!key)
        return new_section(ps, section, line, e);
    if (!*section) {
        nx_seterr(e, "'%s' outside of any section", key);
        return -1;
    }
    if (strcmp(section, "pipeline") == 0)
        return pipeline_key(ps, key, value, cont, e);
    nx_step_inst *s = find_step(ps->p, section);
    if (!s) {
        nx_seterr(e, "'%s' in an unknown section [%s]", key, section);
        return -1;
    }
    return step_key(s, key, value, line, cont, e);
}

static nx_pipeline *parse(const char *path, int verified, nx_err *e)
{
    nx_pipeline *p = nx_xcalloc(1, sizeof *p);
    p->file = nx_xstrdup(path);
    struct parse ps = { .p = p };
    /* A pipeline names the code that runs: it must be as safe as the
     * modules themselves (not writable by others) - unless it is part of
     * a verified package the caller reaches through a checked folder. */
    if (!verified && nx_check_secure_path(path, e) != 0)
        goto fail;
    if (nx_ini_parse(path, on_entry, &ps, e) != 0)
        goto fail;
    if (p->nsteps == 0) {
        nx_seterr(e, "%s: pipeline has no steps", path);
        goto fail;
    }
    for (size_t i = 0; i < p->nsteps; i++) {
        if (!p->steps[i].module) {
            nx_seterr(e, "%s:%d: step [%s] has no 'module ='", path, p->steps[i].line,
                      p->steps[i].name);
            goto fail;
        }
    }
    if (!p->name) {
        const char *b = nx_basename(path);
        const char *dot = strrchr(b, '.');
        p->name = dot ? nx_xstrndup(b, (size_t)(dot - b)) : nx_xstrdup(b);
    }
    return p;
fail:
    nx_pipeline_free(p);
    return NULL;
}

const char *nx_step_setting(const nx_step_inst *s, const char *key)
{
    for (size_t i = 0; i < s->nsettings; i++)
        if (strcmp(s->settings[i].key, key) == 0)
            return s->settings[i].value;
    if (s->mod && s->mod->step)
        for (const struct nexo_setting *d = s->mod->step->settings; d && d->name; d++)
            if (strcmp(d->name, key) == 0)
                return d->default_value;
    return NULL;
}

static char *declared_list(const struct nexo_step_module *m)
{
    char *out = nx_xstrdup("");
    for (const struct nexo_setting *d = m->settings; d && d->name; d++) {
        char *n = nx_xasprintf("%s%s%s", out, *out ? ", " : "", d->name);
        free(out);
        out = n;
    }
    if (!*out) {
        free(out);
        out = nx_xstrdup("none");
    }
    return out;
}

static int check_settings(const char *file, const nx_step_inst *s, nx_err *e)
{
    const struct nexo_step_module *m = s->mod->step;
    for (size_t i = 0; i < s->nsettings; i++) {
        const struct nexo_setting *d = m->settings;
        while (d && d->name && strcmp(d->name, s->settings[i].key) != 0)
            d++;
        if (!d || !d->name) {
            char *list = declared_list(m);
            nx_seterr(e, "%s:%d: step [%s]: module '%s' has no setting '%s' (it declares: %s)",
                      file, s->settings[i].line, s->name, m->name, s->settings[i].key, list);
            free(list);
            return -1;
        }
    }
    for (const struct nexo_setting *d = m->settings; d && d->name; d++) {
        if ((d->flags & NEXO_SETTING_REQUIRED) && !nx_step_setting(s, d->name)) {
            nx_seterr(e, "%s:%d: step [%s]: module '%s' requires the setting '%s'%s%s", file,
                      s->line, s->name, m->name, d->name, d->help ? " — " : "",
                      d->help ? d->help : "");
            return -1;
        }
    }
    return 0;
}

static void unload_all(nx_pipeline *p)
{
    for (size_t i = 0; i < p->nsteps; i++) {
        nx_module_unload(p->steps[i].mod);
        p->steps[i].mod = NULL;
    }
}

int nx_pipeline_load_modules(nx_pipeline *p, const char *modules_dir, nx_err *e)
{
    int dir_checked = 0;
    for (size_t i = 0; i < p->nsteps; i++) {
        nx_step_inst *s = &p->steps[i];
        /* a module by name comes from [paths] modules: that folder and the
         * folders above it are trusted like the module files themselves */
        if (!s->module_path && s->module[0] != '/' && !dir_checked) {
            if (nx_check_secure_dir(modules_dir, "[paths] modules", 0, e) != 0) {
                nx_preferr(e, "%s:%d: step [%s]", p->file, s->module_line, s->name);
                goto fail;
            }
            dir_checked = 1;
        }
        if (!s->module_path) {
            s->module_path = nx_module_resolve(modules_dir, NX_STEP, s->module, e);
            if (!s->module_path) {
                nx_preferr(e, "%s:%d: step [%s]", p->file, s->module_line, s->name);
                goto fail;
            }
        }
        s->mod = nx_module_load(s->module_path, NX_STEP, e);
        if (!s->mod) {
            nx_preferr(e, "%s:%d: step [%s]", p->file, s->module_line, s->name);
            goto fail;
        }
        if (check_settings(p->file, s, e) != 0)
            goto fail;
    }
    return 0;
fail:
    unload_all(p);
    return -1;
}

void nx_pipeline_free(nx_pipeline *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->nsteps; i++) {
        nx_step_inst *s = &p->steps[i];
        nx_module_unload(s->mod);
        free(s->name);
        free(s->module);
        free(s->module_path);
        for (size_t k = 0; k < s->nsettings; k++) {
            free(s->settings[k].key);
            free(s->settings[k].value);
        }
        free(s->settings);
    }
    free(p->steps);
    free(p->file);
    free(p->name);
    free(p->description);
    free(p);
}

json_t *nx_pipeline_to_json(const nx_pipeline *p)
{
    json_t *steps = json_array();
    for (size_t i = 0; i < p->nsteps; i++) {
        const nx_step_inst *s = &p->steps[i];
        json_t *set = json_object();
        for (size_t k = 0; k < s->nsettings; k++)
            json_object_set_new(set, s->settings[k].key, json_string(s->settings[k].value));
        /* declared defaults too, so that recover uses the values the run
         * used even if the module file is replaced meanwhile */
        for (const struct nexo_setting *d = s->mod ? s->mod->step->settings : NULL; d && d->name;
             d++)
            if (!json_object_get(set, d->name) && d->default_value)
                json_object_set_new(set, d->name, json_string(d->default_value));
        json_array_append_new(steps, json_pack("{s:s, s:s, s:s, s:i, s:o}", "name", s->name,
                                               "module", s->module, "path",
                                               s->module_path ? s->module_path : "", "line",
                                               s->line, "settings", set));
    }
    return json_pack("{s:s, s:s, s:o}", "file", p->file, "name", p->name, "steps", steps);
}

nx_pipeline *nx_pipeline_from_json(const json_t *j, nx_err *e)
{
    json_t *steps = json_object_get(j, "steps");
    const char *file = json_string_value(json_object_get(j, "file"));
    const char *name = json_string_value(json_object_get(j, "name"));
    if (!json_is_array(steps) || !file || !name) {
        nx_seterr(e, "journal: pipeline record is malformed");
        return NULL;
    }
    nx_pipeline *p = nx_xcalloc(1, sizeof *p);
    p->file = nx_xstrdup(file);
    p->name = nx_xstrdup(name);
    p->nsteps = json_array_size(steps);
    p->steps = nx_xcalloc(p->nsteps, sizeof *p->steps);
    for (size_t i = 0; i < p->nsteps; i++) {
        json_t *js = json_array_get(steps, i);
        nx_step_inst *s = &p->steps[i];
        const char *sn = json_string_value(json_object_get(js, "name"));
        const char *mod = json_string_value(json_object_get(js, "module"));
        const char *path = json_string_value(json_object_get(js, "path"));
        json_t *set = json_object_get(js, "settings");
        if (!sn || !mod || !path || !*path || !json_is_object(set)) {
            nx_seterr(e, "journal: step %zu of the pipeline record is malformed", i + 1);
            nx_pipeline_free(p);
            return NULL;
        }
        s->name = nx_xstrdup(sn);
        s->module = nx_xstrdup(mod);
        s->module_path = nx_xstrdup(path);
        s->line = (int)json_integer_value(json_object_get(js, "line"));
        const char *k;
        json_t *v;
        json_object_foreach(set, k, v) {
            if (!json_is_string(v)) {
                nx_seterr(e, "journal: setting '%s' of step [%s] is not a string", k, sn);
                nx_pipeline_free(p);
                return NULL;
            }
            s->settings = nx_xrealloc(s->settings, (s->nsettings + 1) * sizeof *s->settings);
            s->settings[s->nsettings].key = nx_xstrdup(k);
            s->settings[s->nsettings].value = nx_xstrdup(json_string_value(v));
            s->settings[s->nsettings].line = 0;
            s->nsettings++;
        }
    }
    return p;
}

char *nx_pipeline_path(const char *pipelines_dir, const char *name_or_path)
{
    size_t n = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (n > 4 && strcmp(name_or_path + n - 4, ".ini") == 0))
        return nx_xstrdup(name_or_path);
    return nx_xasprintf("%s/%s.ini", pipelines_dir, name_or_path);
}

nx_pipeline *nx_pipeline_parse(const char *path, nx_err *e)
{
    return parse(path, 0, e);
}

nx_pipeline *nx_pipeline_parse_verified(const char *path, nx_err *e)
{
    return parse(path, 1, e);
}
