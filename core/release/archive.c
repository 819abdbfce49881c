/* nexo-release: writing a package with libarchive. */
#include "release.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUF (64 * 1024)

struct packer {
    struct archive *a;
    const char *out;
    time_t mtime;
    unsigned char *buf;
    nx_err *e;
};

int rel_format_parse(const char *s, enum rel_format *f)
{
    if (strcmp(s, "tar.zst") == 0)
        *f = REL_TAR_ZST;
    else if (strcmp(s, "tar.gz") == 0)
        *f = REL_TAR_GZ;
    else if (strcmp(s, "zip") == 0)
        *f = REL_ZIP;
    else
        return -1;
    return 0;
}

const char *rel_format_ext(enum rel_format f)
{
    return f == REL_TAR_GZ ? "tar.gz" : f == REL_ZIP ? "zip" : "tar.zst";
}

static int arc_err(struct packer *p, const char *what)
{
    nx_seterr(p->e, "%s: %s: %s", p->out, what, archive_error_string(p->a));
    return -1;
}

static int setup_format(struct packer *p, enum rel_format f)
{
    struct archive *a = p->a;
    int r;
    if (f == REL_ZIP) {
        r = archive_write_set_format_zip(a);
    } else {
        /* pax headers only where ustar cannot hold a name: no atime/ctime. */
        r = archive_write_set_format_pax_restricted(a);
        if (r == ARCHIVE_OK && f == REL_TAR_ZST)
            r = archive_write_add_filter_zstd(a);
        if (r == ARCHIVE_OK && f == REL_TAR_GZ)
            r = archive_write_add_filter_gzip(a);
        /* No time stamp in the gzip header: reproducible packages. */
        if (r == ARCHIVE_OK && f == REL_TAR_GZ)
            r = archive_write_set_filter_option(a, "gzip", "timestamp", NULL);
    }
    return r == ARCHIVE_OK ? 0 : arc_err(p, "cannot set up the archive format");
}

static struct archive_entry *new_entry(const struct packer *p, const char *path, mode_t type,
                                       unsigned mode)
{
    struct archive_entry *en = archive_entry_new();
    archive_entry_set_pathname_utf8(en, path);
    archive_entry_set_filetype(en, (unsigned)type);
    archive_entry_set_perm(en, (mode_t)mode);
    archive_entry_set_mtime(en, p->mtime, 0);
    archive_entry_set_uid(en, 0);
    archive_entry_set_gid(en, 0);
    return en;
}

static int write_all(struct packer *p, const void *data, size_t len)
{
    const unsigned char *d = data;
    while (len > 0) {
        la_ssize_t w = archive_write_data(p->a, d, len);
        if (w <= 0)
            return arc_err(p, "write failed");
        d += w;
        len -= (size_t)w;
    }
    return 0;
}

static int put_header(struct packer *p, struct archive_entry *en, const char *path)
{
    int r = archive_write_header(p->a, en);
    archive_entry_free(en);
    if (r != ARCHIVE_OK) {
        nx_seterr(p->e, "%s: cannot add %s: %s", p->out, path, archive_error_string(p->a));
        return -1;
    }
    return 0;
}

static int put_manifest(struct packer *p, const char *manifest)
{
    size_t len = strlen(manifest);
    struct archive_entry *en = new_entry(p, NX_MANIFEST_NAME, AE_IFREG, 0644);
    archive_entry_set_size(en, (la_int64_t)len);
    if (put_header(p, en, NX_MANIFEST_NAME) != 0)
        return -1;
    return write_all(p, manifest, len);
}

/* Copy a file's bytes, checking them against the manifest's size and
 * sha256 (the file must not change between hashing and packing). */
static int copy_file(struct packer *p, int fd, const char *full, const nx_entry *ent)
{
    nx_sha256 *h = nx_sha256_new();
    uint64_t total = 0;
    for (;;) {
        ssize_t r = read(fd, p->buf, COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            char hex[NX_SHA256_HEX];
            nx_sha256_final(h, hex);
            nx_seterr(p->e, "%s: read failed: %s", full, strerror(errno));
            return -1;
        }
        if (r == 0)
            break;
        total += (uint64_t)r;
        if (total > ent->size)
            break;
        nx_sha256_update(h, p->buf, (size_t)r);
        if (write_all(p, p->buf, (size_t)r) != 0) {
            char hex[NX_SHA256_HEX];
            nx_sha256_final(h, hex);
            return -1;
        }
    }
    char hex[NX_SHA256_HEX];
    nx_sha256_final(h, hex);
    if (total != ent->size || strcmp(hex, ent->sha256) != 0) {
        nx_seterr(p->e, "%s: changed while packing (size or sha256 differs from the manifest)",
                  full);
        return -1;
    }
    return 0;
}

static int put_file(struct packer *p, const char *src, const nx_entry *ent)
{
    char *full = nx_path_join(src, ent->path);
    int rc = -1;
    int fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        nx_seterr(p->e, "%s: cannot open: %s", full, strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != ent->size) {
        nx_seterr(p->e, "%s: changed while packing", full);
        goto out;
    }
    struct archive_entry *en = new_entry(p, ent->path, AE_IFREG, ent->mode);
    archive_entry_set_size(en, (la_int64_t)ent->size);
    if (put_header(p, en, ent->path) != 0)
        goto out;
    rc = copy_file(p, fd, full, ent);
out:
    if (fd >= 0)
        close(fd);
    free(full);
    return rc;
}

static int put_entry(struct packer *p, const char *src, const nx_entry *ent)
{
    struct archive_entry *en;
    switch (ent->type) {
    case NX_ENTRY_FILE:
        return put_file(p, src, ent);
    case NX_ENTRY_DIR:
        en = new_entry(p, ent->path, AE_IFDIR, ent->mode);
        return put_header(p, en, ent->path);
    case NX_ENTRY_SYMLINK:
        en = new_entry(p, ent->path, AE_IFLNK, 0777);
        archive_entry_set_symlink_utf8(en, ent->target);
        return put_header(p, en, ent->path);
    }
    return -1;
}

static int is_ascii(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* libarchive converts names through the locale: non-ASCII names need a
 * UTF-8 locale (main asks for C.UTF-8). */
static int check_names(struct packer *p, const struct rel_tree *t)
{
    if (strcmp(nl_langinfo(CODESET), "UTF-8") == 0)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        if (!is_ascii(t->entries[i].path) || !is_ascii(t->entries[i].target)) {
            nx_seterr(p->e, "%s: non-ASCII name '%s' needs a UTF-8 locale (none available: "
                            "set LC_ALL=C.UTF-8)", p->out, t->entries[i].path);
            return -1;
        }
    return 0;
}

static int write_archive(struct packer *p, int fd, enum rel_format f, const char *manifest,
                         const char *src, const struct rel_tree *t)
{
    if (check_names(p, t) != 0)
        return -1;
    if (setup_format(p, f) != 0)
        return -1;
    if (archive_write_open_fd(p->a, fd) != ARCHIVE_OK)
        return arc_err(p, "cannot start the archive");
    if (put_manifest(p, manifest) != 0)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        if (put_entry(p, src, &t->entries[i]) != 0)
            return -1;
    if (archive_write_close(p->a) != ARCHIVE_OK)
        return arc_err(p, "cannot finish the archive");
    return 0;
}

static int finish_file(int fd, const char *tmp, const char *out, nx_err *e)
{
    if (fsync(fd) != 0) {
        nx_seterr(e, "%s: fsync failed: %s", tmp, strerror(errno));
        return -1;
    }
    if (rename(tmp, out) != 0) {
        nx_seterr(e, "%s: rename into place failed: %s", out, strerror(errno));
        return -1;
    }
    char *dir = nx_dirname(out);
    int rc = nx_fsync_dir(dir, e);
    free(dir);
    return rc;
}

int rel_archive_write(const char *out, enum rel_format f, const char *manifest,
                      const char *src, const struct rel_tree *t, time_t mtime, nx_err *e)
{
    char *tmp = nx_xasprintf("%s.tmp.%ld", out, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        nx_seterr(e, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (fchmod(fd, 0644) != 0) {
        nx_seterr(e, "%s: chmod failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    struct packer p = { .a = archive_write_new(), .out = out, .mtime = mtime,
                        .buf = nx_xmalloc(COPY_BUF), .e = e };
    int rc = write_archive(&p, fd, f, manifest, src, t);
    archive_write_free(p.a);
    if (rc == 0)
        rc = finish_file(fd, tmp, out, e);
    close(fd);
    if (rc != 0)
        unlink(tmp);
    free(p.buf);
    free(tmp);
    return rc;
}
