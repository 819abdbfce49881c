#include "secpath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_one(const char *path, const struct stat *st, int is_file, nx_err *e)
{
    uid_t me = geteuid();
    if (st->st_uid != 0 && st->st_uid != me) {
        nx_seterr(e, "%s: refused: owned by uid %u, not by root or the running user",
                  path, (unsigned)st->st_uid);
        return -1;
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0)
        return 0;
    if (!is_file && (st->st_mode & S_ISVTX) && st->st_uid == 0)
        return 0;
    nx_seterr(e, "%s: refused: %s is %s-writable (mode %04o)", path,
              is_file ? "file" : "folder",
              (st->st_mode & S_IWOTH) ? "world" : "group", (unsigned)(st->st_mode & 07777));
    return -1;
}

static int check_ancestors(const char *path, const char *real, nx_err *e)
{
    char *dir = nx_dirname(real);
    for (;;) {
        struct stat st;
        if (stat(dir, &st) != 0) {
            nx_seterr(e, "%s: %s", dir, strerror(errno));
            free(dir);
            return -1;
        }
        if (check_one(dir, &st, 0, e) != 0) {
            if (strcmp(dir, path) != 0)
                nx_preferr(e, "%s", path);
            free(dir);
            return -1;
        }
        if (strcmp(dir, "/") == 0)
            break;
        char *up = nx_dirname(dir);
        free(dir);
        dir = up;
    }
    free(dir);
    return 0;
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
    if (check_one(real, &st, 1, e) != 0) {
        if (strcmp(real, path) != 0)
            nx_preferr(e, "%s", path);
        return -1;
    }
    return check_ancestors(path, real, e);
}


int nx_check_secure_dir(const char *path, const char *what, int entries, nx_err *e)
{
    int rc = -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        nx_seterr(e, "%s: %s", path, errno == ELOOP || errno == ENOTDIR
                                         ? "refused: not a folder (a link or a file)"
                                         : strerror(errno));
        goto out;
    }
    char real[PATH_MAX];
    if (fstat(fd, &st) != 0 || !realpath(path, real)) {
        nx_seterr(e, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (check_one(path, &st, 0, e) != 0 || check_ancestors(path, real, e) != 0)
        goto out;
    if (entries) {
        int dfd = dup(fd);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
            if (dfd >= 0)
                close(dfd);
            nx_seterr(e, "%s: cannot list: %s", path, strerror(errno));
            goto out;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            struct stat es;
            if (fstatat(fd, de->d_name, &es, AT_SYMLINK_NOFOLLOW) != 0)
                continue; /* gone meanwhile */
            char *full = nx_path_join(path, de->d_name);
            int bad = !S_ISLNK(es.st_mode) && check_one(full, &es, !S_ISDIR(es.st_mode), e) != 0;
            free(full);
            if (bad) {
                closedir(d);
                goto out;
            }
        }
        closedir(d);
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && what)
        nx_preferr(e, "%s", what);
    return rc;
}
