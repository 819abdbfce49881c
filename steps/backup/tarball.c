/* The files part of a backup: the site's code — the managed paths, .env,
 * and every other top-level path of the site root that is not preserved
 * (a migration's <cleanup> may delete such paths, e.g. modules/deprecated,
 * and a rollback puts them back) — as a tar (pax) archive compressed with
 * zstd, through libarchive. Preserved paths ([site] preserve: var,
 * modules/plugins; .env excepted) are the site's data, never part of the
 * files backup; MAINTENANCE and nexo-update's own .nexo-* folders are
 * left out. Names are relative to the site root; modes, owners and mtimes
 * are kept, symlinks are stored as symlinks, sockets and fifos are
 * skipped with a warning.
 *
 * A plugin's update (fact component_dir, e.g. modules/plugins/forum)
 * changes only that folder: it alone is archived, nothing preserved in
 * it. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "backup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

struct tb {
    const struct nexo_host *h;
    nexo_ctx *c;
    struct bk_list skip;  /* preserved paths (not .env) */
    const char *root;
    size_t rootlen;
    struct archive *out;
    uint64_t done;
    uint64_t total;
    uint64_t entries;
};

void bk_list_free(struct bk_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void list_add(struct bk_list *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && strncmp(l->v[i], s, len) == 0)
            return;
    l->v = nx_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = nx_xstrndup(s, len);
}

static void split_into(struct bk_list *out, const char *text)
{
    for (const char *p = text; *p;) {
        size_t skip = strspn(p, " \t,");
        p += skip;
        size_t len = strcspn(p, " \t,");
        while (len > 1 && p[len - 1] == '/')
            len--;
        if (len)
            list_add(out, p, len);
        p += len;
    }
}

static int in_list(const struct bk_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

/* The folder a plugin occupies; NULL for core. */
static const char *component_dir(const struct nexo_host *h, nexo_ctx *c)
{
    const char *d = h->info(c, "component_dir");
    return d && *d ? d : NULL;
}

/* Preserved paths, .env excepted (it is backed up); none for a plugin. */
static void preserved(const struct nexo_host *h, nexo_ctx *c, struct bk_list *out)
{
    const char *p = component_dir(h, c) ? "" : h->config(c, "site", "preserve");
    struct bk_list all = { 0 };
    split_into(&all, p ? p : ".env var modules/plugins");
    out->v = NULL;
    out->n = 0;
    for (size_t i = 0; i < all.n; i++)
        if (strcmp(all.v[i], ".env") != 0)
            list_add(out, all.v[i], strlen(all.v[i]));
    bk_list_free(&all);
}

void bk_sources(const struct nexo_host *h, nexo_ctx *c, const char *root, struct bk_list *out)
{
    const char *m = h->config(c, "site", "managed");
    out->v = NULL;
    out->n = 0;
    if (component_dir(h, c)) {
        split_into(out, component_dir(h, c));
        return;
    }
    split_into(out, m ? m : "core public_html resources database");
    struct bk_list skip;
    preserved(h, c, &skip);
    char *env = nx_path_join(root, ".env");
    struct stat st;
    if (lstat(env, &st) == 0)
        list_add(out, ".env", 4);
    free(env);
    /* the rest of the site's top level, in a stable order */
    struct dirent **names = NULL;
    int n = scandir(root, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *d = names[i]->d_name;
        if (strcmp(d, ".") != 0 && strcmp(d, "..") != 0 && strcmp(d, "MAINTENANCE") != 0 &&
            strncmp(d, ".nexo-", 6) != 0 && !in_list(&skip, d))
            list_add(out, d, strlen(d));
        free(names[i]);
    }
    free(names);
    bk_list_free(&skip);
}

uint64_t bk_tree_size(const char *root, const char *rel)
{
    char *path = nx_path_join(root, rel);
    struct stat st;
    uint64_t sum = 0;
    if (lstat(path, &st) != 0) {
        free(path);
        return 0;
    }
    if (S_ISREG(st.st_mode))
        sum = (uint64_t)st.st_size;
    DIR *d = S_ISDIR(st.st_mode) ? opendir(path) : NULL;
    struct dirent *de = d ? readdir(d) : NULL;
    for (; de; de = readdir(d)) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *sub = nx_path_join(rel, de->d_name);
        sum += bk_tree_size(root, sub);
        free(sub);
    }
    if (d)
        closedir(d);
    free(path);
    return sum;
}

static const char *aerr(struct archive *a)
{
    const char *s = archive_error_string(a);
    return s ? s : "unknown libarchive error";
}

/* Copy the data of the current entry of the disk reader into the archive. */
static int copy_data(struct tb *t, struct archive *disk, const char *path)
{
    const void *buf;
    size_t len;
    la_int64_t off;
    for (;;) {
        int r = archive_read_data_block(disk, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK)
            return t->h->fail(t->c, NEXO_EIO, "%s: cannot read: %s", path, aerr(disk));
        if (archive_write_data(t->out, buf, len) < 0)
            return t->h->fail(t->c, NEXO_EIO, "cannot write the archive: %s", aerr(t->out));
        t->done += len;
        t->h->progress(t->c, "backup", t->done, t->total > t->done ? t->total : t->done);
    }
}

/* Make the entry's name relative to the site root; 0 when it is not below. */
static int relative_name(struct tb *t, struct archive_entry *e)
{
    const char *p = archive_entry_pathname(e);
    if (!p || strncmp(p, t->root, t->rootlen) != 0 || p[t->rootlen] != '/')
        return 0;
    char *rel = nx_xstrdup(p + t->rootlen + 1);
    archive_entry_set_pathname(e, rel);
    free(rel);
    return 1;
}

static int one_entry(struct tb *t, struct archive *disk, struct archive_entry *e)
{
    char *full = nx_xstrdup(archive_entry_pathname(e));
    int rc = 0;
    mode_t type = archive_entry_filetype(e);
    const char *rel = full + t->rootlen + 1;
    if (strncmp(full, t->root, t->rootlen) == 0 && full[t->rootlen] == '/' &&
        in_list(&t->skip, rel)) {
        /* a preserved path below a backed-up one (modules/plugins) */
        free(full);
        return 0;
    }
    if (archive_read_disk_can_descend(disk))
        archive_read_disk_descend(disk);
    if (type == AE_IFSOCK || type == AE_IFIFO) {
        t->h->log(t->c, NEXO_LOG_WARN, "%s: %s skipped", full,
                  type == AE_IFSOCK ? "socket" : "fifo");
    } else if (!relative_name(t, e)) {
        rc = t->h->fail(t->c, NEXO_EIO, "%s: not below the site root %s", full, t->root);
    } else if (archive_write_header(t->out, e) < ARCHIVE_WARN) {
        rc = t->h->fail(t->c, NEXO_EIO, "%s: cannot archive: %s", full, aerr(t->out));
    } else {
        t->entries++;
        if (type == AE_IFREG && archive_entry_size(e) > 0)
            rc = copy_data(t, disk, full);
    }
    free(full);
    return rc;
}

static int add_tree(struct tb *t, const char *rel)
{
    char *path = nx_path_join(t->root, rel);
    struct stat st;
    if (lstat(path, &st) != 0) {
        t->h->log(t->c, NEXO_LOG_DEBUG, "%s: not there, nothing to back up", path);
        free(path);
        return 0;
    }
    struct archive *disk = archive_read_disk_new();
    archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_standard_lookup(disk);
    int rc = 0;
    if (archive_read_disk_open(disk, path) != ARCHIVE_OK)
        rc = t->h->fail(t->c, NEXO_EIO, "%s: cannot open: %s", path, aerr(disk));
    while (!rc) {
        struct archive_entry *e = archive_entry_new();
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF) {
            archive_entry_free(e);
            break;
        }
        if (r < ARCHIVE_WARN)
            rc = t->h->fail(t->c, NEXO_EIO, "%s: cannot read: %s", path, aerr(disk));
        else
            rc = one_entry(t, disk, e);
        archive_entry_free(e);
    }
    archive_read_close(disk);
    archive_read_free(disk);
    free(path);
    return rc;
}

static struct archive *open_writer(const struct nexo_host *h, nexo_ctx *c, int fd,
                                   const char *path)
{
    struct archive *a = archive_write_new();
    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        h->fail(c, NEXO_EIO, "%s: cannot start the archive: %s", path, aerr(a));
        archive_write_free(a);
        return NULL;
    }
    return a;
}

int bk_write_tarball(const struct nexo_host *h, nexo_ctx *c, const char *root,
                     const struct bk_list *src, const char *path, uint64_t total,
                     uint64_t *entries)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return h->fail(c, NEXO_EIO, "%s: cannot create: %s", path, strerror(errno));
    struct tb t = { .h = h, .c = c, .root = root, .rootlen = strlen(root), .total = total };
    while (t.rootlen > 1 && root[t.rootlen - 1] == '/')
        t.rootlen--;
    preserved(h, c, &t.skip);
    t.out = open_writer(h, c, fd, path);
    int rc = t.out ? 0 : NEXO_EIO;
    for (size_t i = 0; !rc && i < src->n; i++)
        rc = add_tree(&t, src->v[i]);
    if (t.out && archive_write_close(t.out) != ARCHIVE_OK && !rc)
        rc = h->fail(c, NEXO_EIO, "%s: cannot finish the archive: %s", path, aerr(t.out));
    if (t.out)
        archive_write_free(t.out);
    if (!rc && fsync(fd) != 0)
        rc = h->fail(c, NEXO_EIO, "%s: fsync: %s", path, strerror(errno));
    close(fd);
    h->progress(c, "backup", t.done, t.done);
    bk_list_free(&t.skip);
    *entries = t.entries;
    return rc;
}
