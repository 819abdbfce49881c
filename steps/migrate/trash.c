/* Reversible deletion for <cleanup>: a target is renamed into a trash
 * folder at the top of the site root (the same file system, not served:
 * the web root is a folder below it), the move journaled before it
 * happens.
 *
 * The site's owner may change the site while we work, so all of it goes
 * from the site root's descriptor: the folders above a target are opened
 * one at a time with O_NOFOLLOW (a symbolic link among them is refused,
 * naming the path; the target itself may be a link, which is moved as a
 * link), the trash folder is one we made and checked with fstat, moves are
 * renameat between descriptors, and the trash is deleted by descriptor
 * (nx_rmtree_at: no link followed, no other file system entered). */
#include "migrate.h"
#include "fsat.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *trash_name(const struct nexo_host *h, nexo_ctx *c)
{
    return nx_xasprintf(".nexo-trash-%s", h->info(c, "update_id"));
}

static char *trash_dir(const struct nexo_host *h, nexo_ctx *c)
{
    char *name = trash_name(h, c);
    char *dir = nx_path_join(h->info(c, "root"), name);
    free(name);
    return dir;
}

static int open_root(const struct nexo_host *h, nexo_ctx *c, const char *root, const char *where)
{
    nx_err e;
    int fd = nx_open_dir_path(root, &e);
    if (fd < 0)
        h->fail(c, NEXO_EIO, "%s: cleanup: site root: %s", where, e.msg);
    return fd;
}

/* The folder holding rel (below rootfd), no link on the way. -1 with the
 * step failed; -2 (nothing failed) when a folder on the way is missing. */
static int open_parent(const struct nexo_host *h, nexo_ctx *c, int rootfd, const char *root,
                       const char *rel, const char *where)
{
    char *up = nx_dirname(rel);
    nx_err e;
    int fd = nx_open_below(rootfd, up, root, &e);
    free(up);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT)
        return -2;
    h->fail(c, NEXO_EIO, "%s: cleanup %s/%s: %s", where, root, rel, e.msg);
    return -1;
}

/* The trash folder: made by us now, or made by us earlier in this update;
 * either way a folder (not a link) that belongs to us. -1 with the step
 * failed; -2 (nothing failed) when it is missing and not to be made. */
static int open_trash(const struct nexo_host *h, nexo_ctx *c, int rootfd, int create,
                      const char *where)
{
    char *name = trash_name(h, c);
    char *dir = trash_dir(h, c);
    int fd = -1;
    struct stat st = { 0 };
    if (create && mkdirat(rootfd, name, 0700) != 0 && errno != EEXIST) {
        h->fail(c, NEXO_EIO, "%s: cannot create %s: %s", where, dir, strerror(errno));
    } else if ((fd = nx_openat_dir(rootfd, name, NULL)) < 0) {
        if (errno == ENOENT && !create)
            fd = -2;
        else
            h->fail(c, NEXO_EIO, "%s: cannot open %s: %s", where, dir,
                    errno == ELOOP || errno == ENOTDIR ? "not a folder (a link?)"
                                                       : strerror(errno));
    } else if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022)) {
        h->fail(c, NEXO_EIO, "%s: refused: %s is not our own folder (uid %u, mode %04o)", where,
                dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
        close(fd);
        fd = -1;
    }
    free(dir);
    free(name);
    return fd;
}

int mg_trash_move(const struct nexo_host *h, nexo_ctx *c, const char *root, const char *rel,
                  const char *where)
{
    char *src = nx_path_join(root, rel);
    const char *name = nx_basename(rel);
    int rootfd = open_root(h, c, root, where);
    int pfd = rootfd < 0 ? -1 : open_parent(h, c, rootfd, root, rel, where);
    struct stat st;
    int rc = 0;
    if (rootfd < 0 || pfd == -1) {
        rc = NEXO_EIO;
    } else if (pfd == -2 || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (pfd != -2 && errno != ENOENT)
            rc = h->fail(c, NEXO_EIO, "%s: cleanup %s: %s", where, src, strerror(errno));
        else
            h->log(c, NEXO_LOG_DEBUG, "%s: cleanup: %s is already gone", where, src);
    } else {
        const char *n = h->state_get(c, "trash.count");
        int idx = n ? atoi(n) : 0;
        char *dir = trash_dir(h, c);
        char *dst = nx_xasprintf("%s/%d", dir, idx);
        char *rec = nx_xasprintf("%s\t%s", src, dst);
        char key[32], num[16], dname[16];
        snprintf(key, sizeof key, "trash.%d", idx);
        snprintf(num, sizeof num, "%d", idx + 1);
        snprintf(dname, sizeof dname, "%d", idx);
        int tfd = open_trash(h, c, rootfd, 1, where);
        if (tfd < 0)
            rc = NEXO_EIO;
        if (!rc)
            rc = h->state_set(c, key, rec);
        if (!rc)
            rc = h->state_set(c, "trash.count", num);
        if (!rc && renameat(pfd, name, tfd, dname) != 0)
            rc = h->fail(c, NEXO_EIO, "%s: cleanup: cannot move %s aside: %s", where, src,
                         strerror(errno));
        if (!rc)
            h->log(c, NEXO_LOG_INFO, "cleanup: removed %s (kept until the update is final)",
                   rel);
        if (tfd >= 0)
            close(tfd);
        free(rec);
        free(dst);
        free(dir);
    }
    if (pfd >= 0)
        close(pfd);
    if (rootfd >= 0)
        close(rootfd);
    free(src);
    return rc;
}

/* Put the journaled move `rec` ("SRC\tTRASH/N") back, from the trash
 * folder tfd to SRC's folder opened below the site root. */
static int put_back(const struct nexo_host *h, nexo_ctx *c, int rootfd, int tfd,
                    const char *root, const char *rec)
{
    const char *tab = strchr(rec, '\t');
    if (!tab)
        return 0;
    char *src = nx_xstrndup(rec, (size_t)(tab - rec));
    const char *dst = tab + 1;
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/')
        rl--;
    int rc = 0;
    struct stat st;
    if (strncmp(src, root, rl) != 0 || src[rl] != '/') {
        rc = h->fail(c, NEXO_EIO, "cannot put %s back: not below the site root %s", src, root);
    } else if (fstatat(tfd, nx_basename(dst), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        const char *rel = src + rl + 1;
        int pfd = open_parent(h, c, rootfd, root, rel, "undo");
        if (pfd == -2)
            rc = h->fail(c, NEXO_EIO, "cannot put %s back from %s: its folder is gone", src,
                         dst);
        else if (pfd < 0)
            rc = NEXO_EIO;
        else if (renameat(tfd, nx_basename(dst), pfd, nx_basename(rel)) != 0)
            rc = h->fail(c, NEXO_EIO, "cannot put %s back from %s: %s", src, dst,
                         strerror(errno));
        if (pfd >= 0)
            close(pfd);
    }
    free(src);
    return rc;
}

int mg_trash_restore(const struct nexo_host *h, nexo_ctx *c)
{
    const char *n = h->state_get(c, "trash.count");
    if (!n || atoi(n) <= 0)
        return 0;
    const char *root = h->info(c, "root");
    int rootfd = open_root(h, c, root, "undo");
    if (rootfd < 0)
        return NEXO_EIO;
    int tfd = open_trash(h, c, rootfd, 0, "undo");
    if (tfd < 0) {
        close(rootfd);
        /* -2, no trash folder: nothing was moved, or all is back already */
        return tfd == -2 ? 0 : NEXO_EIO;
    }
    int rc = 0;
    for (int i = atoi(n); rc == 0 && i-- > 0;) {
        char key[32];
        snprintf(key, sizeof key, "trash.%d", i);
        const char *rec = h->state_get(c, key);
        if (rec)
            rc = put_back(h, c, rootfd, tfd, root, rec);
    }
    close(tfd);
    if (rc == 0) {
        char *name = trash_name(h, c);
        unlinkat(rootfd, name, AT_REMOVEDIR);
        free(name);
    }
    close(rootfd);
    return rc;
}

int mg_trash_purge(const struct nexo_host *h, nexo_ctx *c)
{
    const char *root = h->info(c, "root");
    int rootfd = open_root(h, c, root, "commit");
    if (rootfd < 0)
        return NEXO_EIO;
    char *name = trash_name(h, c);
    char *dir = trash_dir(h, c);
    nx_err e;
    int rc = nx_rmtree_at(rootfd, name, dir, &e) == 0 ? 0 : h->fail(c, NEXO_EIO, "%s", e.msg);
    free(dir);
    free(name);
    close(rootfd);
    return rc;
}
