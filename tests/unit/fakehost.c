#include "fakehost.h"

#include <stdio.h>
#include <string.h>

struct fh_ctx {
    struct fakehost *fh;
    const char *phase;
};

static struct fh_ctx the_ctx[1];

static struct fakehost *FH(nexo_ctx *c)
{
    return ((struct fh_ctx *)(void *)c)->fh;
}

static void f_vlog(nexo_ctx *c, int level, const char *fmt, va_list ap)
{
    struct fakehost *fh = FH(c);
    size_t n = strlen(fh->logbuf);
    if (n + 2 >= sizeof fh->logbuf)
        return;
    int w = snprintf(fh->logbuf + n, sizeof fh->logbuf - n, "%d:", level);
    if (w > 0 && (size_t)w < sizeof fh->logbuf - n)
        n += (size_t)w;
    vsnprintf(fh->logbuf + n, sizeof fh->logbuf - n, fmt, ap);
    n = strlen(fh->logbuf);
    if (n + 1 < sizeof fh->logbuf)
        strcat(fh->logbuf, "\n");
}

static void f_log(nexo_ctx *c, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    f_vlog(c, level, fmt, ap);
    va_end(ap);
}

static void f_progress(nexo_ctx *c, const char *what, uint64_t done, uint64_t total)
{
    (void)c;
    (void)what;
    (void)done;
    (void)total;
}

static int f_fail(nexo_ctx *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(FH(c)->msg, sizeof FH(c)->msg, fmt, ap);
    va_end(ap);
    return code;
}

static const char *f_setting(nexo_ctx *c, const char *key)
{
    return json_string_value(json_object_get(FH(c)->settings, key));
}

static const char *f_config(nexo_ctx *c, const char *section, const char *key)
{
    char k[256];
    snprintf(k, sizeof k, "%s.%s", section, key);
    return json_string_value(json_object_get(FH(c)->config, k));
}

static const char *f_info(nexo_ctx *c, const char *name)
{
    if (strcmp(name, "phase") == 0)
        return ((struct fh_ctx *)(void *)c)->phase;
    return json_string_value(json_object_get(FH(c)->info, name));
}

static int kv_set(json_t *obj, const char *key, const char *value)
{
    if (value)
        json_object_set_new(obj, key, json_string(value));
    else
        json_object_del(obj, key);
    return 0;
}

static int f_state_set(nexo_ctx *c, const char *key, const char *value)
{
    return kv_set(FH(c)->state, key, value);
}

static const char *f_state_get(nexo_ctx *c, const char *key)
{
    return json_string_value(json_object_get(FH(c)->state, key));
}

static int f_shared_set(nexo_ctx *c, const char *key, const char *value)
{
    return kv_set(FH(c)->shared, key, value);
}

static const char *f_shared_get(nexo_ctx *c, const char *key)
{
    return json_string_value(json_object_get(FH(c)->shared, key));
}

static int f_checkpoint(nexo_ctx *c, const char *what)
{
    struct fakehost *fh = FH(c);
    (void)what;
    if (++fh->checkpoints == fh->fail_at_checkpoint)
        return f_fail(c, NEXO_EINJECTED, "injected at checkpoint %u", fh->checkpoints);
    return 0;
}

static struct nexo_db *f_db(nexo_ctx *c)
{
    f_fail(c, NEXO_ENOTFOUND, "no database in the fake host");
    return NULL;
}

static const char *f_errmsg(nexo_ctx *c)
{
    return FH(c)->msg;
}

static const char *f_strerror(int code)
{
    return code ? "error" : "success";
}

void fh_init(struct fakehost *fh, const struct nexo_step_module *step)
{
    memset(fh, 0, sizeof *fh);
    fh->table = (struct nexo_host){
        .abi = NEXO_ABI_VERSION, .size = sizeof(struct nexo_host), .version = "fake",
        .log = f_log, .vlog = f_vlog, .progress = f_progress, .fail = f_fail,
        .setting = f_setting, .config = f_config, .info = f_info, .state_set = f_state_set,
        .state_get = f_state_get, .shared_set = f_shared_set, .shared_get = f_shared_get,
        .checkpoint = f_checkpoint, .db = f_db, .strerror = f_strerror, .errmsg = f_errmsg,
    };
    fh->settings = json_object();
    fh->info = json_pack("{s:s, s:s, s:s}", "update_id", "20260101-000000-00000000",
                         "recovering", "0", "dry_run", "0");
    fh->config = json_object();
    fh->state = json_object();
    fh->shared = json_object();
    fh->step = step;
    for (const struct nexo_setting *s = step ? step->settings : NULL; s && s->name; s++)
        if (s->default_value)
            json_object_set_new(fh->settings, s->name, json_string(s->default_value));
}

void fh_free(struct fakehost *fh)
{
    json_decref(fh->settings);
    json_decref(fh->info);
    json_decref(fh->config);
    json_decref(fh->state);
    json_decref(fh->shared);
}

nexo_ctx *fh_ctx(struct fakehost *fh)
{
    the_ctx[0].fh = fh;
    return (nexo_ctx *)(void *)&the_ctx[0];
}

int fh_call(struct fakehost *fh, const char *phase)
{
    nexo_step_fn fn = NULL;
    const struct nexo_step_module *m = fh->step;
    if (strcmp(phase, "run") == 0)
        fn = m->run;
    else if (strcmp(phase, "undo") == 0)
        fn = m->undo;
    else if (strcmp(phase, "commit") == 0)
        fn = m->commit;
    else if (strcmp(phase, "validate") == 0)
        fn = m->validate;
    else if (strcmp(phase, "plan") == 0)
        fn = m->plan;
    if (!fn)
        return 0;
    fh->msg[0] = '\0';
    nexo_ctx *c = fh_ctx(fh);
    the_ctx[0].phase = phase;
    return fn(&fh->table, c);
}
