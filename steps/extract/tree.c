/* Folder helpers of the extract step: walking below the staging folder
 * without ever following a symlink, removing a staged tree and giving it
 * to the site's owner, both by descriptor (core/fsat.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "extract.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsat.h"
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

int xt_chown_tree(int dfd, uid_t uid, gid_t gid)
{
    nx_err e;
    return nx_chown_below(dfd, uid, gid, "the staging folder", &e);
}

int xt_rmtree(const char *path)
{
    nx_err e;
    return nx_rmtree(path, &e);
}
