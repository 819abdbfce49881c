/* Trees others may write, worked on by descriptor (fsat.h). */
#include "fsat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NX_MAXLINKS 40 /* symbolic links resolved in one path, as the kernel's */
#define NX_RETRIES 8   /* an entry that changed while we looked at it: look again */
#define DIR_RD (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define DIR_PATH (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Fill e, leave errno = err, give -1. */
static int fail(nx_err *e, int err, const char *fmt, ...) NX_PRINTF(3, 4);
static int fail(nx_err *e, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nx_vseterr(e, fmt, ap);
    va_end(ap);
    errno = err;
    return -1;
}

static void close_keep_errno(int fd)
{
    int err = errno;
    if (fd >= 0)
        close(fd);
    errno = err;
}

/* May the link `ln` in the folder `dir` be followed: could nobody but root
 * and us have put it there? */
static int link_trusted(const struct stat *dir, const struct stat *ln)
{
    uid_t me = geteuid();
    int ours = dir->st_uid == 0 || dir->st_uid == me;
    if (ours && !(dir->st_mode & (S_IWGRP | S_IWOTH)))
        return 1;
    return ours && (dir->st_mode & S_ISVTX) && (ln->st_uid == 0 || ln->st_uid == me);
}

int nx_open_dir_path(const char *path, nx_err *e)
{
    if (!path || !*path)
        return fail(e, EINVAL, "cannot open a folder with an empty path");
    /* rest: what is left to resolve, from rest + pos on; after a link, its
     * target followed by the rest. */
    char *rest = nx_xstrdup(path);
    size_t pos = 0;
    int links = 0;
    int fd = open(rest[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        free(rest);
        return fail(e, err, "%s: cannot open: %s", path, strerror(err));
    }
    int rc = 0;
    while (rc == 0) {
        while (rest[pos] == '/')
            pos++;
        if (!rest[pos])
            break;
        size_t n = strcspn(rest + pos, "/");
        char name[NAME_MAX + 1];
        if (n > NAME_MAX) {
            rc = fail(e, ENAMETOOLONG, "%s: a name is too long", path);
            break;
        }
        memcpy(name, rest + pos, n);
        name[n] = '\0';
        if (strcmp(name, ".") == 0) {
            pos += n;
            continue;
        }
        struct stat st;
        if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            int err = errno;
            rc = fail(e, err, "%s: %.*s: %s", path, (int)(pos + n), rest, strerror(err));
            break;
        }
        if (S_ISLNK(st.st_mode)) {
            struct stat dst;
            if (++links > NX_MAXLINKS) {
                rc = fail(e, ELOOP, "%s: too many symbolic links", path);
                break;
            }
            if (fstat(fd, &dst) != 0 || !link_trusted(&dst, &st)) {
                rc = fail(e, EPERM, "%s: refused: %.*s is a symbolic link in a folder that "
                          "uid %u owns or others may write (mode %04o): it is not followed",
                          path, (int)(pos + n), rest, (unsigned)dst.st_uid,
                          (unsigned)(dst.st_mode & 07777));
                break;
            }
            char target[PATH_MAX];
            ssize_t tl = readlinkat(fd, name, target, sizeof target - 1);
            if (tl <= 0) {
                int err = tl < 0 ? errno : ENOENT;
                rc = fail(e, err, "%s: cannot read the link %.*s: %s", path, (int)(pos + n),
                          rest, strerror(err));
                break;
            }
            target[tl] = '\0';
            char *next = nx_xasprintf("%s/%s", target, rest + pos + n);
            free(rest);
            rest = next;
            pos = 0;
            if (rest[0] == '/') {
                close(fd);
                fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0) {
                    int err = errno;
                    free(rest);
                    return fail(e, err, "%s: cannot open /: %s", path, strerror(err));
                }
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            rc = fail(e, ENOTDIR, "%s: %.*s is not a folder", path, (int)(pos + n), rest);
            break;
        }
        int next = openat(fd, name, DIR_PATH);
        if (next < 0 && (errno == ELOOP || errno == ENOTDIR) && ++links <= NX_MAXLINKS)
            continue; /* replaced between fstatat and openat: look again */
        if (next < 0) {
            int err = errno;
            rc = fail(e, err, "%s: cannot open %.*s: %s", path, (int)(pos + n), rest,
                      strerror(err));
            break;
        }
        close(fd);
        fd = next;
        pos += n;
    }
    free(rest);
    if (rc != 0) {
        close_keep_errno(fd);
        return -1;
    }
    return fd;
}

int nx_openat_dir(int dfd, const char *name, const struct stat *want)
{
    int fd = openat(dfd, name, DIR_RD);
    if (fd < 0 || !want)
        return fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close_keep_errno(fd);
        return -1;
    }
    if (st.st_dev != want->st_dev || st.st_ino != want->st_ino) {
        close(fd);
        errno = ESTALE;
        return -1;
    }
    return fd;
}

int nx_open_below(int dfd, const char *rel, const char *shown, nx_err *e)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return fail(e, errno, "%s: %s", shown, strerror(errno));
    size_t pos = 0;
    while (rel && rel[pos]) {
        size_t n = strcspn(rel + pos, "/");
        char name[NAME_MAX + 1];
        if (n > NAME_MAX) {
            close(fd);
            return fail(e, ENAMETOOLONG, "%s/%s: a name is too long", shown, rel);
        }
        memcpy(name, rel + pos, n);
        name[n] = '\0';
        if (strcmp(name, "..") == 0) {
            close(fd);
            return fail(e, EINVAL, "%s/%s: refused: '..' in the path", shown, rel);
        }
        if (n > 0 && strcmp(name, ".") != 0) {
            int next = openat(fd, name, DIR_PATH);
            if (next < 0) {
                int err = errno;
                struct stat st;
                int link = (err == ELOOP || err == ENOTDIR) &&
                           fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                           S_ISLNK(st.st_mode);
                close(fd);
                if (link)
                    return fail(e, ELOOP, "%s/%.*s: refused: a symbolic link (in %s/%s)", shown,
                                (int)(pos + n), rel, shown, rel);
                return fail(e, err, "%s/%.*s: %s", shown, (int)(pos + n), rel,
                            err == ENOTDIR ? "not a folder" : strerror(err));
            }
            close(fd);
            fd = next;
        }
        pos += n;
        while (rel[pos] == '/')
            pos++;
    }
    return fd;
}

/* ---- removing a tree ------------------------------------------------------ */

static int rm_entry(int dfd, const char *name, dev_t dev, const char *shown, nx_err *e);

/* Remove everything in the folder fd (consumed). */
static int rm_contents(int fd, dev_t dev, const char *shown, nx_err *e)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        return fail(e, err, "%s: cannot list: %s", shown, strerror(err));
    }
    int rc = 0, err = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            err = errno;
            if (err)
                rc = fail(e, err, "%s: cannot list: %s", shown, strerror(err));
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *sub = nx_path_join(shown, de->d_name);
        rc = rm_entry(dirfd(d), de->d_name, dev, sub, e);
        err = errno;
        free(sub);
        if (rc != 0)
            break;
    }
    closedir(d);
    errno = err;
    return rc;
}

/* Open the folder `name` (listed as *st) to empty it: without following a
 * link, the very folder listed. One of ours we may not read or search
 * (mode 0000, 0300 ...) is made 0700 through an O_PATH descriptor of it. */
static int open_to_empty(int dfd, const char *name, const struct stat *st)
{
    int fd = nx_openat_dir(dfd, name, st);
    if (fd >= 0 || errno != EACCES || st->st_uid != geteuid())
        return fd;
    int pfd = openat(dfd, name, DIR_PATH);
    if (pfd < 0)
        return -1;
    struct stat cur;
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    if (fstat(pfd, &cur) != 0 || cur.st_dev != st->st_dev || cur.st_ino != st->st_ino) {
        close(pfd);
        errno = ESTALE;
        return -1;
    }
    /* /proc/self/fd/N is the inode pfd holds, never a name resolved again. */
    if (chmod(proc, 0700) != 0) {
        close_keep_errno(pfd);
        return -1;
    }
    fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    close_keep_errno(pfd);
    return fd;
}

static int rm_entry(int dfd, const char *name, dev_t dev, const char *shown, nx_err *e)
{
    for (int tries = 0;; tries++) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            return errno == ENOENT ? 0 : fail(e, errno, "%s: %s", shown, strerror(errno));
        if (!S_ISDIR(st.st_mode)) {
            /* a file, or a link: the link itself goes, its target stays */
            if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
                return 0;
            if (errno == EISDIR && tries < NX_RETRIES)
                continue; /* became a folder meanwhile */
            return fail(e, errno, "%s: cannot remove: %s", shown, strerror(errno));
        }
        if (st.st_dev != dev)
            return fail(e, EXDEV, "%s: refused: on another file system than the tree being "
                        "removed (a mount point): not removed", shown);
        int fd = open_to_empty(dfd, name, &st);
        if (fd < 0) {
            int err = errno;
            if ((err == ELOOP || err == ENOTDIR || err == ESTALE || err == ENOENT) &&
                tries < NX_RETRIES)
                continue; /* replaced between listing and opening: look again */
            return fail(e, err, "%s: cannot open: %s", shown,
                        err == ESTALE ? "replaced while being removed" : strerror(err));
        }
        /* Ours without write or search permission for us: 0700, on the
         * descriptor just checked to be the folder listed. */
        if (st.st_uid == geteuid() && (st.st_mode & 0700) != 0700 && fchmod(fd, 0700) != 0) {
            int err = errno;
            close(fd);
            return fail(e, err, "%s: cannot make it 0700 to empty it: %s", shown, strerror(err));
        }
        if (rm_contents(fd, dev, shown, e) != 0)
            return -1;
        if (unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT)
            return 0;
        int err = errno;
        if ((err == ENOTEMPTY || err == EEXIST || err == ENOTDIR) && tries < NX_RETRIES)
            continue; /* something was added or swapped in meanwhile */
        return fail(e, err, "%s: cannot remove the folder: %s", shown, strerror(err));
    }
}

int nx_rmtree_at(int dfd, const char *name, const char *shown, nx_err *e)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : fail(e, errno, "%s: %s", shown, strerror(errno));
    return rm_entry(dfd, name, st.st_dev, shown, e);
}

/* ---- changing owners ------------------------------------------------------ */

/* Give the entry `name` (listed as *st, not a folder) to uid/gid through
 * an O_PATH descriptor of it (a link: the link itself). */
static int chown_leaf(int dfd, const char *name, const struct stat *st, uid_t uid, gid_t gid,
                      const char *shown, nx_err *e)
{
    int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return fail(e, errno, "%s: cannot open: %s", shown, strerror(errno));
    struct stat cur;
    int rc = 0;
    if (fstat(fd, &cur) != 0)
        rc = fail(e, errno, "%s: %s", shown, strerror(errno));
    else if (cur.st_dev != st->st_dev || cur.st_ino != st->st_ino)
        rc = fail(e, ESTALE, "%s: refused: replaced while its owner was being changed", shown);
    else if (S_ISREG(cur.st_mode) && cur.st_nlink > 1)
        rc = fail(e, EPERM, "%s: refused: a file with %lu hard links (one may be a file "
                  "outside the tree): its owner is not changed", shown,
                  (unsigned long)cur.st_nlink);
    else if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0)
        rc = fail(e, errno, "%s: cannot give it to uid %u gid %u: %s", shown, (unsigned)uid,
                  (unsigned)gid, strerror(errno));
    close_keep_errno(fd);
    return rc;
}

static int chown_contents(int fd, dev_t dev, uid_t uid, gid_t gid, const char *shown,
                          nx_err *e);

static int chown_dir(int dfd, const char *name, const struct stat *st, dev_t dev, uid_t uid,
                     gid_t gid, const char *shown, nx_err *e)
{
    if (st->st_dev != dev)
        return fail(e, EXDEV, "%s: refused: on another file system (a mount point)", shown);
    int fd = nx_openat_dir(dfd, name, st);
    if (fd < 0)
        return fail(e, errno, "%s: cannot open: %s", shown,
                    errno == ESTALE ? "replaced while its owner was being changed"
                                    : strerror(errno));
    int keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (keep < 0) {
        int err = errno;
        close(fd);
        return fail(e, err, "%s: %s", shown, strerror(err));
    }
    int rc = chown_contents(fd, dev, uid, gid, shown, e);
    if (rc == 0 && fchown(keep, uid, gid) != 0)
        rc = fail(e, errno, "%s: cannot give it to uid %u gid %u: %s", shown, (unsigned)uid,
                  (unsigned)gid, strerror(errno));
    close_keep_errno(keep);
    return rc;
}

/* Everything in the folder fd (consumed), deepest first. */
static int chown_contents(int fd, dev_t dev, uid_t uid, gid_t gid, const char *shown,
                          nx_err *e)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        return fail(e, err, "%s: cannot list: %s", shown, strerror(err));
    }
    int rc = 0, err = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            err = errno;
            if (err)
                rc = fail(e, err, "%s: cannot list: %s", shown, strerror(err));
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *sub = nx_path_join(shown, de->d_name);
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            rc = fail(e, errno, "%s: %s", sub, strerror(errno));
        else if (S_ISDIR(st.st_mode))
            rc = chown_dir(dirfd(d), de->d_name, &st, dev, uid, gid, sub, e);
        else
            rc = chown_leaf(dirfd(d), de->d_name, &st, uid, gid, sub, e);
        err = errno;
        free(sub);
        if (rc != 0)
            break;
    }
    closedir(d);
    errno = err;
    return rc;
}

int nx_chown_below(int dfd, uid_t uid, gid_t gid, const char *shown, nx_err *e)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return fail(e, errno, "%s: cannot open: %s", shown, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return fail(e, err, "%s: %s", shown, strerror(err));
    }
    return chown_contents(fd, st.st_dev, uid, gid, shown, e);
}
