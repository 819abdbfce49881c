/*
 * cache_clear — empties the site's cache folder (setting `dir`, default
 * var/cache, relative to the root), reversibly: the folder is renamed
 * aside to <its parent>/.nexo-cache-<update id> (journaled first) and a
 * new empty one is made with the same mode. undo removes the new one and
 * puts the old one back (also in a fresh process, also twice); commit
 * deletes the old one. A missing cache folder: nothing to do.
 *
 * Ownership: running as root (euid 0) on a site whose root belongs to
 * another user (e.g. www-data), the new folder gets the old folder's
 * uid and gid, so that PHP can still write its cache; otherwise it is
 * left as mkdir makes it (the running user's).
 *
 * The site's owner may change anything in the site while we work, so
 * every operation goes from the site root's descriptor: the folders above
 * the cache folder are opened with O_NOFOLLOW (a link there is refused,
 * naming it), renames are renameat in that folder, owner and mode are set
 * on the new folder's descriptor after fstat shows it is the one we made,
 * and trees are removed by descriptor (nx_rmtree_at: no link followed).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/step.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsat.h"
#include "util.h"

static const struct nexo_setting settings[] = {
    { "dir", "var/cache", 0, "the cache folder, relative to the site root" },
    { NULL, NULL, 0, NULL },
};

/* A plain relative path: no leading '/', no '.', '..' or empty part. */
static int plain(const char *rel)
{
    if (!rel || !*rel || rel[0] == '/')
        return 0;
    for (const char *p = rel;;) {
        size_t len = strcspn(p, "/");
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (p[len] == '\0')
            return 1;
        p += len + 1;
    }
}

static int c_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = h->setting(c, "dir");
    if (!plain(dir))
        return h->fail(c, NEXO_EINVAL, "dir = %s: not a plain path below the site root",
                       dir ? dir : "");
    if (!h->info(c, "root"))
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    return 0;
}

static int c_plan(const struct nexo_host *h, nexo_ctx *c)
{
    h->log(c, NEXO_LOG_INFO, "would empty %s/%s", h->info(c, "root"), h->setting(c, "dir"));
    return 0;
}

/* The folder above the cache folder, opened from the site root one
 * component at a time, never through a symbolic link (the site's owner
 * may put one anywhere in the site). 1: it does not exist. */
static int open_parent(const struct nexo_host *h, nexo_ctx *c, const char *rel, int *rootfd,
                       int *pfd)
{
    const char *root = h->info(c, "root");
    nx_err e;
    *pfd = -1;
    *rootfd = nx_open_dir_path(root, &e);
    if (*rootfd < 0)
        return h->fail(c, NEXO_EIO, "site root: %s", e.msg);
    char *up = nx_dirname(rel);
    *pfd = nx_open_below(*rootfd, up, root, &e);
    free(up);
    if (*pfd >= 0)
        return 0;
    if (errno == ENOENT)
        return 1;
    close(*rootfd);
    *rootfd = -1;
    return h->fail(c, NEXO_EIO, "%s", e.msg);
}

static void close_both(int rootfd, int pfd)
{
    if (pfd >= 0)
        close(pfd);
    if (rootfd >= 0)
        close(rootfd);
}

/* The new, empty folder: made, then opened without following a link and
 * checked to be the folder we made; owner (as root on a site owned by
 * another user: the old folder's) and mode set on that descriptor. */
static int recreate(const struct nexo_host *h, nexo_ctx *c, int rootfd, int pfd,
                    const char *name, const char *dir, const struct stat *old)
{
    if (mkdirat(pfd, name, 0700) != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot make it again: %s", dir, strerror(errno));
    int fd = nx_openat_dir(pfd, name, NULL);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: cannot open the new folder: %s", dir, strerror(errno));
    struct stat st, rst;
    int rc = 0;
    if (fstat(fd, &st) != 0 || fstat(rootfd, &rst) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: %s", dir, strerror(errno));
    else if (st.st_uid != geteuid())
        rc = h->fail(c, NEXO_EIO, "%s: refused: replaced by uid %u's folder right after it "
                     "was made", dir, (unsigned)st.st_uid);
    else if (geteuid() == 0 && rst.st_uid != 0 && fchown(fd, old->st_uid, old->st_gid) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot give it to uid %u gid %u: %s", dir,
                     (unsigned)old->st_uid, (unsigned)old->st_gid, strerror(errno));
    else if (fchmod(fd, old->st_mode & 07777) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot make it again: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static int aside_and_recreate(const struct nexo_host *h, nexo_ctx *c, int rootfd, int pfd,
                              const char *rel, const char *dir, const struct stat *st)
{
    const char *name = nx_basename(rel);
    char *asname = nx_xasprintf(".nexo-cache-%s", h->info(c, "update_id"));
    char *parent = nx_dirname(dir);
    char *aside = nx_path_join(parent, asname);
    char mode[16];
    snprintf(mode, sizeof mode, "%o", (unsigned)(st->st_mode & 07777));
    int rc = h->state_set(c, "mode", mode);
    if (!rc)
        rc = h->state_set(c, "dir", dir);
    if (!rc)
        rc = h->state_set(c, "rel", rel);
    if (!rc)
        rc = h->state_set(c, "aside", aside);
    if (!rc && renameat(pfd, name, pfd, asname) != 0)
        rc = h->fail(c, NEXO_EIO, "cannot move %s aside: %s", dir, strerror(errno));
    if (!rc)
        rc = recreate(h, c, rootfd, pfd, name, dir, st);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "emptied %s", dir);
    free(aside);
    free(parent);
    free(asname);
    return rc;
}

static int c_run(const struct nexo_host *h, nexo_ctx *c)
{
    const char *rel = h->setting(c, "dir");
    char *dir = nx_path_join(h->info(c, "root"), rel);
    int rootfd, pfd;
    int rc = open_parent(h, c, rel, &rootfd, &pfd);
    struct stat st;
    if (rc == 1 || (rc == 0 && fstatat(pfd, nx_basename(rel), &st, AT_SYMLINK_NOFOLLOW) != 0 &&
                    errno == ENOENT)) {
        h->log(c, NEXO_LOG_INFO, "%s does not exist: nothing to clear", dir);
        rc = 0;
    } else if (rc == 0 && fstatat(pfd, nx_basename(rel), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        rc = h->fail(c, NEXO_EIO, "%s: %s", dir, strerror(errno));
    } else if (rc == 0 && S_ISLNK(st.st_mode)) {
        rc = h->fail(c, NEXO_EINVAL, "%s: refused: a symbolic link, not a folder", dir);
    } else if (rc == 0 && !S_ISDIR(st.st_mode)) {
        rc = h->fail(c, NEXO_EINVAL, "%s is not a folder", dir);
    } else if (rc == 0) {
        rc = aside_and_recreate(h, c, rootfd, pfd, rel, dir, &st);
    }
    close_both(rootfd, pfd);
    free(dir);
    return rc;
}

/* The cache folder relative to the root, as run journaled it. */
static const char *journaled_rel(const struct nexo_host *h, nexo_ctx *c)
{
    const char *rel = h->state_get(c, "rel");
    return rel ? rel : h->setting(c, "dir");
}

static int c_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = h->state_get(c, "dir");
    const char *aside = h->state_get(c, "aside");
    const char *rel = journaled_rel(h, c);
    if (!dir || !aside || !rel)
        return 0; /* never moved */
    int rootfd, pfd;
    int rc = open_parent(h, c, rel, &rootfd, &pfd);
    if (rc) {
        close_both(rootfd, pfd);
        return rc == 1 ? 0 : rc;
    }
    const char *asname = nx_basename(aside), *name = nx_basename(rel);
    struct stat st;
    nx_err e;
    if (fstatat(pfd, asname, &st, AT_SYMLINK_NOFOLLOW) != 0)
        rc = 0; /* never moved, or already back */
    else if (nx_rmtree_at(pfd, name, dir, &e) != 0)
        rc = h->fail(c, NEXO_EIO, "%s", e.msg);
    else if (renameat(pfd, asname, pfd, name) != 0)
        rc = h->fail(c, NEXO_EIO, "cannot put %s back: %s", dir, strerror(errno));
    else
        h->log(c, NEXO_LOG_INFO, "put the old %s back", dir);
    close_both(rootfd, pfd);
    return rc;
}

static int c_commit(const struct nexo_host *h, nexo_ctx *c)
{
    const char *aside = h->state_get(c, "aside");
    const char *rel = journaled_rel(h, c);
    if (!aside || !rel)
        return 0;
    int rootfd, pfd;
    int rc = open_parent(h, c, rel, &rootfd, &pfd);
    nx_err e;
    if (rc == 0 && nx_rmtree_at(pfd, nx_basename(aside), aside, &e) != 0)
        rc = h->fail(c, NEXO_EIO, "%s", e.msg);
    close_both(rootfd, pfd);
    return rc == 1 ? 0 : rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "cache_clear",
    .version = "1.0.0",
    .summary = "empty the site's cache folder (kept aside until the update is final)",
    .settings = settings,
    .validate = c_validate,
    .plan = c_plan,
    .run = c_run,
    .undo = c_undo,
    .commit = c_commit,
};
