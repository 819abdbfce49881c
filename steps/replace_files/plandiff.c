/*
 * replace_files' plan: what the swap would change, file by file. The
 * staged tree (root's, checked by the host) is compared with the site's
 * tree under each managed path: files added, changed (type, mode, size or
 * bytes; a link's target) and removed, preserved paths left out as the
 * swap leaves them. Both trees are read by descriptor, from their roots
 * one component at a time and never through a symbolic link: the site's
 * owner may put one anywhere in the site. The first PD_SHOWN paths of
 * each kind are listed at info level, the rest at debug level (-v).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "replace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsat.h"
#include "util.h"

#define PD_SHOWN 50

enum { PD_ADDED, PD_CHANGED, PD_REMOVED, PD_KINDS };

struct pd {
    const struct nexo_host *h;
    nexo_ctx *c;
    const struct rp_list *preserve;
    size_t count[PD_KINDS];
    size_t same;
    int err;
};

static const char mark[PD_KINDS] = { '+', '~', '-' };

static void note(struct pd *d, int kind, const char *rel, const char *why)
{
    d->h->log(d->c, d->count[kind] < PD_SHOWN ? NEXO_LOG_INFO : NEXO_LOG_DEBUG, "  %c %s%s%s",
              mark[kind], rel, why ? "  " : "", why ? why : "");
    d->count[kind]++;
}

static int preserved(const struct pd *d, const char *rel)
{
    for (size_t i = 0; i < d->preserve->n; i++)
        if (strcmp(d->preserve->v[i], rel) == 0)
            return 1;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in folder fd (fd stays open). */
static char **names_of(int fd, size_t *n)
{
    *n = 0;
    int dup_fd = fd < 0 ? -1 : openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    if (!dir) {
        if (dup_fd >= 0)
            close(dup_fd);
        return NULL;
    }
    char **v = NULL;
    for (struct dirent *de = readdir(dir); de; de = readdir(dir)) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        v = nx_xrealloc(v, (*n + 1) * sizeof *v);
        v[(*n)++] = nx_xstrdup(de->d_name);
    }
    closedir(dir);
    if (*n)
        qsort(v, *n, sizeof *v, by_name);
    return v;
}

/* 1 when two regular files have different bytes (sizes are equal). */
static int bytes_differ(int adir, int bdir, const char *name)
{
    int a = openat(adir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int b = openat(bdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int differ = a < 0 || b < 0;
    char ba[65536], bb[65536];
    while (!differ) {
        ssize_t na = nx_read_full(a, ba, sizeof ba), nb = nx_read_full(b, bb, sizeof bb);
        if (na < 0 || nb < 0 || na != nb || memcmp(ba, bb, (size_t)na) != 0)
            differ = 1;
        else if (na == 0)
            break;
    }
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
    return differ;
}

static int links_differ(int adir, int bdir, const char *name)
{
    char la[4096], lb[4096];
    ssize_t na = readlinkat(adir, name, la, sizeof la);
    ssize_t nb = readlinkat(bdir, name, lb, sizeof lb);
    return na < 0 || nb < 0 || na != nb || memcmp(la, lb, (size_t)na) != 0;
}

static void walk(struct pd *d, int sfd, int ofd, const char *rel);

/* Every path below a folder that only one side has. */
static void one_side(struct pd *d, int dfd, const char *name, const char *rel, int kind)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        note(d, kind, rel, NULL);
        return;
    }
    int fd = nx_openat_dir(dfd, name, &st);
    if (fd < 0) {
        note(d, kind, rel, "(a folder that cannot be read)");
        return;
    }
    if (kind == PD_ADDED)
        walk(d, fd, -1, rel);
    else
        walk(d, -1, fd, rel);
    close(fd);
}

static const char *what_changed(const struct stat *s, const struct stat *o, int sfd, int ofd,
                                const char *name)
{
    if ((s->st_mode & S_IFMT) != (o->st_mode & S_IFMT))
        return "(type)";
    if (S_ISLNK(s->st_mode))
        return links_differ(sfd, ofd, name) ? "(link target)" : NULL;
    if (S_ISREG(s->st_mode) && (s->st_size != o->st_size || bytes_differ(sfd, ofd, name)))
        return (s->st_mode & 07777) != (o->st_mode & 07777) ? "(content, mode)" : "(content)";
    if ((s->st_mode & 07777) != (o->st_mode & 07777))
        return "(mode)";
    return NULL;
}

/* Compare folder sfd (staged; -1: none) with ofd (the site's; -1: none). */
static void walk(struct pd *d, int sfd, int ofd, const char *rel)
{
    size_t ns = 0, no = 0;
    char **sn = names_of(sfd, &ns), **on = names_of(ofd, &no);
    size_t i = 0, k = 0;
    while (i < ns || k < no) {
        int cmp = i == ns ? 1 : k == no ? -1 : strcmp(sn[i], on[k]);
        const char *name = cmp <= 0 ? sn[i] : on[k];
        char *path = *rel ? nx_xasprintf("%s/%s", rel, name) : nx_xstrdup(name);
        if (preserved(d, path)) {
            /* moved from the old tree into the new one: unchanged */
        } else if (cmp < 0) {
            one_side(d, sfd, name, path, PD_ADDED);
        } else if (cmp > 0) {
            one_side(d, ofd, name, path, PD_REMOVED);
        } else {
            struct stat s, o;
            if (fstatat(sfd, name, &s, AT_SYMLINK_NOFOLLOW) != 0 ||
                fstatat(ofd, name, &o, AT_SYMLINK_NOFOLLOW) != 0) {
                note(d, PD_CHANGED, path, "(cannot be read)");
            } else if (S_ISDIR(s.st_mode) && S_ISDIR(o.st_mode)) {
                int a = nx_openat_dir(sfd, name, &s), b = nx_openat_dir(ofd, name, &o);
                if (a >= 0 && b >= 0)
                    walk(d, a, b, path);
                else
                    note(d, PD_CHANGED, path, "(a folder that cannot be read)");
                if (a >= 0)
                    close(a);
                if (b >= 0)
                    close(b);
            } else {
                const char *why = what_changed(&s, &o, sfd, ofd, name);
                if (why)
                    note(d, PD_CHANGED, path, why);
                else
                    d->same++;
            }
        }
        free(path);
        if (cmp <= 0)
            i++;
        if (cmp >= 0)
            k++;
    }
    for (size_t x = 0; x < ns; x++)
        free(sn[x]);
    for (size_t x = 0; x < no; x++)
        free(on[x]);
    free(sn);
    free(on);
}

/* The folder holding the last component of rel, below top; its name in
 * *last. -1 when a component is missing (or a link). */
static int parent_of(int top, const char *rel, const char **last)
{
    const char *slash = strrchr(rel, '/');
    *last = slash ? slash + 1 : rel;
    if (!slash)
        return openat(top, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    char *up = nx_xstrndup(rel, (size_t)(slash - rel));
    nx_err e;
    int fd = nx_open_below(top, up, "", &e);
    free(up);
    return fd;
}

int rp_plan_diff(const struct nexo_host *h, nexo_ctx *c, int rootfd, int stagefd,
                 const struct rp_list *managed, const struct rp_list *preserve)
{
    struct pd d = { h, c, preserve, { 0, 0, 0 }, 0, 0 };
    for (size_t i = 0; i < managed->n; i++) {
        const char *rel = managed->v[i], *name = NULL;
        int sp = parent_of(stagefd, rel, &name), op = parent_of(rootfd, rel, &name);
        struct stat s, o;
        int hs = sp >= 0 && fstatat(sp, name, &s, AT_SYMLINK_NOFOLLOW) == 0;
        int ho = op >= 0 && fstatat(op, name, &o, AT_SYMLINK_NOFOLLOW) == 0;
        if (hs && !ho)
            one_side(&d, sp, name, rel, PD_ADDED);
        else if (!hs && ho)
            one_side(&d, op, name, rel, PD_REMOVED);
        else if (hs && ho && S_ISDIR(s.st_mode) && S_ISDIR(o.st_mode)) {
            int a = nx_openat_dir(sp, name, &s), b = nx_openat_dir(op, name, &o);
            if (a >= 0 && b >= 0)
                walk(&d, a, b, rel);
            else
                note(&d, PD_CHANGED, rel, "(a folder that cannot be read)");
            if (a >= 0)
                close(a);
            if (b >= 0)
                close(b);
        } else if (hs && ho) {
            const char *why = what_changed(&s, &o, sp, op, name);
            if (why)
                note(&d, PD_CHANGED, rel, why);
            else
                d.same++;
        }
        if (sp >= 0)
            close(sp);
        if (op >= 0)
            close(op);
    }
    size_t more = 0;
    for (int k = 0; k < PD_KINDS; k++)
        more += d.count[k] > PD_SHOWN ? d.count[k] - PD_SHOWN : 0;
    h->log(c, NEXO_LOG_INFO, "files: %zu added (+), %zu changed (~), %zu removed (-), %zu "
           "unchanged%s", d.count[PD_ADDED], d.count[PD_CHANGED], d.count[PD_REMOVED], d.same,
           more ? "; -v lists the paths not shown above" : "");
    return 0;
}
