/* nexo-update all: core first, then every installed plugin with an update,
 * each plugin after the plugins it depends on. Each is its own update with
 * its own rollback (cli_update_component): a failure of one does not undo
 * the others that succeeded. Before each plugin the update source is asked
 * again, so that an offer depending on what was just updated (or on an
 * update that failed) is decided on the site as it is now; a plugin whose
 * update is no longer allowed is skipped, saying why. One confirmation for
 * the whole plan; the summary lists every outcome; the exit code is the
 * worst outcome. An exit 4 (recover needed) stops the run. */
#include "cli.h"
#include "semver.h"
#include "update_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct item {
    char *component;
    char *from;        /* installed when planned (NULL: not installed) */
    char *to;          /* offered when planned */
    int code;          /* exit code of its update; -1 skipped, -2 not reached */
    char *why;         /* skipped: why */
    json_t *report;    /* its update's report (--json), NULL when it did not run */
};

struct plan {
    struct item *v;
    size_t n;
};

static void plan_add(struct plan *p, const nx_component *k)
{
    p->v = nx_xrealloc(p->v, (p->n + 1) * sizeof *p->v);
    struct item *it = &p->v[p->n++];
    memset(it, 0, sizeof *it);
    it->component = nx_xstrdup(k->name);
    it->from = k->installed ? nx_xstrdup(k->installed) : NULL;
    it->to = nx_xstrdup(k->offer->version);
    it->code = -2;
}

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].component);
        free(p->v[i].from);
        free(p->v[i].to);
        free(p->v[i].why);
        json_decref(p->v[i].report);
    }
    free(p->v);
}

static nx_check *check_now(struct cli *c, const char *only, int force)
{
    nx_config *cfg = cli_config(c);
    nx_err e;
    nx_check *chk = cfg ? nx_check_run_force(&c->out, cfg, only, force, &e) : NULL;
    if (cfg && !chk)
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
    return chk;
}

static const struct item *planned(const struct plan *p, const char *component)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].component, component) == 0)
            return &p->v[i];
    return NULL;
}

/* Would the plan resolve every conflict of r? A conflict is resolved when
 * it names a plugin the plan updates to a version inside its range. */
static int resolvable(const struct plan *p, const nx_release *r)
{
    size_t i;
    json_t *cf;
    if (json_array_size(r->conflicts) == 0)
        return 0;
    json_array_foreach(r->conflicts, i, cf) {
        const char *slug = json_string_value(json_object_get(cf, "plugin"));
        const char *range = json_string_value(json_object_get(cf, "range"));
        if (!slug || !range || strcmp(slug, "core") == 0)
            return 0;
        char *name = nx_xasprintf("plugin:%s", slug);
        const struct item *it = planned(p, name);
        free(name);
        nx_range *rg = NULL;
        nx_semver v;
        nx_err e;
        int ok = it && nx_range_parse(range, &rg, &e) == 0;
        if (ok && nx_semver_parse(it->to, &v, &e) == 0) {
            ok = nx_range_match(rg, &v);
            nx_semver_free(&v);
        } else {
            ok = 0;
        }
        nx_range_free(rg);
        if (!ok)
            return 0;
    }
    return 1;
}

/* The components of chk in update order: core, then the plugins of
 * `order` (dependency order). */
static const nx_component *nth(const nx_check *chk, char **order, size_t norder, size_t i)
{
    if (i == 0)
        return nx_check_find(chk, "core");
    if (i - 1 >= norder)
        return NULL;
    char *name = nx_xasprintf("plugin:%s", order[i - 1]);
    const nx_component *k = nx_check_find(chk, name);
    free(name);
    return k;
}

/* Core when it has an update, then the plugins with one, each after the
 * plugins it depends on. A release held back only by conflicts that
 * updates earlier in the plan resolve (alpha 1.1.0 needs zeta >=1.1.0,
 * and zeta 1.1.0 is planned) is planned too: before it runs, the source
 * is asked again, and it is skipped if the conflict is still there. -1 on
 * error (logged). */
static int make_plan(struct cli *c, int force, struct plan *p)
{
    nx_check *chk = check_now(c, NULL, force);
    nx_check *wide = chk && !force ? check_now(c, NULL, 1) : NULL;
    const nx_check *all = wide ? wide : chk;
    char **order = NULL;
    size_t norder = 0;
    nx_err e;
    int rc = chk && (force || wide) ? 0 : -1;
    /* a component whose newest release cannot be checked against the
     * site's PHP: the whole run is refused before anything changes */
    for (size_t i = 0; !rc && chk && i < chk->ncomp; i++) {
        const nx_release *b = nx_component_php_blocked(&chk->comp[i]);
        if (b && chk->comp[i].installed) {
            char *why = nx_php_refusal(&chk->comp[i], b);
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", why);
            free(why);
            rc = -1;
        }
    }
    if (!rc && nx_check_plugin_order(all, &order, &norder, &e) != 0) {
        nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s", e.msg);
        rc = -1;
    }
    /* in order; again while a pass adds something */
    int added = 1;
    unsigned char *in = nx_xcalloc(norder + 1, 1);
    struct plan so_far = { 0 }; /* what the passes planned, for resolvable() */
    while (!rc && added) {
        added = 0;
        for (size_t i = 0; i <= norder; i++) {
            const nx_component *k = nth(chk, order, norder, i);
            const nx_component *kw = nth(all, order, norder, i);
            if (in[i] || !k || !kw || !kw->offer)
                continue;
            if (k->offer || resolvable(&so_far, kw->offer)) {
                in[i] = added = 1;
                plan_add(&so_far, k->offer ? k : kw);
            }
        }
    }
    for (size_t i = 0; !rc && i <= norder; i++) {
        if (!in[i])
            continue;
        const nx_component *k = nth(chk, order, norder, i);
        const nx_component *kw = nth(all, order, norder, i);
        plan_add(p, k->offer ? k : kw);
    }
    free(in);
    plan_free(&so_far);
    for (size_t i = 0; i < norder; i++)
        free(order[i]);
    free(order);
    nx_check_free(wide);
    nx_check_free(chk);
    return rc;
}

static void print_plan(const struct cli *c, const struct plan *p)
{
    nx_print(&c->out, 1, "Updates, in this order (each is its own update with its own "
             "rollback):");
    for (size_t i = 0; i < p->n; i++)
        nx_print(&c->out, 1, "  %-24s %s -> %s", p->v[i].component,
                 p->v[i].from ? p->v[i].from : "(not installed)", p->v[i].to);
    fflush(stdout);
}

/* Is an update of the planned component allowed now? NULL yes (it->to
 * becomes the version offered now), else why not. */
static char *still_offered(struct cli *c, struct item *it, int force)
{
    nx_check *chk = check_now(c, it->component, force);
    if (!chk)
        return nx_xstrdup("the update source could not be asked");
    const nx_component *k = nx_check_find(chk, it->component);
    char *why = NULL;
    if (!k) {
        why = nx_xstrdup("no longer installed");
    } else if (!k->offer) {
        const nx_release *r = nx_component_release(k, it->to);
        json_t *list = r ? (json_array_size(r->conflicts) ? r->conflicts : r->unmet) : NULL;
        json_t *first = json_array_get(list, 0);
        const char *msg = json_is_object(first)
                              ? json_string_value(json_object_get(first, "message"))
                              : json_string_value(first);
        why = nx_xasprintf("not allowed now: %s", msg ? msg : "no release to offer");
    } else if (strcmp(k->offer->version, it->to) != 0) {
        free(it->to);
        it->to = nx_xstrdup(k->offer->version);
    }
    nx_check_free(chk);
    return why;
}

static const char *outcome(int code)
{
    switch (code) {
    case NX_EXIT_OK: return "updated";
    case NX_EXIT_FAILED: return "refused before anything changed";
    case NX_EXIT_USAGE: return "not confirmed";
    case NX_EXIT_ROLLED_BACK: return "failed and rolled back";
    case NX_EXIT_ROLLBACK_FAILED: return "failed, rollback incomplete: run 'nexo-update recover'";
    case NX_EXIT_LOCKED: return "another update holds the lock";
    case -1: return "skipped";
    default: return "not reached";
    }
}

/* Worst first: 4, 3, 1, 5, 2, 0. */
static int rank(int code)
{
    switch (code) {
    case NX_EXIT_ROLLBACK_FAILED: return 6;
    case NX_EXIT_ROLLED_BACK: return 5;
    case NX_EXIT_FAILED: return 4;
    case NX_EXIT_LOCKED: return 3;
    case NX_EXIT_USAGE: return 2;
    default: return 0;
    }
}

static int worst(const struct plan *p)
{
    int w = NX_EXIT_OK;
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i].code >= 0 && rank(p->v[i].code) > rank(w))
            w = p->v[i].code;
    return w;
}

static const char *item_outcome(int code)
{
    switch (code) {
    case -1: return "skipped";
    case -2: return "not_reached";
    case NX_EXIT_OK: return "success";
    case NX_EXIT_ROLLED_BACK: return "rolled_back";
    case NX_EXIT_ROLLBACK_FAILED: return "rollback_failed";
    case NX_EXIT_LOCKED: return "locked";
    default: return "refused";
    }
}

/* The run's outcome: nothing_to_do without updates, else that of the
 * worst exit code. */
static const char *all_outcome(const struct plan *p, int code)
{
    if (p->n == 0 && code == NX_EXIT_OK)
        return "nothing_to_do";
    switch (code) {
    case NX_EXIT_OK: return "success";
    case NX_EXIT_ROLLED_BACK: return "rolled_back";
    case NX_EXIT_ROLLBACK_FAILED: return "rollback_failed";
    default: return "refused";
    }
}

/* One update of the summary: its plan entry and, when it ran, its
 * update's report (update_id, steps, maintenance, error, log_file...). */
static json_t *item_json(const struct item *it)
{
    json_t *o = json_object();
    if (it->report) {
        json_object_update(o, it->report);
        json_object_del(o, "outcome");
        json_object_del(o, "exit");
    }
    json_object_set_new(o, "component", json_string(it->component));
    json_object_set_new(o, "from", it->from ? json_string(it->from) : json_null());
    json_object_set_new(o, "to", json_string(it->to));
    json_object_set_new(o, "outcome", json_string(item_outcome(it->code)));
    json_object_set_new(o, "exit", it->code >= 0 ? json_integer(it->code) : json_null());
    if (it->why)
        json_object_set_new(o, "reason", json_string(it->why));
    if (!it->report)
        json_object_set_new(o, "update_id", json_null());
    return o;
}

static void summary(const struct cli *c, const struct plan *p, int code)
{
    if (c->out.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < p->n; i++)
            json_array_append_new(arr, item_json(&p->v[i]));
        cli_print_json(json_pack("{s:s, s:o, s:i, s:b}", "outcome", all_outcome(p, code),
                                 "updates", arr, "exit", code, "dry_run", c->dry_run));
        return;
    }
    nx_print(&c->out, 1, "%s", "");
    nx_print(&c->out, 1, "Summary:");
    for (size_t i = 0; i < p->n; i++) {
        const struct item *it = &p->v[i];
        nx_print(&c->out, 1, "  %-24s %s -> %s: %s%s%s", it->component,
                 it->from ? it->from : "-", it->to, outcome(it->code), it->why ? ": " : "",
                 it->why ? it->why : "");
    }
    nx_print(&c->out, 1, "exit %d", code);
}

static int all_args(int argc, char **argv, struct update_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0)
            o->force = 1;
        else if (strcmp(argv[i], "--allow-major") == 0)
            o->allow_major = 1;
        else {
            fprintf(stderr, "nexo-update: all: unexpected '%s'\n", argv[i]);
            return NX_EXIT_USAGE;
        }
    }
    return 0;
}

/* With --json the one document on stdout is the summary: what each
 * update prints on stdout goes to stderr meanwhile. */
static int quiet_stdout(const struct cli *c)
{
    if (!c->out.json)
        return -1;
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    if (saved >= 0)
        dup2(STDERR_FILENO, STDOUT_FILENO);
    return saved;
}

static void restore_stdout(int saved)
{
    if (saved < 0)
        return;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

static void run_plan(struct cli *c, struct plan *p, const struct update_opts *o)
{
    for (size_t i = 0; i < p->n; i++) {
        struct item *it = &p->v[i];
        if (i > 0) {
            it->why = still_offered(c, it, o->force);
            if (it->why) {
                it->code = -1;
                nx_log(&c->out, NEXO_LOG_WARN, NULL, "%s: skipped: %s", it->component,
                       it->why);
                continue;
            }
        }
        nx_log(&c->out, NEXO_LOG_INFO, NULL, "== %s %s -> %s (%zu of %zu)", it->component,
               it->from ? it->from : "(not installed)", it->to, i + 1, p->n);
        /* --to pins the version the plan showed: a newer one published
         * meanwhile waits for the next run */
        struct update_opts one = *o;
        one.to = it->to;
        it->code = cli_update_component(c, it->component, &one);
        /* its report, handed to our sink (cli_update_component) */
        it->report = c->out.sink ? c->out.sink->report : NULL;
        if (c->out.sink)
            c->out.sink->report = NULL;
        if (it->code == NX_EXIT_ROLLBACK_FAILED || it->code == NX_EXIT_LOCKED) {
            nx_log(&c->out, NEXO_LOG_ERROR, NULL, "%s: the remaining updates are not started",
                   it->component);
            break;
        }
    }
}

int cmd_all(struct cli *c, int argc, char **argv)
{
    struct update_opts o;
    int code = all_args(argc, argv, &o);
    if (code)
        return code;
    struct plan p = { 0 };
    /* a sink of our own: each update's report is handed to it */
    nx_logsink sink;
    nx_sink_init(&sink);
    nx_logsink *outer = c->out.sink;
    c->out.sink = &sink;
    int saved = quiet_stdout(c);
    int json = c->out.json;
    c->out.json = 0;
    if (make_plan(c, o.force, &p) != 0) {
        code = NX_EXIT_FAILED;
        goto out;
    }
    if (p.n == 0) {
        nx_print(&c->out, 1, "everything is up to date: no update for core or any installed "
                 "plugin");
        goto out;
    }
    print_plan(c, &p);
    if (!c->dry_run) {
        int ok = cli_confirm(c, "Run these updates?");
        if (ok <= 0) {
            code = ok < 0 ? NX_EXIT_USAGE : NX_EXIT_OK;
            goto out;
        }
    }
    int yes = c->yes;
    c->yes = 1; /* confirmed once for all (a MAJOR change still needs --allow-major
                   without a terminal: cli_update_component asks for it) */
    run_plan(c, &p, &o);
    c->yes = yes;
    code = worst(&p);
out:
    restore_stdout(saved);
    c->out.sink = outer;
    nx_sink_free(&sink);
    c->out.json = json;
    if (p.n || json)
        summary(c, &p, code);
    plan_free(&p);
    return code;
}
