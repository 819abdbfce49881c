/*
 * extract — unpacks the verified package into a private staging folder
 * on the site's file system (default ROOT/.nexo-staging-<update id>, mode
 * 0700), so that the replace step can later rename its contents into
 * place. It does not touch the live site (NEXO_STEP_PRECHECK).
 *
 * nexo-release.json is found in a first pass over the package (in a zip
 * it need not come first) and every entry is then checked against it
 * before it is written (contracts §6): a relative path without '..' or
 * empty components, listed in the manifest with the same type, not
 * bigger than listed, a symlink pointing where the manifest says; no
 * hardlinks, devices, fifos, sockets or setuid/setgid/sticky bits; never
 * more bytes than the manifest's total_size. Files are created with
 * O_EXCL|O_NOFOLLOW through folder descriptors opened with O_NOFOLLOW,
 * so nothing is ever written through a symlink, and hashed as they are
 * written. Every manifest entry must have been unpacked.
 *
 * On any refusal the staging folder is removed before the error returns.
 * The staging path is journaled before the folder is made; undo (also in
 * a fresh process, also twice) and commit remove it.
 *
 * Publishes shared "staging_dir" and "manifest_file" (the manifest as
 * WORK_DIR/nexo-release.json, the copy the verify step also writes).
 *
 * record_manifest (default core/.nexo-release.json; empty: off): after
 * unpacking, the verified manifest is also written into the payload at
 * that path (0644), so it travels with the files it describes: the
 * replace step swaps it in with its folder, backups and rollbacks keep it
 * with them, and `nexo-update verify` checks the site against it. It is
 * written only when its folder is part of the payload (a package without
 * core/ records nothing there); a package that has a file of its own at
 * that path is refused.
 *
 * A plugin (fact component_dir, e.g. modules/plugins/forum): its package
 * holds plugin-relative paths, so the payload goes into
 * STAGING/<component_dir> (unless `subdir` says otherwise), the staging
 * folder then mirroring the site; the manifest is recorded by default as
 * <component_dir>/.nexo-release.json, i.e. .nexo-release.json in the
 * plugin's own folder.
 *
 * Ownership and the privilege boundary (contracts §9, docs/security.md):
 * the staging folder (0755) and everything in it belong to the running
 * user (root) while staged, so the site's owner (www-data), who owns the
 * site root the folder lies in, can read the release (a custom script
 * run as that user may use it) but change nothing of it. The folder is
 * published as shared staging_dir with staging_dir.private = its dev:ino
 * (core/pdir.h): the steps after this one reach it only through a
 * descriptor the host checked, so a staging folder renamed away and
 * replaced is refused, never read. The replace step gives what it puts in
 * place to the site's owner. Undo and commit remove the folder only while
 * it is still the one this update made.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "offer.h"
#include "trust.h"
#include "util.h"

#define RATIO_MAX 1000000ull
#define RECORD_DEFAULT "core/.nexo-release.json"
#define RECORD_PLUGIN ".nexo-release.json" /* in the plugin's folder */

static const struct nexo_setting settings[] = {
    { "staging", "", 0, "folder to unpack into, absolute or below the site root (default "
                        "ROOT/.nexo-staging-<update id>); on the site's file system" },
    { "max_ratio", "100", 0, "refuse a package whose stream unpacks to more than this many "
                             "times its size (0: off); the manifest's total_size always holds" },
    { "subdir", "", 0, "folder below the staging folder that receives the payload (default: "
                       "the staging folder itself; for a plugin its folder, component_dir)" },
    { "record_manifest", RECORD_DEFAULT, 0,
      "path below the payload where the verified manifest is recorded for "
      "`nexo-update verify` (0644; empty: not recorded; for a plugin the default is "
      "<component_dir>/.nexo-release.json)" },
    { NULL, NULL, 0, NULL },
};

static const char *setting(const struct nexo_host *h, nexo_ctx *c, const char *key)
{
    const char *v = h->setting(c, key);
    return v && *v ? v : NULL;
}

/* The folder below the root the component occupies: NULL for core (the
 * root itself), "modules/plugins/SLUG" for a plugin. */
static const char *component_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *d = h->info(c, "component_dir");
    return d && *d ? d : NULL;
}

/* Where the payload goes below the staging folder: `subdir`, else a
 * plugin's component_dir, else NULL (the staging folder itself). */
static const char *payload_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *sub = setting(h, c, "subdir");
    return sub ? sub : component_dir(h, c);
}

/* record_manifest below the payload: for a plugin the default names the
 * plugin's own folder (the payload), so it becomes .nexo-release.json. */
static const char *record_path(const struct nexo_host *h, nexo_ctx *c)
{
    const char *rec = setting(h, c, "record_manifest");
    if (rec && component_dir(h, c) && strcmp(rec, RECORD_DEFAULT) == 0)
        return RECORD_PLUGIN;
    return rec;
}

static const char *package_of(const struct nexo_host *h, nexo_ctx *c)
{
    const char *p = h->shared_get(c, NX_SHARED_PACKAGE);
    return p && *p ? p : h->info(c, NX_OFFER_PACKAGE);
}

/* The staging folder (malloc'ed), NULL with the message set. */
static char *staging_path(const struct nexo_host *h, nexo_ctx *c)
{
    const char *root = h->info(c, "root");
    const char *id = h->info(c, "update_id");
    const char *s = setting(h, c, "staging");
    if (!root) {
        h->fail(c, NEXO_EINVAL, "[site] root is not set");
        return NULL;
    }
    if (s) {
        char *p = s[0] == '/' ? nx_xstrdup(s) : nx_path_join(root, s);
        for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--)
            p[n - 1] = '\0';
        return p;
    }
    if (!id || !*id || strchr(id, '/')) {
        h->fail(c, NEXO_EINVAL, "the update id is unknown: cannot name the staging folder");
        return NULL;
    }
    char *name = nx_xasprintf(".nexo-staging-%s", id);
    char *p = nx_path_join(root, name);
    free(name);
    return p;
}

/* ---- validate and plan -------------------------------------------------- */

static int check_staging_setting(const struct nexo_host *h, nexo_ctx *c)
{
    const char *s = setting(h, c, "staging");
    if (!s)
        return 0;
    char *p = nx_xstrdup(s[0] == '/' ? s + 1 : s);
    for (size_t n = strlen(p); n > 0 && p[n - 1] == '/'; n--)
        p[n - 1] = '\0';
    int ok = nx_manifest_path_ok(p);
    free(p);
    if (!ok)
        return h->fail(c, NEXO_EINVAL, "staging = %s: not a plain path (no '.', '..' or empty "
                       "components, no control characters; not / itself)", s);
    return 0;
}

static int parse_ratio(const char *s, uint64_t *out)
{
    if (!s) {
        *out = 0;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end || errno || v > RATIO_MAX)
        return -1;
    *out = v;
    return 0;
}

static int x_validate(const struct nexo_host *h, nexo_ctx *c)
{
    const char *root = h->info(c, "root");
    struct stat st;
    if (!root)
        return h->fail(c, NEXO_EINVAL, "[site] root is not set");
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return h->fail(c, NEXO_EINVAL, "site root %s is not a folder", root);
    int rc = check_staging_setting(h, c);
    if (rc)
        return rc;
    uint64_t ratio;
    const char *r = setting(h, c, "max_ratio");
    if (parse_ratio(r, &ratio) != 0)
        return h->fail(c, NEXO_EINVAL, "max_ratio = %s: expected a whole number from 0 (off) "
                       "to %llu", r, RATIO_MAX);
    const char *sub = setting(h, c, "subdir");
    if (sub && !nx_manifest_path_ok(sub))
        return h->fail(c, NEXO_EINVAL, "subdir = %s: expected a relative path without '.', "
                       "'..' or empty components", sub);
    const char *dir = component_dir(h, c);
    if (dir && !nx_manifest_path_ok(dir))
        return h->fail(c, NEXO_EINVAL, "component_dir %s: not a plain relative path", dir);
    const char *rec = setting(h, c, "record_manifest");
    if (rec && !nx_manifest_path_ok(rec))
        return h->fail(c, NEXO_EINVAL, "record_manifest = %s: expected a relative path "
                       "without '.', '..' or empty components", rec);
    return 0;
}

static int x_plan(const struct nexo_host *h, nexo_ctx *c)
{
    char *staging = staging_path(h, c);
    if (!staging)
        return NEXO_EINVAL;
    const char *pkg = package_of(h, c);
    const char *sub = payload_dir(h, c);
    if (pkg)
        h->log(c, NEXO_LOG_INFO, "would extract %s into %s%s%s, every entry checked against "
               "its %s", pkg, staging, sub ? "/" : "", sub ? sub : "", NX_MANIFEST_NAME);
    else
        h->log(c, NEXO_LOG_INFO, "would extract the package the download step fetches into "
               "%s%s%s (which package depends on the download)", staging, sub ? "/" : "",
               sub ? sub : "");
    const char *rec = record_path(h, c);
    const char *dir = component_dir(h, c);
    if (rec && dir && !setting(h, c, "subdir"))
        h->log(c, NEXO_LOG_INFO, "would record the verified manifest as %s/%s (0644) in the "
               "payload", dir, rec);
    else if (rec)
        h->log(c, NEXO_LOG_INFO, "would record the verified manifest as %s (0644) in the "
               "payload", rec);
    free(staging);
    return 0;
}

/* ---- removing what run made ---------------------------------------------- */

/* Is the folder at `path` still the one this update made (staging_id),
 * or, before its id was journaled, at least ours? Whatever the site's
 * owner put in its place is not removed (as root, by descriptor or not,
 * nothing of theirs is ours to delete). */
static int still_ours(const struct nexo_host *h, nexo_ctx *c, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && st.st_uid == geteuid();
    close(fd);
    const char *want = h->state_get(c, "staging_id");
    char have[64];
    if (ok && want) {
        nx_pdir_id(&st, have, sizeof have);
        ok = strcmp(have, want) == 0;
    }
    if (!ok)
        h->log(c, NEXO_LOG_WARN, "%s is not the staging folder this update made (replaced by "
               "someone else?): left alone", path);
    return ok;
}

/* Remove the journaled staging folder and manifest copy. */
static int discard(const struct nexo_host *h, nexo_ctx *c)
{
    int rc = 0;
    const char *staging = h->state_get(c, "staging");
    if (staging && !still_ours(h, c, staging))
        staging = NULL;
    if (staging && xt_rmtree(staging) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: cannot remove the staging folder: %s", staging,
                     strerror(errno));
    const char *copy = h->state_get(c, "manifest_copy");
    if (copy && unlink(copy) != 0 && errno != ENOENT && !rc)
        rc = h->fail(c, NEXO_EIO, "%s: cannot remove: %s", copy, strerror(errno));
    return rc;
}

/* After a refusal: remove it all, keeping the refusal's message. */
static void discard_quietly(const struct nexo_host *h, nexo_ctx *c)
{
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", h->errmsg(c));
    if (discard(h, c) != 0)
        h->log(c, NEXO_LOG_WARN, "%s", h->errmsg(c));
    h->fail(c, NEXO_EIO, "%s", msg);
}

static int x_undo(const struct nexo_host *h, nexo_ctx *c)
{
    const char *staging = h->state_get(c, "staging");
    int there = staging && access(staging, F_OK) == 0;
    int rc = discard(h, c);
    if (!rc && there)
        h->log(c, NEXO_LOG_INFO, "removed the staging folder %s", staging);
    return rc;
}

static int x_commit(const struct nexo_host *h, nexo_ctx *c)
{
    const char *staging = h->state_get(c, "staging");
    if (!staging || access(staging, F_OK) != 0 || !still_ours(h, c, staging))
        return 0;
    if (xt_rmtree(staging) != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot remove the staging folder: %s", staging,
                       strerror(errno));
    h->log(c, NEXO_LOG_DEBUG, "removed what was left in %s", staging);
    return 0;
}

/* ---- run ------------------------------------------------------------------ */

struct paths {
    char *pkg;
    char *staging;
    char *copy; /* WORK_DIR/nexo-release.json */
};

static void paths_free(struct paths *p)
{
    free(p->pkg);
    free(p->staging);
    free(p->copy);
}

static int open_package(struct xt *x)
{
    x->pkgfd = open(x->pkg, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (x->pkgfd < 0)
        return x->h->fail(x->c, errno == ENOENT ? NEXO_ENOTFOUND : NEXO_EIO, "%s: %s", x->pkg,
                          strerror(errno));
    struct stat st;
    if (fstat(x->pkgfd, &st) != 0 || !S_ISREG(st.st_mode))
        return x->h->fail(x->c, NEXO_EINVAL, "%s: not a regular file", x->pkg);
    x->pkgsize = (uint64_t)st.st_size;
    return 0;
}

/* Everything run needs, before anything is read. */
static int prepare(const struct nexo_host *h, nexo_ctx *c, struct xt *x, struct paths *p)
{
    memset(x, 0, sizeof *x);
    memset(p, 0, sizeof *p);
    x->h = h;
    x->c = c;
    x->pkgfd = -1;
    x->dfd = -1;
    const char *pkg = package_of(h, c);
    if (!pkg)
        return h->fail(c, NEXO_EINVAL, "no package to extract (the download step publishes "
                       "%s; install --package names one)", NX_SHARED_PACKAGE);
    p->pkg = nx_xstrdup(pkg);
    x->pkg = p->pkg;
    const char *work = h->info(c, "work_dir");
    if (!work)
        return h->fail(c, NEXO_EINVAL, "the update's work folder is unknown");
    p->copy = nx_path_join(work, NX_MANIFEST_NAME);
    p->staging = staging_path(h, c);
    if (!p->staging)
        return NEXO_EINVAL;
    const char *r = setting(h, c, "max_ratio");
    if (parse_ratio(r, &x->max_ratio) != 0)
        return h->fail(c, NEXO_EINVAL, "max_ratio = %s: not a whole number", r);
    x->buf = nx_xmalloc(XT_BUFSIZE);
    return open_package(x);
}

/* The manifest extract goes by must be the one the verify step checked,
 * byte for byte (shared manifest_file): what was verified is what is
 * used. Without a verify step before it, extract has only the package. */
static int same_as_verified(struct xt *x)
{
    const char *v = x->h->shared_get(x->c, NX_SHARED_MANIFEST);
    if (!v)
        return 0;
    char *text = NULL;
    size_t len = 0;
    nx_err e;
    if (nx_read_file(v, &text, &len, XT_MANIFEST_MAX + 1, &e) != 0)
        return x->h->fail(x->c, NEXO_EVERIFY, "cannot read the manifest the verify step "
                          "checked: %s", e.msg);
    int same = len == x->mlen && memcmp(text, x->mtext, len) == 0;
    free(text);
    if (!same)
        return x->h->fail(x->c, NEXO_EVERIFY, "%s: its %s is not the one the verify step "
                          "checked (%s): the package changed after it was verified; refused",
                          x->pkg, NX_MANIFEST_NAME, v);
    return 0;
}

/* The manifest must name what was offered (when the offer is known). */
static int check_offer(struct xt *x)
{
    const char *comp = x->h->info(x->c, NX_OFFER_COMPONENT);
    const char *ver = x->h->info(x->c, NX_OFFER_VERSION);
    if (comp && *comp && strcmp(comp, x->m->component) != 0)
        return x->h->fail(x->c, NEXO_EVERIFY, "%s: the package is %s, but %s was offered: "
                          "refused", x->pkg, x->m->component, comp);
    if (ver && *ver && strcmp(ver, x->m->version) != 0)
        return x->h->fail(x->c, NEXO_EVERIFY, "%s: the package is version %s, but %s was "
                          "offered: refused", x->pkg, x->m->version, ver);
    return 0;
}

static void warn_other_fs(struct xt *x, const char *staging)
{
    const char *root = x->h->info(x->c, "root");
    struct stat a, b;
    if (root && stat(root, &a) == 0 && fstat(x->dfd, &b) == 0 && a.st_dev != b.st_dev)
        x->h->log(x->c, NEXO_LOG_WARN, "%s is not on the site's file system: files cannot be "
                  "renamed into place from it", staging);
}

/* The staging folder: journaled before it is made; one that is already
 * there is refused unless this update's journal names it. */
static int make_staging(struct xt *x, const char *path)
{
    const struct nexo_host *h = x->h;
    nexo_ctx *c = x->c;
    struct stat st;
    if (lstat(path, &st) == 0) {
        const char *mine = h->state_get(c, "staging");
        if (!mine || strcmp(mine, path) != 0)
            return h->fail(c, NEXO_EINVAL, "%s already exists and is not this update's staging "
                           "folder: remove it or set staging = to another folder", path);
        if (xt_rmtree(path) != 0)
            return h->fail(c, NEXO_EIO, "%s: cannot remove: %s", path, strerror(errno));
    } else if (errno != ENOENT) {
        return h->fail(c, NEXO_EIO, "%s: %s", path, strerror(errno));
    }
    int rc = h->state_set(c, "staging", path);
    if (rc)
        return rc;
    if (mkdir(path, 0755) != 0) {
        int err = errno;
        h->state_set(c, "staging", NULL); /* not ours after all */
        return h->fail(c, NEXO_EIO, "%s: cannot make the staging folder: %s", path,
                       strerror(err));
    }
    /* From here on the folder is known by its descriptor and identity: the
     * site's owner may rename the name away, never what is behind it. */
    x->dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (x->dfd < 0 || fchmod(x->dfd, 0755) != 0 || fstat(x->dfd, &st) != 0)
        return h->fail(c, NEXO_EIO, "%s: cannot open the staging folder: %s", path,
                       strerror(errno));
    if (st.st_uid != geteuid())
        return h->fail(c, NEXO_EVERIFY, "%s: refused: the staging folder just made belongs to "
                       "uid %u (replaced by someone else)", path, (unsigned)st.st_uid);
    nx_pdir_id(&st, x->staging_id, sizeof x->staging_id);
    rc = h->state_set(c, "staging_id", x->staging_id);
    if (rc)
        return rc;
    warn_other_fs(x, path);
    return 0;
}

static int enter_subdir(struct xt *x)
{
    const char *sub = payload_dir(x->h, x->c);
    if (!sub)
        return 0;
    int fd = xt_opendir(x->dfd, sub, strlen(sub), 1);
    if (fd < 0)
        return x->h->fail(x->c, NEXO_EIO, "%s%s: cannot make it in the staging folder: %s",
                          setting(x->h, x->c, "subdir") ? "subdir = " : "", sub,
                          strerror(errno));
    close(x->dfd);
    x->dfd = fd;
    return 0;
}

/* Is the file at path exactly these bytes? */
static int same_content(const char *path, const char *text, size_t len)
{
    char *old = NULL;
    size_t olen = 0;
    nx_err e;
    if (nx_read_file(path, &old, &olen, XT_MANIFEST_MAX + 1, &e) != 0)
        return 0;
    int same = olen == len && memcmp(old, text, len) == 0;
    free(old);
    return same;
}

/* WORK_DIR/nexo-release.json: usually the verify step's copy already;
 * written (and journaled as ours) only when it is not there. */
static int save_manifest(struct xt *x, const char *copy)
{
    if (same_content(copy, x->mtext, x->mlen))
        return 0;
    int rc = x->h->state_set(x->c, "manifest_copy", copy);
    nx_err e;
    if (!rc && nx_write_file_atomic(copy, x->mtext, x->mlen, 0600, &e) != 0)
        rc = x->h->fail(x->c, NEXO_EIO, "%s", e.msg);
    return rc;
}

/* Write all of text to fd. */
static int write_all(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        text += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Root's own copy of the manifest it records in the site (core/manifest.h:
 * STATE/manifests/<component>/<sha256>.json), which verify holds the
 * site's copy to. Kept when the update is undone: it is a verified
 * release's manifest all the same. */
static int keep_copy(struct xt *x)
{
    const struct nexo_host *h = x->h;
    nexo_ctx *c = x->c;
    const char *state = h->info(c, "state_dir");
    if (!state) { /* the host always has one ([paths] state) */
        h->log(c, NEXO_LOG_WARN, "no state folder: root keeps no copy of the manifest");
        return 0;
    }
    char hex[NX_SHA256_HEX];
    nx_sha256 *sh = nx_sha256_new();
    nx_sha256_update(sh, x->mtext, x->mlen);
    nx_sha256_final(sh, hex);
    char *dir = nx_manifest_copy_dir(state, x->m->component);
    char *path = nx_manifest_copy_path(state, x->m->component, hex);
    nx_err e;
    int rc = 0;
    if (!same_content(path, x->mtext, x->mlen) &&
        (nx_mkdirs(dir, 0700, &e) != 0 ||
         nx_write_file_atomic(path, x->mtext, x->mlen, 0600, &e) != 0))
        rc = h->fail(c, NEXO_EIO, "root's copy of the manifest: %s", e.msg);
    if (!rc)
        h->log(c, NEXO_LOG_DEBUG, "kept root's copy of the manifest as %s", path);
    free(dir);
    free(path);
    return rc;
}

/* The verified manifest into the payload at record_manifest (0644). */
static int record_manifest(struct xt *x)
{
    const struct nexo_host *h = x->h;
    nexo_ctx *c = x->c;
    const char *rec = record_path(h, c);
    if (!rec)
        return 0;
    if (nx_manifest_find(x->m, rec))
        return h->fail(c, NEXO_EVERIFY, "%s: the package has an entry %s of its own, where "
                       "record_manifest = %s records the manifest: refused (set "
                       "record_manifest to another path)", x->pkg, rec, rec);
    const char *base = nx_basename(rec);
    size_t dlen = (size_t)(base - rec);
    int dfd = xt_opendir(x->dfd, rec, dlen ? dlen - 1 : 0, 0);
    if (dfd < 0 && errno == ENOENT) {
        h->log(c, NEXO_LOG_INFO, "the package has no folder for %s: manifest not recorded",
               rec);
        return 0;
    }
    if (dfd < 0)
        return h->fail(c, NEXO_EIO, "%s in the staging folder: cannot open its folder to "
                       "record the manifest: %s", rec, strerror(errno));
    int rc = 0;
    int fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || fchmod(fd, 0644) != 0 || write_all(fd, x->mtext, x->mlen) != 0 ||
        fsync(fd) != 0)
        rc = h->fail(c, NEXO_EIO, "%s in the staging folder: cannot record the manifest: %s",
                     rec, strerror(errno));
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = h->fail(c, NEXO_EIO, "%s in the staging folder: %s", rec, strerror(errno));
    close(dfd);
    if (!rc)
        h->log(c, NEXO_LOG_DEBUG, "recorded the manifest as %s", rec);
    return rc ? rc : keep_copy(x);
}

static int stage(struct xt *x, const struct paths *p)
{
    const struct nexo_host *h = x->h;
    nexo_ctx *c = x->c;
    h->log(c, NEXO_LOG_INFO, "extracting %s (%s %s: %zu entries, %llu bytes) into %s", x->pkg,
           x->m->component, x->m->version, x->m->nentries,
           (unsigned long long)x->m->total_size, p->staging);
    int rc = enter_subdir(x);
    if (!rc)
        rc = xt_unpack(x);
    if (!rc)
        rc = record_manifest(x);
    if (!rc)
        rc = save_manifest(x, p->copy);
    if (!rc)
        rc = h->checkpoint(c, "staged");
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_STAGING, p->staging);
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_STAGING NX_PDIR_SUFFIX, x->staging_id);
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_STAGING_PATH, p->staging);
    if (!rc)
        rc = h->shared_set(c, NX_SHARED_MANIFEST, p->copy);
    return rc;
}

static int x_run(const struct nexo_host *h, nexo_ctx *c)
{
    struct xt x;
    struct paths p;
    int rc = prepare(h, c, &x, &p);
    if (!rc)
        rc = xt_read_manifest(&x);
    if (!rc)
        rc = same_as_verified(&x);
    if (!rc)
        rc = check_offer(&x);
    if (!rc) {
        rc = make_staging(&x, p.staging);
        if (!rc)
            rc = stage(&x, &p);
        if (rc) {
            if (x.dfd >= 0)
                close(x.dfd);
            x.dfd = -1;
            discard_quietly(h, c);
        }
    }
    xt_free(&x);
    paths_free(&p);
    return rc;
}

NEXO_STEP_MODULE = {
    NEXO_STEP_HEADER,
    .name = "extract",
    .version = "1.0.0",
    .summary = "unpack the package into a private staging folder, every entry checked against "
               "its manifest",
    .flags = NEXO_STEP_PRECHECK,
    .settings = settings,
    .validate = x_validate,
    .plan = x_plan,
    .run = x_run,
    .undo = x_undo,
    .commit = x_commit,
};
