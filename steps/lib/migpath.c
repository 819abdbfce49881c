/*
 * The migration path from one version to another over the files
 * upgrade_A_B.xml of a folder (spec Appendix C). Versions are nodes
 * (equal by SemVer precedence), files with A < B are edges of weight 1.
 * As every edge goes forward, the graph has no cycles and its nodes sorted
 * by precedence are a topological order: the distances to the target come
 * from one backwards sweep (what Dijkstra with unit weights computes), and
 * the path walks from the start, each time to the smallest next version
 * that is still on a shortest path — the tie rule of mig.h.
 */
#include "mig.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mig_internal.h"
#include "semver.h"

#define NO_DIST SIZE_MAX

int nx_mig_name_split(const char *name, char **from, char **to)
{
    static const char pre[] = "upgrade_", suf[] = ".xml";
    const size_t lp = sizeof pre - 1, ls = sizeof suf - 1, n = strlen(name);
    if (n < lp + ls || strncmp(name, pre, lp) != 0 || strcmp(name + n - ls, suf) != 0)
        return 0;
    const char *mid = name + lp, *end = name + n - ls;
    const char *us = memchr(mid, '_', (size_t)(end - mid));
    if (!us || us == mid || us + 1 == end || memchr(us + 1, '_', (size_t)(end - us - 1)))
        return -1;
    *from = nx_xstrndup(mid, (size_t)(us - mid));
    *to = nx_xstrndup(us + 1, (size_t)(end - us - 1));
    return 1;
}

struct edge {
    char *name;        /* file name in the folder */
    char *a, *b;       /* versions as spelled in the name */
    nx_semver va, vb;
    size_t ia, ib;     /* node indexes */
};

struct node {
    const nx_semver *v;
    const char *s;
};

struct graph {
    const char *dir;
    struct edge *edges;
    size_t ne;
    struct node *nodes;   /* sorted by precedence, no two equal */
    size_t nn;
};

static void edge_clear(struct edge *ed)
{
    free(ed->name);
    free(ed->a);
    free(ed->b);
    nx_semver_free(&ed->va);
    nx_semver_free(&ed->vb);
}

static void graph_free(struct graph *g)
{
    for (size_t i = 0; i < g->ne; i++)
        edge_clear(&g->edges[i]);
    free(g->edges);
    free(g->nodes);
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The names in `dir` that look like migration files, sorted. */
static int list_names(const char *dir, char ***out, size_t *n, nx_err *e)
{
    DIR *d = opendir(dir);
    if (!d) {
        nx_seterr(e, "%s: cannot open the migration folder: %s", dir, strerror(errno));
        return -1;
    }
    char **v = NULL;
    size_t k = 0;
    for (struct dirent *de = readdir(d); de; de = readdir(d)) {
        char *a = NULL, *b = NULL;
        if (nx_mig_name_split(de->d_name, &a, &b) == 0)
            continue;
        free(a);
        free(b);
        v = nx_xrealloc(v, (k + 1) * sizeof *v);
        v[k++] = nx_xstrdup(de->d_name);
    }
    closedir(d);
    if (k)
        qsort(v, k, sizeof *v, cmp_str);
    *out = v;
    *n = k;
    return 0;
}

/* Check one name; a forward migration becomes an edge (*keep = 1). */
static int make_edge(const char *dir, const char *name, struct edge *ed, int *keep, nx_err *e)
{
    nx_err ve;
    struct stat st;
    memset(ed, 0, sizeof *ed);
    *keep = 0;
    if (nx_mig_name_split(name, &ed->a, &ed->b) < 0) {
        nx_seterr(e, "%s/%s: not a migration file name upgrade_FROM_TO.xml", dir, name);
        return -1;
    }
    ed->name = nx_xstrdup(name);
    if (nx_semver_parse(ed->a, &ed->va, &ve) != 0 || nx_semver_parse(ed->b, &ed->vb, &ve) != 0) {
        nx_seterr(e, "%s/%s: bad migration file name: %s", dir, name, ve.msg);
        return -1;
    }
    char *path = nx_path_join(dir, name);
    int st_rc = stat(path, &st);
    free(path);
    if (st_rc != 0 || !S_ISREG(st.st_mode)) {
        nx_seterr(e, "%s/%s: not a regular file", dir, name);
        return -1;
    }
    *keep = nx_semver_cmp(&ed->va, &ed->vb) < 0;
    return 0;
}

static int scan(struct graph *g, nx_err *e)
{
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    if (list_names(g->dir, &names, &n, e) != 0)
        return -1;
    g->edges = nx_xcalloc(n ? n : 1, sizeof *g->edges);
    for (size_t i = 0; i < n; i++) {
        struct edge ed;
        int keep = 0;
        if (rc == 0 && make_edge(g->dir, names[i], &ed, &keep, e) != 0) {
            rc = -1;
            edge_clear(&ed);
        } else if (rc == 0 && keep) {
            g->edges[g->ne++] = ed;
        } else if (rc == 0) {
            edge_clear(&ed);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

static int cmp_node(const void *x, const void *y)
{
    const struct node *a = x, *b = y;
    int r = nx_semver_cmp(a->v, b->v);
    return r ? r : strcmp(a->s, b->s);
}

static size_t node_index(const struct graph *g, const nx_semver *v)
{
    size_t lo = 0, hi = g->nn;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = nx_semver_cmp(g->nodes[mid].v, v);
        if (r == 0)
            return mid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return SIZE_MAX;   /* not reached: every version is a node */
}

/* Nodes: the edges' versions plus from and to, each once. */
static void make_nodes(struct graph *g, const nx_semver *from, const char *sfrom,
                       const nx_semver *to, const char *sto)
{
    size_t n = 0;
    g->nodes = nx_xmalloc((2 * g->ne + 2) * sizeof *g->nodes);
    for (size_t i = 0; i < g->ne; i++) {
        g->nodes[n++] = (struct node){&g->edges[i].va, g->edges[i].a};
        g->nodes[n++] = (struct node){&g->edges[i].vb, g->edges[i].b};
    }
    g->nodes[n++] = (struct node){from, sfrom};
    g->nodes[n++] = (struct node){to, sto};
    qsort(g->nodes, n, sizeof *g->nodes, cmp_node);
    g->nn = 0;
    for (size_t i = 0; i < n; i++)
        if (g->nn == 0 || nx_semver_cmp(g->nodes[g->nn - 1].v, g->nodes[i].v) != 0)
            g->nodes[g->nn++] = g->nodes[i];
    for (size_t i = 0; i < g->ne; i++) {
        g->edges[i].ia = node_index(g, &g->edges[i].va);
        g->edges[i].ib = node_index(g, &g->edges[i].vb);
    }
}

/* Two files for the same step (versions equal up to build metadata). */
static int check_duplicates(const struct graph *g, nx_err *e)
{
    for (size_t i = 0; i < g->ne; i++)
        for (size_t j = i + 1; j < g->ne; j++)
            if (g->edges[i].ia == g->edges[j].ia && g->edges[i].ib == g->edges[j].ib) {
                nx_seterr(e, "%s: %s and %s both migrate from %s to %s", g->dir,
                          g->edges[i].name, g->edges[j].name, g->edges[i].a, g->edges[i].b);
                return -1;
            }
    return 0;
}

/* "1.1.0, 1.2.0": the versions reachable from node s, or "none". */
static char *reachable(const struct graph *g, size_t s)
{
    char *reach = nx_xcalloc(g->nn, 1);
    char *list = nx_xstrdup("");
    reach[s] = 1;
    for (size_t i = s; i < g->nn; i++) {
        for (size_t k = 0; reach[i] && k < g->ne; k++)
            if (g->edges[k].ia == i)
                reach[g->edges[k].ib] = 1;
        if (!reach[i] || i == s)
            continue;
        char *next = nx_xasprintf("%s%s%s", list, *list ? ", " : "", g->nodes[i].s);
        free(list);
        list = next;
    }
    free(reach);
    if (!*list) {
        free(list);
        list = nx_xstrdup("none");
    }
    return list;
}

/* dist[i]: fewest files from node i to node t (NO_DIST: none). */
static size_t *distances(const struct graph *g, size_t t)
{
    size_t *dist = nx_xmalloc(g->nn * sizeof *dist);
    for (size_t i = 0; i < g->nn; i++)
        dist[i] = NO_DIST;
    dist[t] = 0;
    for (size_t i = t; i-- > 0;)
        for (size_t k = 0; k < g->ne; k++) {
            const struct edge *ed = &g->edges[k];
            if (ed->ia == i && dist[ed->ib] != NO_DIST && dist[ed->ib] + 1 < dist[i])
                dist[i] = dist[ed->ib] + 1;
        }
    return dist;
}

/* The next file from node cur: on a shortest path, smallest version. */
static const struct edge *next_edge(const struct graph *g, const size_t *dist, size_t cur)
{
    const struct edge *best = NULL;
    for (size_t k = 0; k < g->ne; k++) {
        const struct edge *ed = &g->edges[k];
        if (ed->ia == cur && dist[ed->ib] != NO_DIST && dist[ed->ib] + 1 == dist[cur] &&
            (!best || ed->ib < best->ib))
            best = ed;
    }
    return best;
}

static void walk(const struct graph *g, const size_t *dist, size_t s, size_t t, const char *to,
                 nx_mig_path *out)
{
    size_t n = dist[s], cur = s;
    out->n = n;
    out->files = nx_xcalloc(n + 1, sizeof *out->files);
    out->versions = nx_xcalloc(n + 2, sizeof *out->versions);
    for (size_t i = 0; i < n; i++) {
        const struct edge *ed = next_edge(g, dist, cur);
        out->files[i] = nx_path_join(g->dir, ed->name);
        out->versions[i + 1] = nx_xstrdup(ed->ib == t ? to : ed->b);
        cur = ed->ib;
    }
}

static int find(struct graph *g, const nx_semver *vf, const char *from, const nx_semver *vt,
                const char *to, nx_mig_path *out, nx_err *e)
{
    if (scan(g, e) != 0)
        return -1;
    make_nodes(g, vf, from, vt, to);
    if (check_duplicates(g, e) != 0)
        return -1;
    size_t s = node_index(g, vf), t = node_index(g, vt);
    size_t *dist = distances(g, t);
    int inside = 0; /* a file that starts and ends between from and to */
    for (size_t k = 0; k < g->ne; k++)
        if (g->edges[k].ia >= s && g->edges[k].ib <= t)
            inside = 1;
    if (dist[s] == NO_DIST && !inside) {
        /* no file at all between the two versions: the schema does not
         * change from one to the other (a release without migrations) */
        free(dist);
        out->n = 0;
        out->files = nx_xcalloc(1, sizeof *out->files);
        out->versions = nx_xcalloc(2, sizeof *out->versions);
        out->versions[0] = nx_xstrdup(from);
        return 0;
    }
    if (dist[s] == NO_DIST) {
        char *list = reachable(g, s);
        nx_seterr(e, "no migration path from %s to %s in %s (reachable from %s: %s)", from, to,
                  g->dir, from, list);
        free(list);
        free(dist);
        return -1;
    }
    walk(g, dist, s, t, to, out);
    out->versions[0] = nx_xstrdup(from);
    free(dist);
    return 0;
}

int nx_mig_find_path(const char *dir, const char *from, const char *to, nx_mig_path *out,
                     nx_err *e)
{
    nx_semver vf, vt;
    memset(out, 0, sizeof *out);
    if (nx_semver_parse(from, &vf, e) != 0) {
        nx_preferr(e, "migration path: from");
        return -1;
    }
    if (nx_semver_parse(to, &vt, e) != 0) {
        nx_preferr(e, "migration path: to");
        nx_semver_free(&vf);
        return -1;
    }
    int cmp = nx_semver_cmp(&vf, &vt), rc = 0;
    if (cmp > 0) {
        nx_seterr(e, "no migration path from %s to %s: migrations only go forward", from, to);
        rc = -1;
    } else if (cmp == 0) {
        out->files = nx_xcalloc(1, sizeof *out->files);
        out->versions = nx_xcalloc(2, sizeof *out->versions);
        out->versions[0] = nx_xstrdup(from);
    } else {
        struct graph g = {dir, NULL, 0, NULL, 0};
        rc = find(&g, &vf, from, &vt, to, out, e);
        graph_free(&g);
    }
    nx_semver_free(&vf);
    nx_semver_free(&vt);
    return rc;
}

void nx_mig_path_free(nx_mig_path *p)
{
    if (!p)
        return;
    for (size_t i = 0; p->files && i < p->n; i++)
        free(p->files[i]);
    for (size_t i = 0; p->versions && i <= p->n; i++)
        free(p->versions[i]);
    free(p->files);
    free(p->versions);
    memset(p, 0, sizeof *p);
}
