/* Folder helpers of the extract step: walking below the staging folder
 * without ever following a symlink, and removing a staged tree. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "extract.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* One step down: open (and with `create` first make) the folder `name`. */
static int subdir(int dfd, const char *name, int create)
{
    int made = 0;
    if (create) {
        made = mkdirat(dfd, name, 0700) == 0;
        if (!made && errno != EEXIST)
            return -1;
    }
    int fd = openat(dfd, name, DIR_FLAGS);
    if (fd >= 0 && made && fchmod(fd, 0755) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

int xt_opendir(int dfd, const char *rel, size_t len, int create)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    size_t i = 0;
    while (fd >= 0 && i < len) {
        const char *slash = memchr(rel + i, '/', len - i);
        size_t n = slash ? (size_t)(slash - (rel + i)) : len - i;
        char name[NAME_MAX + 1];
        if (n == 0 || n > NAME_MAX) {
            close(fd);
            errno = n ? ENAMETOOLONG : EINVAL;
            return -1;
        }
        memcpy(name, rel + i, n);
        name[n] = '\0';
        int next = subdir(fd, name, create);
        int err = errno;
        close(fd);
        errno = err;
        fd = next;
        i += n + 1;
    }
    return fd;
}

/* Give everything in the folder `fd` (consumed) to uid/gid, deepest
 * first, never following a symlink. */
static int chown_contents(int fd, uid_t uid, gid_t gid)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    int rc = 0;
    for (struct dirent *de = readdir(d); de && rc == 0; de = readdir(d)) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = -1;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), de->d_name, DIR_FLAGS);
            rc = sub < 0 ? -1 : chown_contents(sub, uid, gid);
        }
        if (rc == 0 && fchownat(dirfd(d), de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
            rc = -1;
    }
    int err = errno;
    closedir(d);
    errno = err;
    return rc;
}

int xt_chown_tree(int dfd, uid_t uid, gid_t gid)
{
    int fd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -1 : chown_contents(fd, uid, gid);
}

static int rm_at(int dfd, const char *name);

/* Empty the folder `fd` (consumed). */
static int rm_contents(int fd)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    int rc = 0;
    for (struct dirent *de = readdir(d); de && rc == 0; de = readdir(d)) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = rm_at(dirfd(d), de->d_name);
    }
    int err = errno;
    closedir(d);
    errno = err;
    return rc;
}

static int rm_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) == 0 || errno == ENOENT ? 0 : -1;
    /* A folder staged with a mode such as 0555: ours, so make it 0700. */
    if ((st.st_mode & 0700) != 0700 && fchmodat(dfd, name, 0700, 0) != 0)
        return -1;
    int fd = openat(dfd, name, DIR_FLAGS);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (rm_contents(fd) != 0)
        return -1;
    return unlinkat(dfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

int xt_rmtree(const char *path)
{
    char *dir = nx_dirname(path);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = rm_at(dfd, nx_basename(path));
    int err = errno;
    close(dfd);
    errno = err;
    return rc;
}
