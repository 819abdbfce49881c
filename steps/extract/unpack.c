/* One extraction: pass 1 finds and parses nexo-release.json, pass 2
 * checks every entry against it before writing that entry below the
 * staging folder (contracts §6, the refusals list). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust.h"
#include "util.h"

#define RATIO_SLACK (1024u * 1024u) /* what any package may unpack to */

/* "PACKAGE: message" as the call's error, on one line (libarchive ends
 * some of its messages with a newline); returns code. */
static int pfail(struct xt *x, int code, const char *fmt, ...) NEXO_FORMAT(3, 4);
static int pfail(struct xt *x, int code, const char *fmt, ...)
{
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return x->h->fail(x->c, code, "%s: %s", x->pkg, msg);
}

static const char *aerr(struct archive *a)
{
    const char *s = archive_error_string(a);
    return s ? s : "unknown libarchive error";
}

/* A name made printable on one line: control characters as \xNN, cut. */
static void show(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (; *p && o + 8 < cap; p++) {
        if (*p < 0x20 || *p == 0x7f)
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
        else
            out[o++] = (char)*p;
    }
    if (*p && o + 4 <= cap)
        memcpy(out + o, "...", 4);
    else
        out[o] = '\0';
}

static const char *raw_name(struct archive_entry *e)
{
    const char *n = archive_entry_pathname_utf8(e);
    return n ? n : archive_entry_pathname(e);
}

static const char *link_target(struct archive_entry *e)
{
    const char *t = archive_entry_symlink_utf8(e);
    return t ? t : archive_entry_symlink(e);
}

static const char *type_name(enum nx_entry_type t)
{
    return t == NX_ENTRY_DIR ? "dir" : t == NX_ENTRY_SYMLINK ? "symlink" : "file";
}

/* ---- reading the package ------------------------------------------------ */

static struct archive *open_pkg(struct xt *x)
{
    if (lseek(x->pkgfd, 0, SEEK_SET) != 0) {
        pfail(x, NEXO_EIO, "cannot rewind: %s", strerror(errno));
        return NULL;
    }
    struct archive *a = archive_read_new();
    if (!a) {
        pfail(x, NEXO_ERROR, "out of memory");
        return NULL;
    }
    /* Built-in readers only: ARCHIVE_WARN would mean an external program. */
    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_format_zip(a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
        pfail(x, NEXO_ENOTSUP, "this libarchive cannot read tar, zip, gzip and zstd itself: %s",
              aerr(a));
        archive_read_free(a);
        return NULL;
    }
    if (archive_read_open_fd(a, x->pkgfd, XT_BUFSIZE) != ARCHIVE_OK) {
        pfail(x, NEXO_EVERIFY, "not a .tar.zst, .tar.gz or .zip package: %s", aerr(a));
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* 0: an entry in *e; 1: the end of the archive; <0: an error (set). */
static int next_header(struct xt *x, struct archive *a, struct archive_entry **e)
{
    int r = archive_read_next_header(a, e);
    if (r == ARCHIVE_EOF)
        return 1;
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN)
        return 0;
    if (archive_format(a) == 0)
        return pfail(x, NEXO_EVERIFY, "not a .tar.zst, .tar.gz or .zip package: %s", aerr(a));
    if (x->show[0])
        return pfail(x, NEXO_EVERIFY, "unreadable after entry %s: %s", x->show, aerr(a));
    return pfail(x, NEXO_EVERIFY, "unreadable: %s", aerr(a));
}

/* .tar.gz, .tar.zst or .zip (contracts §6); known after the first header. */
static int check_format(struct xt *x, struct archive *a)
{
    int fmt = archive_format(a) & ARCHIVE_FORMAT_BASE_MASK;
    int nfilters = archive_filter_count(a); /* the last one is "none" */
    int filter = nfilters > 1 ? archive_filter_code(a, 0) : ARCHIVE_FILTER_NONE;
    if (fmt == ARCHIVE_FORMAT_ZIP && nfilters == 1)
        return 0;
    if (fmt == ARCHIVE_FORMAT_TAR && nfilters == 2 &&
        (filter == ARCHIVE_FILTER_GZIP || filter == ARCHIVE_FILTER_ZSTD))
        return 0;
    const char *fname = nfilters > 1 ? archive_filter_name(a, 0) : "uncompressed";
    return pfail(x, NEXO_EVERIFY, "%s (%s) is not a package format: expected .tar.zst, "
                 ".tar.gz or .zip", archive_format_name(a) ? archive_format_name(a) : "?",
                 fname ? fname : "?");
}

/* The decompressed stream may not exceed max_ratio times the package
 * (plus a little for small packages): a bomb stops here even before the
 * manifest is known. Within a zip, the manifest's sizes stop it. */
static int ratio_check(struct xt *x, struct archive *a)
{
    if (x->max_ratio == 0)
        return 0;
    la_int64_t out = archive_filter_bytes(a, 0);
    uint64_t limit = UINT64_MAX;
    if (x->pkgsize <= (UINT64_MAX - RATIO_SLACK) / x->max_ratio)
        limit = x->max_ratio * x->pkgsize + RATIO_SLACK;
    if (out < 0 || (uint64_t)out <= limit)
        return 0;
    return pfail(x, NEXO_EVERIFY, "%s: the package unpacks to more than %llu times its size "
                 "(max_ratio): refused", x->show, (unsigned long long)x->max_ratio);
}

/* ---- pass 1: the manifest ----------------------------------------------- */

static int skip_data(struct xt *x, struct archive *a)
{
    /* A zip entry is skipped by seeking past it, inflating nothing. */
    if ((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) == ARCHIVE_FORMAT_ZIP)
        return 0;
    for (;;) {
        const void *p;
        size_t n;
        la_int64_t off;
        int r = archive_read_data_block(a, &p, &n, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
            return pfail(x, NEXO_EVERIFY, "%s: %s", x->show, aerr(a));
        int rc = ratio_check(x, a);
        if (rc)
            return rc;
    }
}

static int parse_manifest(struct xt *x, char *text, size_t len)
{
    nx_err e = {{0}};
    char *name = nx_xasprintf("%s: %s", x->pkg, NX_MANIFEST_NAME);
    x->m = nx_manifest_parse(text, len, name, &e);
    free(name);
    if (!x->m) {
        free(text);
        return x->h->fail(x->c, NEXO_EVERIFY, "%s", e.msg);
    }
    x->mtext = text;
    x->mlen = len;
    x->seen = nx_xcalloc(x->m->nentries ? x->m->nentries : 1, 1);
    return 0;
}

static int load_manifest(struct xt *x, struct archive *a, struct archive_entry *e)
{
    if (archive_entry_filetype(e) != AE_IFREG || archive_entry_hardlink(e))
        return pfail(x, NEXO_EVERIFY, "%s: not a regular file", x->show);
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)XT_MANIFEST_MAX)
        return pfail(x, NEXO_EVERIFY, "%s is larger than %s", x->show, NX_MANIFEST_MAX_TEXT);
    size_t cap = 65536, len = 0;
    char *text = nx_xmalloc(cap + 1);
    for (;;) {
        if (len == cap && cap <= XT_MANIFEST_MAX) {
            cap *= 2;
            text = nx_xrealloc(text, cap + 1);
        }
        la_ssize_t n = archive_read_data(a, text + len, cap - len);
        if (n == 0)
            break;
        if (n < 0) {
            free(text);
            return pfail(x, NEXO_EVERIFY, "%s: %s", x->show, aerr(a));
        }
        len += (size_t)n;
        if (len > XT_MANIFEST_MAX) {
            free(text);
            return pfail(x, NEXO_EVERIFY, "%s is larger than %s", x->show, NX_MANIFEST_MAX_TEXT);
        }
    }
    text[len] = '\0';
    return parse_manifest(x, text, len);
}

/* The entry's path as the manifest spells it, in x->name: without a
 * leading "./" and a trailing '/' ("" is the payload root itself). */
static int normalize(struct xt *x, const char *raw)
{
    const char *p = raw;
    if (strncmp(p, "./", 2) == 0)
        p += 2;
    else if (strcmp(p, ".") == 0)
        p += 1;
    size_t n = strlen(p);
    if (n > 0 && p[n - 1] == '/')
        n--;
    if (n >= sizeof x->name)
        return pfail(x, NEXO_EVERIFY, "%s: path longer than 4096 bytes", x->show);
    memcpy(x->name, p, n);
    x->name[n] = '\0';
    return 0;
}

static int is_manifest(const struct xt *x)
{
    return strcmp(x->name, NX_MANIFEST_NAME) == 0;
}

/* The next entry's names in x->show and x->name. */
static int entry_names(struct xt *x, struct archive_entry *e)
{
    const char *raw = raw_name(e);
    if (!raw)
        return pfail(x, NEXO_EVERIFY, "an entry without a name after %s",
                     x->show[0] ? x->show : "the start");
    show(x->show, sizeof x->show, raw);
    return normalize(x, raw);
}

static int find_manifest(struct xt *x, struct archive *a)
{
    for (int first = 1;; first = 0) {
        struct archive_entry *e;
        int rc = next_header(x, a, &e);
        if (rc > 0)
            return pfail(x, NEXO_EVERIFY, "no %s in the package", NX_MANIFEST_NAME);
        if (rc == 0 && first)
            rc = check_format(x, a);
        if (rc == 0)
            rc = entry_names(x, e);
        if (rc == 0)
            rc = ratio_check(x, a);
        if (rc == 0 && is_manifest(x))
            return load_manifest(x, a, e);
        if (rc == 0)
            rc = skip_data(x, a);
        if (rc)
            return rc;
    }
}

int xt_read_manifest(struct xt *x)
{
    struct archive *a = open_pkg(x);
    if (!a)
        return NEXO_EVERIFY;
    int rc = find_manifest(x, a);
    archive_read_free(a);
    x->show[0] = '\0';
    return rc;
}

/* ---- pass 2: the checks before an entry is written ---------------------- */

/* Relative, no '..', no empty component, the manifest's rules. */
static int check_path(struct xt *x, const char *raw)
{
    if (raw[0] == '/' || x->name[0] == '/')
        return pfail(x, NEXO_EVERIFY, "%s: absolute path not allowed", x->show);
    if (x->name[0] == '\0')
        return 0;
    for (const char *p = x->name; p;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (n == 0)
            return pfail(x, NEXO_EVERIFY, "%s: empty path component not allowed", x->show);
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return pfail(x, NEXO_EVERIFY, "%s: '..' in the path not allowed", x->show);
        p = slash ? slash + 1 : NULL;
    }
    if (!nx_manifest_path_ok(x->name))
        return pfail(x, NEXO_EVERIFY, "%s: path not allowed ('.' component or control "
                     "characters)", x->show);
    return 0;
}

/* Hardlinks, devices, fifos, sockets and setuid/setgid/sticky bits. */
static int check_kind(struct xt *x, struct archive_entry *e)
{
    const char *hl = archive_entry_hardlink_utf8(e);
    if (!hl)
        hl = archive_entry_hardlink(e);
    if (hl) {
        char target[XT_NAMESHOW];
        show(target, sizeof target, hl);
        return pfail(x, NEXO_EVERIFY, "hardlink %s -> %s not allowed", x->show, target);
    }
    mode_t ft = archive_entry_filetype(e);
    const char *what = ft == AE_IFCHR || ft == AE_IFBLK ? "a device"
                       : ft == AE_IFIFO                 ? "a fifo"
                       : ft == AE_IFSOCK                ? "a socket"
                       : ft != AE_IFREG && ft != AE_IFDIR && ft != AE_IFLNK
                           ? "an entry of unknown type"
                           : NULL;
    if (what)
        return pfail(x, NEXO_EVERIFY, "%s: %s is not allowed", x->show, what);
    mode_t mode = archive_entry_mode(e);
    if (mode & (S_ISUID | S_ISGID | S_ISVTX))
        return pfail(x, NEXO_EVERIFY, "%s: setuid, setgid or sticky bit not allowed (mode 0%o)",
                     x->show, (unsigned)(mode & 07777));
    return 0;
}

static enum nx_entry_type kind_of(struct archive_entry *e)
{
    mode_t ft = archive_entry_filetype(e);
    return ft == AE_IFDIR ? NX_ENTRY_DIR : ft == AE_IFLNK ? NX_ENTRY_SYMLINK : NX_ENTRY_FILE;
}

/* A file's announced size against the manifest, before any byte. */
static int check_size(struct xt *x, struct archive_entry *e, const nx_entry *me)
{
    if (!archive_entry_size_is_set(e))
        return 0; /* counted while writing */
    la_int64_t sz = archive_entry_size(e);
    uint64_t size = sz < 0 ? 0 : (uint64_t)sz;
    if (size > x->m->total_size - x->written)
        return pfail(x, NEXO_EVERIFY, "%s: would unpack more than the manifest's %llu bytes",
                     x->show, (unsigned long long)x->m->total_size);
    if (size > me->size)
        return pfail(x, NEXO_EVERIFY, "%s: %llu bytes, but the manifest says %llu", x->show,
                     (unsigned long long)size, (unsigned long long)me->size);
    return 0;
}

/* The entry must be in the manifest, once, as the same type (and the
 * same symlink target). */
static int check_listed(struct xt *x, struct archive_entry *e, const nx_entry **out)
{
    const nx_entry *me = nx_manifest_find(x->m, x->name);
    if (!me)
        return pfail(x, NEXO_EVERIFY, "%s: not in the manifest (%s)", x->show, NX_MANIFEST_NAME);
    enum nx_entry_type t = kind_of(e);
    if (t != me->type)
        return pfail(x, NEXO_EVERIFY, "%s: a %s in the package, but a %s in the manifest",
                     x->show, type_name(t), type_name(me->type));
    if (x->seen[me - x->m->entries])
        return pfail(x, NEXO_EVERIFY, "%s: appears twice in the package", x->show);
    if (t == NX_ENTRY_SYMLINK) {
        const char *target = link_target(e);
        if (!target || strcmp(target, me->target) != 0) {
            char shown[XT_NAMESHOW];
            show(shown, sizeof shown, target ? target : "(none)");
            return pfail(x, NEXO_EVERIFY, "%s: symlink to %s, but the manifest says %s",
                         x->show, shown, me->target);
        }
    }
    *out = me;
    return t == NX_ENTRY_FILE ? check_size(x, e, me) : 0;
}

/* ---- pass 2: writing ----------------------------------------------------- */

/* The folder holding x->name (made as needed, never through a symlink). */
static int open_parent(struct xt *x, int *fd, const char **leaf)
{
    const char *slash = strrchr(x->name, '/');
    size_t len = slash ? (size_t)(slash - x->name) : 0;
    *leaf = slash ? slash + 1 : x->name;
    *fd = xt_opendir(x->dfd, x->name, len, 1);
    if (*fd >= 0)
        return 0;
    int err = errno;
    return pfail(x, err == ELOOP || err == ENOTDIR ? NEXO_EVERIFY : NEXO_EIO,
                 "%s: cannot open its folder: %s%s", x->show, strerror(err),
                 err == ELOOP || err == ENOTDIR ? " (a symlink or a file is in the way)" : "");
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy the entry's data to fd, hashing it, never past the manifest's
 * limits: a lying header stops at the limit, not at its end. */
static int copy_data(struct xt *x, struct archive *a, int fd, nx_sha256 *s, const nx_entry *me)
{
    uint64_t got = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, x->buf, XT_BUFSIZE);
        if (n == 0)
            return 0;
        if (n < 0)
            return pfail(x, NEXO_EVERIFY, "%s: %s", x->show, aerr(a));
        uint64_t un = (uint64_t)n;
        if (un > x->m->total_size - x->written)
            return pfail(x, NEXO_EVERIFY, "%s: would unpack more than the manifest's %llu "
                         "bytes", x->show, (unsigned long long)x->m->total_size);
        if (un > me->size - got)
            return pfail(x, NEXO_EVERIFY, "%s: more data than the manifest's %llu bytes",
                         x->show, (unsigned long long)me->size);
        int rc = ratio_check(x, a);
        if (rc)
            return rc;
        if (write_all(fd, x->buf, (size_t)un) != 0)
            return pfail(x, NEXO_EIO, "%s: cannot write: %s", x->show, strerror(errno));
        nx_sha256_update(s, x->buf, (size_t)un);
        got += un;
        x->written += un;
    }
}

static int make_file(struct xt *x, struct archive *a, const nx_entry *me)
{
    int pfd;
    const char *leaf;
    int rc = open_parent(x, &pfd, &leaf);
    if (rc)
        return rc;
    int fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    int err = errno;
    close(pfd);
    if (fd < 0)
        return pfail(x, NEXO_EIO, "%s: cannot create: %s", x->show, strerror(err));
    nx_sha256 *s = nx_sha256_new();
    rc = copy_data(x, a, fd, s, me);
    char hex[NX_SHA256_HEX];
    nx_sha256_final(s, hex);
    if (!rc && fchmod(fd, (mode_t)me->mode) != 0)
        rc = pfail(x, NEXO_EIO, "%s: cannot set its mode: %s", x->show, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = pfail(x, NEXO_EIO, "%s: cannot write: %s", x->show, strerror(errno));
    if (!rc && strcmp(hex, me->sha256) != 0)
        rc = pfail(x, NEXO_EVERIFY, "sha256 mismatch for %s", x->show);
    if (!rc)
        x->h->progress(x->c, "extract", x->written, x->m->total_size);
    return rc;
}

/* A folder: 0700 while unpacking; its mode is set at the end. */
static int make_dir(struct xt *x)
{
    int fd = xt_opendir(x->dfd, x->name, strlen(x->name), 1);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    int err = errno;
    return pfail(x, err == ELOOP || err == ENOTDIR ? NEXO_EVERIFY : NEXO_EIO,
                 "%s: cannot make the folder: %s", x->show, strerror(err));
}

static int make_symlink(struct xt *x, const nx_entry *me)
{
    int pfd;
    const char *leaf;
    int rc = open_parent(x, &pfd, &leaf);
    if (rc)
        return rc;
    if (symlinkat(me->target, pfd, leaf) != 0)
        rc = pfail(x, NEXO_EIO, "%s: cannot make the symlink: %s", x->show, strerror(errno));
    close(pfd);
    return rc;
}

static int unpack_entry(struct xt *x, struct archive *a, struct archive_entry *e)
{
    const nx_entry *me = NULL;
    int rc = check_listed(x, e, &me);
    if (rc)
        return rc;
    x->seen[me - x->m->entries] = 1;
    switch (me->type) {
    case NX_ENTRY_DIR:
        return make_dir(x);
    case NX_ENTRY_SYMLINK:
        return make_symlink(x, me);
    case NX_ENTRY_FILE:
        break;
    }
    return make_file(x, a, me);
}

/* Everything a header says, checked before the entry is written. */
static int next_entry(struct xt *x, struct archive *a, struct archive_entry *e, int *manifests)
{
    int rc = entry_names(x, e);
    if (!rc)
        rc = ratio_check(x, a);
    if (!rc)
        rc = check_path(x, raw_name(e));
    if (!rc)
        rc = check_kind(x, e);
    if (rc)
        return rc;
    if (x->name[0] == '\0') /* "./": the payload root itself */
        return archive_entry_filetype(e) == AE_IFDIR
                   ? 0
                   : pfail(x, NEXO_EVERIFY, "%s: empty path not allowed", x->show);
    if (is_manifest(x))
        return ++*manifests == 1 ? 0
                                 : pfail(x, NEXO_EVERIFY, "%s appears twice in the package",
                                         x->show);
    return unpack_entry(x, a, e);
}

static int unpack_all(struct xt *x, struct archive *a)
{
    int manifests = 0;
    for (;;) {
        struct archive_entry *e;
        int rc = next_header(x, a, &e);
        if (rc > 0)
            return 0;
        if (rc == 0)
            rc = next_entry(x, a, e, &manifests);
        if (rc)
            return rc;
    }
}

/* ---- pass 2: after the archive ------------------------------------------ */

static int check_complete(struct xt *x)
{
    for (size_t i = 0; i < x->m->nentries; i++) {
        if (x->seen[i])
            continue;
        char shown[XT_NAMESHOW];
        show(shown, sizeof shown, x->m->entries[i].path);
        return pfail(x, NEXO_EVERIFY, "missing from the package: %s", shown);
    }
    return 0;
}

/* Folders get their modes last, deepest first (entries are sorted, so a
 * folder's contents follow it), so that a 0555 folder could be filled. */
static int set_dir_modes(struct xt *x)
{
    for (size_t i = x->m->nentries; i-- > 0;) {
        const nx_entry *me = &x->m->entries[i];
        if (me->type != NX_ENTRY_DIR)
            continue;
        int fd = xt_opendir(x->dfd, me->path, strlen(me->path), 0);
        int ok = fd >= 0 && fchmod(fd, (mode_t)me->mode) == 0;
        int err = errno;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            show(x->show, sizeof x->show, me->path);
            return pfail(x, NEXO_EIO, "%s: cannot set its mode: %s", x->show, strerror(err));
        }
    }
    return 0;
}

int xt_unpack(struct xt *x)
{
    struct archive *a = open_pkg(x);
    if (!a)
        return NEXO_EVERIFY;
    int rc = unpack_all(x, a);
    archive_read_free(a);
    if (!rc)
        rc = check_complete(x);
    if (!rc)
        rc = set_dir_modes(x);
    if (!rc && syncfs(x->dfd) != 0)
        rc = pfail(x, NEXO_EIO, "cannot flush the staged files: %s", strerror(errno));
    if (!rc && x->m->total_size > 0)
        x->h->progress(x->c, "extract", x->m->total_size, x->m->total_size);
    return rc;
}

void xt_free(struct xt *x)
{
    if (x->pkgfd >= 0)
        close(x->pkgfd);
    if (x->dfd >= 0)
        close(x->dfd);
    nx_manifest_free(x->m);
    free(x->mtext);
    free(x->seen);
    free(x->buf);
    x->pkgfd = -1;
    x->dfd = -1;
    x->m = NULL;
    x->mtext = NULL;
    x->seen = NULL;
    x->buf = NULL;
}
