/* Compatibility between core and plugins: conflicts and dependency
 * order. See compat.h. */
#include "compat.h"
#include "semver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- conflicts ------------------------------------------------------------ */

struct conflict {
    const char *plugin;    /* "core" or a slug */
    const char *range;     /* NULL: not a string */
    const char *installed; /* NULL: not installed */
    const char *by_name;   /* who declares the range ... */
    const char *by_version; /* ... at which version */
};

static void add(json_t *out, const struct conflict *c, const char *fmt, ...) NX_PRINTF(3, 4);
static void add(json_t *out, const struct conflict *c, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *by = nx_xasprintf("%s %s", c->by_name, c->by_version);
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:s, s:s}", "plugin", c->plugin, "range", c->range,
                          "installed", c->installed, "needed_by", by, "message", msg);
    if (!c->range)
        json_object_set_new(o, "range", json_null());
    if (!c->installed)
        json_object_set_new(o, "installed", json_null());
    json_array_append_new(out, o);
    free(by);
}

/* The range `val` declared on a component whose version after the
 * update is `version`: 1 met, 0 a conflict was added. `what` names the
 * range in messages ("plugin forum >=2.0", "nexosupport >=1.2"). */
static int check_range(json_t *out, struct conflict *c, const json_t *val, const char *version,
                       const char *what, const char *tail)
{
    nx_err e;
    c->range = json_string_value(val);
    if (!c->range) {
        add(out, c, "%s: the range declared by %s %s is not a string", what, c->by_name,
            c->by_version);
        return 0;
    }
    int m = nx_range_match_str(c->range, version, &e);
    if (m == 1)
        return 1;
    if (m < 0)
        add(out, c, "%s %s: cannot be evaluated: %s", what, c->range, e.msg);
    else
        add(out, c, "%s %s%s", what, c->range, tail);
    return 0;
}

static const nx_installed *find_plugin(const nx_installed *site, size_t n, const char *slug)
{
    for (size_t i = 0; i < n; i++)
        if (site[i].slug && strcmp(site[i].slug, slug) == 0)
            return &site[i];
    return NULL;
}

static const nx_installed *find_core(const nx_installed *site, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!site[i].slug)
            return &site[i];
    return NULL;
}

/* A core release: its compatibility.plugins against the installed
 * plugins (one not installed does not matter). */
static void core_compat(const nx_installed *site, size_t n, const nx_candidate *rel, json_t *out)
{
    const char *slug;
    json_t *val;
    json_object_foreach(json_object_get(rel->compat, "plugins"), slug, val) {
        const nx_installed *p = find_plugin(site, n, slug);
        if (!p)
            continue;
        struct conflict c = { slug, NULL, p->version, "core", rel->version };
        char *what = nx_xasprintf("plugin %s", slug);
        char *tail = nx_xasprintf(" (installed %s)", p->version);
        check_range(out, &c, val, p->version, what, tail);
        free(what);
        free(tail);
    }
}

/* A core release V: every installed plugin whose requires.nexosupport V
 * does not meet. */
static void core_vs_plugins(const nx_installed *site, size_t n, const nx_candidate *rel,
                            const nx_installed *core, json_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const nx_installed *p = &site[i];
        json_t *val = json_object_get(p->requires, "nexosupport");
        if (!p->slug || !val)
            continue;
        char *by = nx_xasprintf("plugin:%s", p->slug);
        char *what = nx_xasprintf("installed plugin %s %s requires nexosupport", p->slug,
                                  p->version);
        char *tail = nx_xasprintf(" (core %s is outside it)", rel->version);
        struct conflict c = { "core", NULL, core ? core->version : NULL, by, p->version };
        check_range(out, &c, val, rel->version, what, tail);
        free(by);
        free(what);
        free(tail);
    }
}

/* A plugin release: its requires.nexosupport against the installed core. */
static void plugin_vs_core(const nx_candidate *rel, const nx_installed *core, const char *by,
                           json_t *out)
{
    json_t *val = json_object_get(rel->requires, "nexosupport");
    if (!val || !core)
        return;
    struct conflict c = { "core", NULL, core->version, by, rel->version };
    char *tail = nx_xasprintf(" (installed core is %s)", core->version);
    check_range(out, &c, val, core->version, "nexosupport", tail);
    free(tail);
}

/* A plugin release: its dependencies against the installed plugins. */
static void plugin_deps(const nx_installed *site, size_t n, const nx_candidate *rel,
                        const char *by, json_t *out)
{
    const char *slug;
    json_t *val;
    json_object_foreach((json_t *)rel->dependencies, slug, val) {
        if (strcmp(slug, rel->slug) == 0)
            continue;
        const nx_installed *p = find_plugin(site, n, slug);
        char *what = nx_xasprintf("plugin %s", slug);
        struct conflict c = { slug, NULL, p ? p->version : NULL, by, rel->version };
        if (p) {
            char *tail = nx_xasprintf(" (installed %s)", p->version);
            check_range(out, &c, val, p->version, what, tail);
            free(tail);
        } else {
            c.range = json_string_value(val);
            if (c.range)
                add(out, &c, "%s %s (not installed)", what, c.range);
            else
                add(out, &c, "%s (not installed): the range declared by %s %s is not a "
                             "string", what, by, rel->version);
        }
        free(what);
    }
}

/* A plugin release V of S: every other installed plugin whose
 * dependencies[S] V does not meet. */
static void plugins_vs_plugin(const nx_installed *site, size_t n, const nx_candidate *rel,
                              json_t *out)
{
    const nx_installed *self = find_plugin(site, n, rel->slug);
    for (size_t i = 0; i < n; i++) {
        const nx_installed *p = &site[i];
        json_t *val = json_object_get(p->dependencies, rel->slug);
        if (!p->slug || !val || p == self)
            continue;
        char *by = nx_xasprintf("plugin:%s", p->slug);
        char *what = nx_xasprintf("installed plugin %s %s depends on %s", p->slug, p->version,
                                  rel->slug);
        char *tail = nx_xasprintf(" (%s %s is outside it)", rel->slug, rel->version);
        struct conflict c = { rel->slug, NULL, self ? self->version : NULL, by, p->version };
        check_range(out, &c, val, rel->version, what, tail);
        free(by);
        free(what);
        free(tail);
    }
}

size_t nx_compat_conflicts(const nx_installed *site, size_t n, const nx_candidate *rel,
                           json_t *out)
{
    size_t before = json_array_size(out);
    const nx_installed *core = find_core(site, n);
    if (!rel->slug) {
        core_compat(site, n, rel, out);
        core_vs_plugins(site, n, rel, core, out);
    } else {
        char *by = nx_xasprintf("plugin:%s", rel->slug);
        plugin_vs_core(rel, core, by, out);
        plugin_deps(site, n, rel, by, out);
        plugins_vs_plugin(site, n, rel, out);
        free(by);
    }
    return json_array_size(out) - before;
}

/* ---- dependency order ----------------------------------------------------- */

/* 1 when plugin i depends on plugin j (j among the n, not i itself). */
static int depends(const char *const *slugs, const json_t *const *deps, size_t i, size_t j)
{
    return i != j && json_object_get(deps[i], slugs[j]) != NULL;
}

/* The first plugin not placed yet that i depends on; n when none. */
static size_t next_pending(const char *const *slugs, const json_t *const *deps, size_t n,
                           const unsigned char *done, size_t i)
{
    for (size_t j = 0; j < n; j++)
        if (!done[j] && depends(slugs, deps, i, j))
            return j;
    return n;
}

/* Every plugin not placed waits for another not placed: follow that
 * chain from the first one until it comes back, and name the loop. */
static void name_cycle(const char *const *slugs, const json_t *const *deps, size_t n,
                       const unsigned char *done, nx_err *e)
{
    size_t *path = nx_xcalloc(n + 1, sizeof *path);
    size_t len = 0, at = 0;
    while (done[at])
        at++;
    size_t start = 0;
    for (;;) {
        size_t k;
        for (k = 0; k < len && path[k] != at; k++)
            ;
        if (k < len) {
            start = k;
            break;
        }
        path[len++] = at;
        at = next_pending(slugs, deps, n, done, at);
    }
    char text[1024] = "";
    size_t off = 0;
    for (size_t k = start; k <= len && off < sizeof text; k++) {
        const char *s = slugs[k < len ? path[k] : path[start]];
        int w = snprintf(text + off, sizeof text - off, "%s%s", k > start ? " -> " : "", s);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    nx_seterr(e, "plugin dependency cycle: %s", text);
    free(path);
}

int nx_compat_order(const char *const *slugs, const json_t *const *deps, size_t n,
                    size_t *order, nx_err *e)
{
    unsigned char *done = nx_xcalloc(n ? n : 1, 1);
    size_t placed = 0;
    int progress = 1;
    while (placed < n && progress) {
        progress = 0;
        for (size_t i = 0; i < n; i++) {
            if (done[i] || next_pending(slugs, deps, n, done, i) != n)
                continue;
            done[i] = 1;
            order[placed++] = i;
            progress = 1;
            break; /* restart: the lowest ready index goes first */
        }
    }
    int rc = 0;
    if (placed < n) {
        name_cycle(slugs, deps, n, done, e);
        rc = -1;
    }
    free(done);
    return rc;
}
