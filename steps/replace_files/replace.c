/*
 * replace_files — swaps each managed top-level path of the site with its
 * staged replacement, atomically where the file system allows it.
 *
 * Inputs: the site root, the staging folder the extract step published
 * (shared "staging_dir": the payload at site-relative paths, on the
 * site's file system), the managed paths ([site] managed, or the setting
 * `managed`) and the preserved paths ([site] preserve, or `preserve`).
 *
 * For each managed path P, in order (a checkpoint after each):
 *   swap  STAGING/P and ROOT/P both exist: renameat2(RENAME_EXCHANGE);
 *         the old tree then sits at STAGING/P until commit.
 *   new   only STAGING/P exists: renamed to ROOT/P; undo moves it back.
 *   drop  only ROOT/P exists (the release dropped it): ROOT/P is moved to
 *         STAGING/.nexo-removed-<index>, so the site no longer has it and
 *         undo puts it back; commit deletes it.
 *   pair  the fallback of swap when the file system has no RENAME_EXCHANGE
 *         (EINVAL/ENOSYS) or `exchange = rename`: two renames, ROOT/P ->
 *         ROOT/.P.nexo-old-<update id>, then STAGING/P -> ROOT/P. Between
 *         the halves the site has no P for a moment. Each half is
 *         journaled; undo (also after a crash between them) reverts
 *         whatever half was done.
 * Before acting, the entry "p.<index>" is journaled: kind, the paths and
 * the inodes of the new tree and of the old one. Undo compares the inode
 * now at ROOT/P with them, so it knows whether a swap still needs undoing
 * even when the process died between the rename and the next journal
 * record; it can run in a fresh process and a second time.
 *
 * Preserved paths below a managed path (e.g. public_html/uploads when
 * public_html is managed) are moved from the old tree into the new one
 * after the swap (journaled first; a staged copy of them is dropped);
 * undo moves them back before swapping back. Preserved paths that are not
 * below a managed path are never touched. Modes are those the extract
 * step gave the staged tree (from the manifest): nothing is chmod'ed.
 *
 * commit deletes the old trees (the extract step's commit then removes
 * the staging folder itself).
 *
 * A plugin (fact component_dir, e.g. modules/plugins/forum) is one
 * managed path, its whole folder: swapped, or "new" when the plugin is
 * not installed yet (missing parent folders are then made, journaled, and
 * undo removes them again when they are empty). Nothing is preserved by
 * default: [site] managed and preserve describe core (modules/plugins
 * being preserved from a core update must not keep a plugin's own update
 * from swapping its folder).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "replace.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsat.h"
#include "offer.h"
#include "util.h"

static const struct nexo_setting settings[] = {
    { "managed", "", 0, "paths below the root to replace (default: [site] managed)" },
    { "preserve", "", 0, "paths kept from the old tree (default: [site] preserve)" },
    { "exchange", "auto", 0, "auto: renameat2(RENAME_EXCHANGE) where the file system has it; "
                             "rename: always the two-rename fallback (troubleshooting)" },
    { NULL, NULL, 0, NULL },
};

struct rp {
    const struct nexo_host *h;
    nexo_ctx *c;
    const char *root;
    const char *staging;      /* to act on: the host's checked path (core/pdir.h) */
    const char *staging_real; /* to journal and show: the staging folder's path */
    struct rp_list managed;
    struct rp_list preserve;
    int rootfd;               /* the site root, opened once */
};

static void lists(const struct nexo_host *h, nexo_ctx *c, struct rp *r)
{
    const char *m = h->setting(c, "managed");
    const char *p = h->setting(c, "preserve");
    const char *dir = h->info(c, "component_dir");
    if (dir && *dir) {
        /* a plugin: its folder, nothing preserved */
        rp_split(m && *m ? m : dir, &r->managed);
        rp_split(p && *p ? p : "", &r->preserve);
        return;
    }
    if (!m || !*m)
        m = h->config(c, "site", "managed");
    if (!p || !*p)
        p = h->config(c, "site", "preserve");
    rp_split(m ? m : "core public_html resources database", &r->managed);
    rp_split(p ? p : ".env var modules/plugins", &r->preserve);
}

static void rp_init(const struct nexo_host *h, nexo_ctx *c, struct rp *r)
{
    memset(r, 0, sizeof *r);
    r->h = h;
    r->c = c;
    r->root = h->info(c, "root");
    r->rootfd = -1;
    lists(h, c, r);
}

static int open_root(struct rp *r)
{
    r->rootfd = open(r->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r->rootfd < 0)
        return r->h->fail(r->c, NEXO_EIO, "%s: cannot open the site root: %s", r->root,
                          strerror(errno));
    return 0;
}

static void rp_free(struct rp *r)
{
    rp_list_free(&r->managed);
    rp_list_free(&r->preserve);
    if (r->rootfd > 0)
        close(r->rootfd);
    r->rootfd = -1;
}

/* ---- paths by descriptor (contracts §9) ---- */

/* Where a journaled path is: the descriptor of its folder, reached from
 * the site root or the staging folder one component at a time and never
 * through a symbolic link (the site's owner may have put one anywhere in
 * the site, and in the old trees parked in the staging folder), and its
 * last name; renames then never leave those trees. */
struct at {
    int dfd;
    const char *name;
    char *rel;
};

static void at_close(struct at *a)
{
    if (a->dfd >= 0)
        close(a->dfd);
    free(a->rel);
    a->dfd = -1;
    a->rel = NULL;
}

static const char *after(const char *path, const char *base)
{
    size_t n = base ? strlen(base) : 0;
    if (n && strncmp(path, base, n) == 0 && path[n] == '/' && path[n + 1])
        return path + n + 1;
    return NULL;
}

/* 0, or -1 with errno and the message set. */
static int at_get(struct rp *r, const char *path, struct at *a)
{
    a->dfd = -1;
    a->rel = NULL;
    const char *rel = after(path, r->staging_real);
    const char *base = r->staging, *shown = r->staging_real;
    if (!rel) {
        rel = after(path, r->root);
        base = r->root;
        shown = r->root;
    }
    if (!rel || !base) {
        errno = EINVAL;
        r->h->fail(r->c, NEXO_EINVAL, "%s: %s", path, !rel ? "neither in the site nor in the "
                   "staging folder" : r->h->errmsg(r->c));
        return -1;
    }
    int bfd = base == r->root && r->rootfd >= 0 ? dup(r->rootfd)
                                                : open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (base == r->root && r->rootfd < 0 && bfd >= 0)
        r->rootfd = dup(bfd);
    if (bfd < 0) {
        int err = errno;
        r->h->fail(r->c, NEXO_EIO, "%s: cannot open: %s", shown, strerror(err));
        errno = err;
        return -1;
    }
    a->rel = nx_xstrdup(rel);
    char *slash = strrchr(a->rel, '/');
    nx_err e;
    if (slash) {
        *slash = '\0';
        a->dfd = nx_open_below(bfd, a->rel, shown, &e);
        a->name = slash + 1;
    } else {
        a->dfd = dup(bfd);
        a->name = a->rel;
    }
    int err = errno;
    close(bfd);
    if (a->dfd < 0) {
        if (slash)
            r->h->fail(r->c, NEXO_EIO, "%s", e.msg);
        else
            r->h->fail(r->c, NEXO_EIO, "%s: %s", path, strerror(err));
        free(a->rel);
        a->rel = NULL;
        errno = err;
        return -1;
    }
    return 0;
}

/* lstat through at_get; -1 (errno ENOENT when it is not there). */
static int at_stat(struct rp *r, const char *path, struct stat *st)
{
    char keep[NX_ERRLEN];
    snprintf(keep, sizeof keep, "%s", r->h->errmsg(r->c));
    struct at a;
    int rc = at_get(r, path, &a);
    if (rc == 0) {
        rc = fstatat(a.dfd, a.name, st, AT_SYMLINK_NOFOLLOW);
        int err = errno;
        at_close(&a);
        errno = err;
    }
    if (keep[0])
        r->h->fail(r->c, NEXO_EIO, "%s", keep); /* a probe leaves the message alone */
    return rc;
}

static unsigned long long ino_of(struct rp *r, const char *path)
{
    struct stat st;
    return at_stat(r, path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* ---- journal entries ---- */

static int entry_save(struct rp *r, size_t i, json_t *e)
{
    char key[32];
    snprintf(key, sizeof key, "p.%zu", i);
    char *text = json_dumps(e, JSON_COMPACT);
    if (!text)
        return r->h->fail(r->c, NEXO_EINVAL, "%s: cannot journal (not UTF-8?)", key);
    int rc = r->h->state_set(r->c, key, text);
    free(text);
    return rc;
}

static json_t *entry_load(const struct nexo_host *h, nexo_ctx *c, size_t i)
{
    char key[32];
    snprintf(key, sizeof key, "p.%zu", i);
    const char *text = h->state_get(c, key);
    return text ? json_loads(text, 0, NULL) : NULL;
}

static const char *es(json_t *e, const char *k)
{
    const char *v = json_string_value(json_object_get(e, k));
    return v ? v : "";
}

static unsigned long long eino(json_t *e, const char *k)
{
    return strtoull(es(e, k), NULL, 10);
}

static void set_ino(json_t *e, const char *k, unsigned long long ino)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", ino);
    json_object_set_new(e, k, json_string(buf));
}

static int exists(struct rp *r, const char *path)
{
    struct stat st;
    return at_stat(r, path, &st) == 0;
}

/* rename or exchange by descriptor; errno kept for the caller. */
static int rename_at(struct rp *r, const char *from, const char *to, unsigned flags)
{
    struct at a, b;
    if (at_get(r, from, &a) != 0)
        return NEXO_EIO;
    if (at_get(r, to, &b) != 0) {
        at_close(&a);
        return NEXO_EIO;
    }
    int rc = renameat2(a.dfd, a.name, b.dfd, b.name, flags);
    int err = errno;
    at_close(&a);
    at_close(&b);
    errno = err;
    return rc == 0 ? 0 : -1;
}

static int move(struct rp *r, const char *from, const char *to)
{
    int rc = rename_at(r, from, to, 0);
    if (rc < 0)
        return r->h->fail(r->c, NEXO_EIO, "cannot rename %s to %s: %s", from, to,
                          strerror(errno));
    return rc;
}

static int exchange(struct rp *r, const char *a, const char *b)
{
    int rc = rename_at(r, a, b, RENAME_EXCHANGE);
    if (rc < 0)
        return r->h->fail(r->c, NEXO_EIO, "cannot exchange %s and %s: %s", a, b,
                          strerror(errno));
    return rc;
}

/* Remove a tree by descriptor (nothing there is fine). */
static int remove_tree(struct rp *r, const char *path)
{
    struct at a;
    if (at_get(r, path, &a) != 0)
        return errno == ENOENT ? 0 : NEXO_EIO;
    nx_err err;
    int rc = nx_rmtree_at(a.dfd, a.name, path, &err) == 0 ? 0
                                                           : r->h->fail(r->c, NEXO_EIO, "%s",
                                                                        err.msg);
    at_close(&a);
    return rc;
}

/* The folders of `path` below the site root or the staging folder that do
 * not exist yet, made one at a time (0755) by descriptor. */
static int make_dirs_to(struct rp *r, const char *path)
{
    const char *rel = after(path, r->staging_real);
    const char *base = rel ? r->staging : r->root;
    if (!rel)
        rel = after(path, r->root);
    if (!rel || !base)
        return r->h->fail(r->c, NEXO_EINVAL, "%s: neither in the site nor in the staging "
                          "folder", path);
    int fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return r->h->fail(r->c, NEXO_EIO, "%s: cannot open: %s", base, strerror(errno));
    char *copy = nx_xstrdup(rel), *save = NULL;
    int rc = 0;
    for (char *part = strtok_r(copy, "/", &save); part && !rc;
         part = strtok_r(NULL, "/", &save)) {
        if (mkdirat(fd, part, 0755) != 0 && errno != EEXIST)
            rc = r->h->fail(r->c, NEXO_EIO, "%s: cannot make %s: %s", path, part,
                            strerror(errno));
        int next = rc ? -1 : nx_openat_dir(fd, part, NULL);
        if (!rc && next < 0)
            rc = r->h->fail(r->c, NEXO_EIO, "%s: %s: %s", path, part,
                            errno == ELOOP || errno == ENOTDIR
                                ? "a symbolic link or not a folder: refused"
                                : strerror(errno));
        close(fd);
        fd = next;
    }
    if (fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* As root on a site owned by another user, what was just put at ROOT/P
 * (the staged tree, root's while it was staged: docs/security.md) goes to
 * the site root's owner, deepest first, by descriptor; only when it is
 * still the tree this step put there (new_ino). */
static int give_to_owner(struct rp *r, json_t *e)
{
    struct stat rs;
    if (geteuid() != 0 || r->rootfd < 0 || fstat(r->rootfd, &rs) != 0 || rs.st_uid == 0)
        return 0;
    struct at a;
    if (at_get(r, es(e, "root_at"), &a) != 0)
        return NEXO_EIO;
    int rc = 0;
    nx_err err;
    struct stat st;
    int fd = openat(a.dfd, a.name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0)
        rc = r->h->fail(r->c, NEXO_EIO, "%s: cannot open: %s", es(e, "root_at"),
                        strerror(errno));
    else if ((unsigned long long)st.st_ino != eino(e, "new_ino"))
        r->h->log(r->c, NEXO_LOG_WARN, "%s is not the tree this step put there: its owner is "
                  "left as it is", es(e, "root_at"));
    else if (S_ISDIR(st.st_mode)) {
        int dfd = nx_openat_dir(a.dfd, a.name, &st);
        if (dfd < 0 || nx_chown_below(dfd, rs.st_uid, rs.st_gid, es(e, "root_at"), &err) != 0)
            rc = r->h->fail(r->c, NEXO_EIO, "%s", dfd < 0 ? strerror(errno) : err.msg);
        else if (fchownat(dfd, "", rs.st_uid, rs.st_gid, AT_EMPTY_PATH) != 0)
            rc = r->h->fail(r->c, NEXO_EIO, "%s: chown: %s", es(e, "root_at"), strerror(errno));
        if (dfd >= 0)
            close(dfd);
    } else if (fchownat(fd, "", rs.st_uid, rs.st_gid, AT_EMPTY_PATH) != 0) {
        rc = r->h->fail(r->c, NEXO_EIO, "%s: chown: %s", es(e, "root_at"), strerror(errno));
    }
    if (fd >= 0)
        close(fd);
    at_close(&a);
    if (!rc)
        r->h->log(r->c, NEXO_LOG_DEBUG, "%s given to uid %u gid %u (the site root's owner)",
                  es(e, "path"), (unsigned)rs.st_uid, (unsigned)rs.st_gid);
    return rc;
}

/* ROOT/dir/.name.nexo-old-<id>: where the fallback parks the old tree. */
static char *old_name(struct rp *r, const char *rpath)
{
    char *dir = nx_dirname(rpath);
    char *p = nx_xasprintf("%s/.%s.nexo-old-%s", dir, nx_basename(rpath),
                           r->h->info(r->c, "update_id"));
    free(dir);
    return p;
}

/* ---- preserved paths ---- */

/* The tree that held ROOT/P before the update, for an entry. */
static const char *old_tree(json_t *e)
{
    return strcmp(es(e, "kind"), "swap") == 0 ? es(e, "new_at") : es(e, "old_at");
}

static int keep_one(struct rp *r, size_t i, json_t *e, const char *q, const char *sub)
{
    char *src = nx_path_join(old_tree(e), sub);
    char *dst = nx_path_join(es(e, "root_at"), sub);
    int rc = 0;
    if (exists(r, src)) {
        json_array_append_new(json_object_get(e, "keep"), json_string(q));
        rc = entry_save(r, i, e);
        char *parent = nx_dirname(dst);
        if (!rc)
            rc = remove_tree(r, dst);
        if (!rc && strcmp(parent, r->root) != 0)
            rc = make_dirs_to(r, parent);
        if (!rc)
            rc = move(r, src, dst);
        if (!rc)
            r->h->log(r->c, NEXO_LOG_INFO, "kept %s", q);
        free(parent);
    }
    free(src);
    free(dst);
    return rc;
}

static int keep_preserved(struct rp *r, size_t i, json_t *e)
{
    const char *rel = es(e, "path");
    json_object_set_new(e, "keep", json_array());
    for (size_t j = 0; j < r->preserve.n; j++) {
        const char *sub = rp_below(rel, r->preserve.v[j]);
        int rc = sub ? keep_one(r, i, e, r->preserve.v[j], sub) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

/* Undo: the preserved paths go back from the new tree into the old one. */
static int unkeep(struct rp *r, json_t *e)
{
    json_t *keep = json_object_get(e, "keep");
    for (size_t j = json_array_size(keep); j-- > 0;) {
        const char *sub = rp_below(es(e, "path"), json_string_value(json_array_get(keep, j)));
        if (!sub)
            continue;
        char *src = nx_path_join(es(e, "root_at"), sub);
        char *dst = nx_path_join(old_tree(e), sub);
        int rc = exists(r, src) && !exists(r, dst) ? move(r, src, dst) : 0;
        free(src);
        free(dst);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- run ---- */

/* The fallback of RENAME_EXCHANGE: two renames, each half journaled. */
static int act_pair(struct rp *r, size_t i, json_t *e)
{
    char *old = old_name(r, es(e, "root_at"));
    json_object_set_new(e, "kind", json_string("pair"));
    json_object_set_new(e, "old_at", json_string(old));
    free(old);
    json_object_set_new(e, "half", json_integer(1));
    int rc = entry_save(r, i, e);
    if (!rc)
        rc = move(r, es(e, "root_at"), es(e, "old_at"));
    json_object_set_new(e, "half", json_integer(2));
    if (!rc)
        rc = entry_save(r, i, e);
    if (!rc)
        rc = move(r, es(e, "new_at"), es(e, "root_at"));
    return rc;
}

static int act_swap(struct rp *r, size_t i, json_t *e)
{
    const char *mode = r->h->setting(r->c, "exchange");
    if (mode && strcmp(mode, "rename") == 0)
        return act_pair(r, i, e);
    int rc = entry_save(r, i, e);
    if (rc)
        return rc;
    if (rename_at(r, es(e, "root_at"), es(e, "new_at"), RENAME_EXCHANGE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return r->h->fail(r->c, NEXO_EIO, "cannot exchange %s and %s: %s", es(e, "root_at"),
                          es(e, "new_at"), strerror(errno));
    r->h->log(r->c, NEXO_LOG_INFO, "%s: no RENAME_EXCHANGE here; using two renames",
              es(e, "path"));
    return act_pair(r, i, e);
}

/* The topmost missing folder above ROOT/P (malloc'ed), NULL when its
 * folder exists. */
static char *missing_top(struct rp *r, const char *rpath)
{
    char *top = NULL;
    char *d = nx_dirname(rpath);
    while (!exists(r, d) && strlen(d) > strlen(r->root)) {
        free(top);
        top = d;
        d = nx_dirname(top);
    }
    free(d);
    return top;
}

/* "new" below folders the site does not have yet (a plugin's first
 * install without modules/plugins): they are journaled, then made. */
static int make_parents(struct rp *r, size_t i, json_t *e)
{
    char *top = missing_top(r, es(e, "root_at"));
    if (!top)
        return 0;
    json_object_set_new(e, "made", json_string(top));
    free(top);
    int rc = entry_save(r, i, e);
    char *parent = nx_dirname(es(e, "root_at"));
    if (!rc)
        rc = make_dirs_to(r, parent);
    free(parent);
    return rc;
}

/* Undo of make_parents: the folders it made, when empty again. */
static int rmdir_at(struct rp *r, const char *path)
{
    struct at a;
    if (at_get(r, path, &a) != 0)
        return -1;
    int rc = unlinkat(a.dfd, a.name, AT_REMOVEDIR);
    at_close(&a);
    return rc;
}

static void remove_made(struct rp *r, json_t *e)
{
    const char *made = es(e, "made");
    if (!*made)
        return;
    char *d = nx_dirname(es(e, "root_at"));
    size_t n = strlen(made);
    while (strncmp(d, made, n) == 0 && (d[n] == '\0' || d[n] == '/') && rmdir_at(r, d) == 0) {
        char *up = nx_dirname(d);
        free(d);
        d = up;
    }
    free(d);
}

static int act(struct rp *r, size_t i, json_t *e)
{
    const char *kind = es(e, "kind");
    int rc;
    if (strcmp(kind, "swap") == 0) {
        rc = act_swap(r, i, e);
        if (!rc)
            rc = give_to_owner(r, e);
        if (!rc)
            rc = keep_preserved(r, i, e);
        return rc;
    }
    rc = entry_save(r, i, e);
    if (!rc && strcmp(kind, "new") == 0)
        rc = make_parents(r, i, e);
    if (rc)
        return rc;
    if (strcmp(kind, "new") == 0) {
        rc = move(r, es(e, "new_at"), es(e, "root_at"));
        return rc ? rc : give_to_owner(r, e);
    }
    return move(r, es(e, "root_at"), es(e, "old_at"));
}

static json_t *plan_entry(struct rp *r, size_t i)
{
    const char *rel = r->managed.v[i];
    char *rpath = nx_path_join(r->root, rel);
    char *spath = nx_path_join(r->staging_real, rel);
    unsigned long long new_ino = ino_of(r, spath), old_ino = ino_of(r, rpath);
    json_t *e = NULL;
    if (new_ino || old_ino) {
        const char *kind = !new_ino ? "drop" : !old_ino ? "new" : "swap";
        e = json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "path", rel, "root_at", rpath,
                      "new_at", spath);
        set_ino(e, "new_ino", new_ino);
        set_ino(e, "old_ino", old_ino);
    }
    if (e && !new_ino) {
        char *removed = nx_xasprintf("%s/.nexo-removed-%zu", r->staging_real, i);
        json_object_set_new(e, "old_at", json_string(removed));
        free(removed);
    }
    free(rpath);
    free(spath);
    return e;
}

static int do_path(struct rp *r, size_t i)
{
    json_t *e = plan_entry(r, i);
    if (!e) {
        r->h->log(r->c, NEXO_LOG_DEBUG, "%s: neither in the site nor in the release",
                  r->managed.v[i]);
        return 0;
    }
    char num[32];
    snprintf(num, sizeof num, "%zu", i + 1);
    int rc = r->h->state_set(r->c, "count", num);
    if (!rc)
        rc = act(r, i, e);
    json_object_set_new(e, "done", json_true());
    if (!rc)
        rc = entry_save(r, i, e);
    if (!rc)
        r->h->log(r->c, NEXO_LOG_INFO, "%s: %s", es(e, "path"),
                  strcmp(es(e, "kind"), "new") == 0    ? "added"
                  : strcmp(es(e, "kind"), "drop") == 0 ? "removed (kept until final)"
                                                       : "replaced");
    json_decref(e);
    return rc;
}

static int r_run(const struct nexo_host *h, nexo_ctx *c)
{
    struct rp r;
    rp_init(h, c, &r);
    r.staging = h->shared_get(c, NX_SHARED_STAGING);
    r.staging_real = h->shared_get(c, NX_SHARED_STAGING_PATH);
    if (!r.staging_real)
        r.staging_real = r.staging;
    int rc = 0;
    if (!r.root)
        rc = h->fail(c, NEXO_EINVAL, "[site] root is not set");
    else if (!r.staging && h->shared_get(c, NX_SHARED_STAGING NX_PDIR_SUFFIX))
        rc = NEXO_EVERIFY; /* the host refused the folder, message set */
    else if (!r.staging)
        rc = h->fail(c, NEXO_EINVAL, "no staging folder: the extract step must run before");
    if (!rc)
        rc = open_root(&r);
    if (!rc)
        rc = h->state_set(c, "staging", r.staging_real);
    for (size_t i = 0; !rc && i < r.managed.n; i++) {
        rc = do_path(&r, i);
        if (!rc)
            rc = h->checkpoint(c, r.managed.v[i]);
    }
    rp_free(&r);
    return rc;
}

/* ---- undo ---- */

static int undo_entry(struct rp *r, json_t *e)
{
    const char *kind = es(e, "kind");
    const char *rpath = es(e, "root_at");
    unsigned long long cur = ino_of(r, rpath);
    int have_new = cur && cur == eino(e, "new_ino");
    int rc = have_new ? unkeep(r, e) : 0;
    if (!rc && have_new && strcmp(kind, "swap") == 0)
        rc = exchange(r, rpath, es(e, "new_at"));
    else if (!rc && have_new)
        rc = move(r, rpath, es(e, "new_at"));
    int old_aside = strcmp(kind, "pair") == 0 || strcmp(kind, "drop") == 0;
    if (!rc && old_aside && !exists(r, rpath) && ino_of(r, es(e, "old_at")) == eino(e, "old_ino"))
        rc = move(r, es(e, "old_at"), rpath);
    if (!rc && strcmp(kind, "new") == 0 && !exists(r, rpath))
        remove_made(r, e);
    return rc;
}

/* undo and commit: the staging folder as run journaled it, reached
 * through the host's check again (also in a fresh process). */
static void journaled_staging(struct rp *r)
{
    r->staging_real = r->h->state_get(r->c, "staging");
    r->staging = r->h->shared_get(r->c, NX_SHARED_STAGING);
    if (!r->staging && !r->h->shared_get(r->c, NX_SHARED_STAGING NX_PDIR_SUFFIX))
        r->staging = r->staging_real;
    if (r->root)
        open_root(r);
}

static int r_undo(const struct nexo_host *h, nexo_ctx *c)
{
    struct rp r;
    rp_init(h, c, &r);
    journaled_staging(&r);
    const char *n = h->state_get(c, "count");
    int rc = 0;
    for (size_t i = n ? strtoul(n, NULL, 10) : 0; !rc && i-- > 0;) {
        json_t *e = entry_load(h, c, i);
        if (e)
            rc = undo_entry(&r, e);
        if (e && !rc)
            h->log(c, NEXO_LOG_INFO, "%s: put back", es(e, "path"));
        json_decref(e);
    }
    rp_free(&r);
    return rc;
}

/* ---- commit ---- */

static const char *leftover(struct rp *r, json_t *e)
{
    const char *kind = es(e, "kind");
    if (strcmp(kind, "drop") == 0)
        return es(e, "old_at");
    if (ino_of(r, es(e, "root_at")) != eino(e, "new_ino"))
        return NULL; /* the new tree is not in place: keep everything */
    if (strcmp(kind, "swap") == 0)
        return es(e, "new_at");
    return strcmp(kind, "pair") == 0 ? es(e, "old_at") : NULL;
}

static int r_commit(const struct nexo_host *h, nexo_ctx *c)
{
    const char *n = h->state_get(c, "count");
    struct rp r;
    rp_init(h, c, &r);
    journaled_staging(&r);
    int rc = 0;
    for (size_t i = 0; !rc && n && i < strtoul(n, NULL, 10); i++) {
        json_t *e = entry_load(h, c, i);
        const char *old = e ? leftover(&r, e) : NULL;
        if (old)
            rc = remove_tree(&r, old);
        if (old && !rc)
            h->log(c, NEXO_LOG_DEBUG, "removed the old %s (%s)", es(e, "path"), old);
        json_decref(e);
    }
    rp_free(&r);
    return rc;
}

/* ---- validate, plan ---- */

static int check_lists(const struct nexo_host *h, nexo_ctx *c, struct rp *r)
{
    for (size_t i = 0; i < r->managed.n; i++) {
        const char *p = r->managed.v[i];
        if (!rp_plain(p))
            return h->fail(c, NEXO_EINVAL, "managed path %s: not a plain relative path", p);
        for (size_t j = 0; j < i; j++)
            if (rp_overlap(p, r->managed.v[j]))
                return h->fail(c, NEXO_EINVAL, "managed paths %s and %s overlap", p,
                               r->managed.v[j]);
        for (size_t j = 0; j < r->preserve.n; j++)
            if (strcmp(p, r->preserve.v[j]) == 0 || rp_below(r->preserve.v[j], p))
                return h->fail(c, NEXO_EINVAL, "managed path %s is preserved (%s)", p,
                               r->preserve.v[j]);
    }
    for (size_t j = 0; j < r->preserve.n; j++)
        if (!rp_plain(r->preserve.v[j]))
            return h->fail(c, NEXO_EINVAL, "preserved path %s: not a plain relative path",
                           r->preserve.v[j]);
    return 0;
}

static int r_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *x = h->setting(c, "exchange");
    if (x && strcmp(x, "auto") != 0 && strcmp(x, "rename") != 0)
        return h->fail(c, NEXO_EINVAL, "exchange = %s: expected auto or rename", x);
    struct rp r;
    rp_init(h, c, &r);
    struct stat st;
    int rc = 0;
    if (!r.root || stat(r.root, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = h->fail(c, NEXO_EINVAL, "site root %s is not a folder", r.root ? r.root : "(unset)");
    if (!rc && r.managed.n == 0)
        rc = h->fail(c, NEXO_EINVAL, "no managed paths");
    if (!rc)
        rc = check_lists(h, c, &r);
    rp_free(&r);
    return rc;
}

/* The paths it would swap, and (when a release is staged: a dry run
 * stages it) every file that changes. */
static int r_plan(const struct nexo_host *h, nexo_ctx *c)
{
    struct rp r;
    rp_init(h, c, &r);
    for (size_t i = 0; i < r.managed.n; i++)
        h->log(c, NEXO_LOG_INFO, "would replace %s/%s with the staged one", r.root,
               r.managed.v[i]);
    const char *staging = h->shared_get(c, NX_SHARED_STAGING);
    int rc = 0;
    if (!staging && h->shared_get(c, NX_SHARED_STAGING NX_PDIR_SUFFIX))
        rc = NEXO_EVERIFY; /* the host refused the folder, message set */
    else if (!staging)
        h->log(c, NEXO_LOG_INFO, "nothing is staged (no extract step before this one): the "
               "files that change are not known");
    else if (!r.root)
        rc = h->fail(c, NEXO_EINVAL, "[site] root is not set");
    if (!rc && staging && (rc = open_root(&r)) == 0) {
        int sfd = open(staging, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0)
            rc = h->fail(c, NEXO_EIO, "%s: cannot open the staging folder: %s", staging,
                         strerror(errno));
        else {
            rc = rp_plan_diff(h, c, r.rootfd, sfd, &r.managed, &r.preserve);
            close(sfd);
        }
    }
    rp_free(&r);
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "replace_files",
    .version = "1.0.0",
    .summary = "swap the managed paths of the site with the staged release (atomic renames)",
    .settings = settings,
    .validate = r_validate,
    .plan = r_plan,
    .run = r_run,
    .undo = r_undo,
    .commit = r_commit,
};
