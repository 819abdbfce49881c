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
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <nexo/step.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* As root on a site owned by another user: the new folder as the old one. */
static int same_owner(const struct nexo_host *h, nexo_ctx *c, const char *dir,
                      const struct stat *st)
{
    struct stat rst;
    if (geteuid() != 0 || stat(h->info(c, "root"), &rst) != 0 || rst.st_uid == 0)
        return 0;
    if (lchown(dir, st->st_uid, st->st_gid) != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot give it to uid %u gid %u: %s", dir,
                       (unsigned)st->st_uid, (unsigned)st->st_gid, strerror(errno));
    return 0;
}

static int aside_and_recreate(const struct nexo_host *h, nexo_ctx *c, const char *dir,
                              const struct stat *st)
{
    char *parent = nx_dirname(dir);
    char *aside = nx_xasprintf("%s/.nexo-cache-%s", parent, h->info(c, "update_id"));
    char mode[16];
    snprintf(mode, sizeof mode, "%o", (unsigned)(st->st_mode & 07777));
    int rc = h->state_set(c, "mode", mode);
    if (!rc)
        rc = h->state_set(c, "dir", dir);
    if (!rc)
        rc = h->state_set(c, "aside", aside);
    if (!rc && rename(dir, aside) != 0)
        rc = h->fail(c, NEXO_EIO, "cannot move %s aside: %s", dir, strerror(errno));
    if (!rc && mkdir(dir, 0700) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot make it again: %s", dir, strerror(errno));
    if (!rc)
        rc = same_owner(h, c, dir, st);
    if (!rc && chmod(dir, st->st_mode & 07777) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot make it again: %s", dir, strerror(errno));
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "emptied %s", dir);
    free(aside);
    free(parent);
    return rc;
}

static int c_run(const struct nexo_host *h, nexo_ctx *c)
{
    char *dir = nx_path_join(h->info(c, "root"), h->setting(c, "dir"));
    struct stat st;
    int rc = 0;
    if (lstat(dir, &st) != 0 && errno == ENOENT)
        h->log(c, NEXO_LOG_INFO, "%s does not exist: nothing to clear", dir);
    else if (lstat(dir, &st) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: %s", dir, strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        rc = h->fail(c, NEXO_EINVAL, "%s is not a folder", dir);
    else
        rc = aside_and_recreate(h, c, dir, &st);
    free(dir);
    return rc;
}

static int c_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *dir = h->state_get(c, "dir");
    const char *aside = h->state_get(c, "aside");
    struct stat st;
    if (!dir || !aside || lstat(aside, &st) != 0)
        return 0; /* never moved, or already back */
    nx_err e;
    if (nx_rmtree(dir, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    if (rename(aside, dir) != 0)
        return h->fail(c, NEXO_EIO, "cannot put %s back: %s", dir, strerror(errno));
    h->log(c, NEXO_LOG_INFO, "put the old %s back", dir);
    return 0;
}

static int c_commit(const struct nexo_host *h, nexo_ctx *c)
{
    const char *aside = h->state_get(c, "aside");
    nx_err e;
    if (aside && nx_rmtree(aside, &e) != 0)
        return h->fail(c, NEXO_EIO, "%s", e.msg);
    return 0;
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
