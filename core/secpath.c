#include "secpath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One file or folder. `ancestor`: a folder above the checked path, where a
 * root-owned sticky folder (/tmp) passes: nobody but its owner can rename
 * or replace what another user made in it. The checked folder itself and
 * its entries never get that exception. */
static int check_one(const char *path, const struct stat *st, int is_file, int ancestor,
                     nx_err *e)
{
    uid_t me = geteuid();
    if (st->st_uid != 0 && st->st_uid != me) {
        nx_seterr(e, "%s: refused: owned by uid %u, not by root or the running user",
                  path, (unsigned)st->st_uid);
        return -1;
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
        return 0;
    if (ancestor && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX) && st->st_uid == 0)
        return 0;
    nx_seterr(e, "%s: refused: %s is %s-writable (mode %04o)", path,
              is_file ? "file" : "folder",
              (st->st_mode & S_IWOTH) ? "world" : "group", (unsigned)(st->st_mode & 07777));
    return -1;
}

/* Every folder above `from` (an absolute path) up to "/"; stat follows
 * links, so a folder reached through a link is checked as its target. */
static int check_up(const char *path, const char *from, nx_err *e)
{
    char *dir = nx_dirname(from);
    for (;;) {
        struct stat st;
        if (stat(dir, &st) != 0) {
            nx_seterr(e, "%s: %s", dir, strerror(errno));
            if (strcmp(dir, path) != 0)
                nx_preferr(e, "%s", path);
            free(dir);
            return -1;
        }
        if (check_one(dir, &st, 0, 1, e) != 0) {
            if (strcmp(dir, path) != 0)
                nx_preferr(e, "%s", path);
            free(dir);
            return -1;
        }
        if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0)
            break;
        char *up = nx_dirname(dir);
        free(dir);
        dir = up;
    }
    free(dir);
    return 0;
}

/* The folders above the path as written (where a symbolic link on the way
 * lives: whoever may write that folder may point the link elsewhere) and
 * above the path it resolves to (`real`). */
static int check_ancestors(const char *path, const char *real, nx_err *e)
{
    if (check_up(path, real, e) != 0)
        return -1;
    if (strcmp(path, real) == 0)
        return 0;
    char *abs = NULL;
    if (path[0] != '/') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            nx_seterr(e, "%s: cannot tell the current folder: %s", path, strerror(errno));
            return -1;
        }
        abs = nx_path_join(cwd, path);
    }
    int rc = check_up(path, abs ? abs : path, e);
    free(abs);
    return rc;
}

int nx_check_secure_path(const char *path, nx_err *e)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        nx_seterr(e, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (stat(real, &st) != 0) {
        nx_seterr(e, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        nx_seterr(e, "%s: not a regular file", path);
        return -1;
    }
    if (check_one(real, &st, 1, 0, e) != 0) {
        if (strcmp(real, path) != 0)
            nx_preferr(e, "%s", path);
        return -1;
    }
    return check_ancestors(path, real, e);
}

/* Every entry directly in the folder fd (links are not followed: only
 * whoever may write the folder can have put them there). */
static int check_entries(const char *path, int fd, nx_err *e)
{
    int dfd = dup(fd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        nx_seterr(e, "%s: cannot list: %s", path, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat es;
        if (fstatat(fd, de->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0 || S_ISLNK(es.st_mode))
            continue; /* gone meanwhile, or a link */
        char *full = nx_path_join(path, de->d_name);
        rc = check_one(full, &es, !S_ISDIR(es.st_mode), 0, e);
        free(full);
    }
    closedir(d);
    return rc;
}

int nx_check_secure_dir(const char *path, const char *what, int entries, nx_err *e)
{
    int rc = -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    char real[PATH_MAX];
    if (fd < 0) {
        nx_seterr(e, "%s: %s", path, errno == ELOOP || errno == ENOTDIR
                                         ? "refused: not a folder (a link or a file)"
                                         : strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !realpath(path, real)) {
        nx_seterr(e, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (check_one(path, &st, 0, 0, e) != 0 || check_ancestors(path, real, e) != 0)
        goto out;
    if (entries && check_entries(path, fd, e) != 0)
        goto out;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && what)
        nx_preferr(e, "%s", what);
    return rc;
}
