#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static char *lock_path(const char *state_dir)
{
    return nx_path_join(state_dir, "lock");
}

static void read_holder(int fd, long *pid, char *id, size_t idlen)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    *pid = 0;
    if (id && idlen)
        id[0] = '\0';
    if (n <= 0)
        return;
    buf[n] = '\0';
    char idbuf[200] = "";
    if (sscanf(buf, "pid=%ld update=%199s", pid, idbuf) >= 1 && id && idlen)
        snprintf(id, idlen, "%s", strcmp(idbuf, "-") == 0 ? "" : idbuf);
}

int nx_lock_note(int fd, const char *update_id)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "pid=%ld update=%s\n", (long)getpid(),
                     update_id && *update_id ? update_id : "-");
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return -1;
    return fsync(fd);
}

int nx_lock_acquire(const char *state_dir, const char *update_id, int *fd, nx_err *e)
{
    if (nx_mkdirs(state_dir, 0700, e) != 0)
        return -1;
    char *path = lock_path(state_dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (f < 0) {
        nx_seterr(e, "%s: cannot open lock file: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            long pid;
            char id[200];
            read_holder(f, &pid, id, sizeof id);
            nx_seterr(e, "another update holds the lock %s (pid %ld%s%s)", path, pid,
                      *id ? ", update " : "", id);
        } else {
            nx_seterr(e, "%s: cannot lock: %s", path, strerror(err));
        }
        close(f);
        free(path);
        return err == EWOULDBLOCK ? 1 : -1;
    }
    if (nx_lock_note(f, update_id) != 0) {
        nx_seterr(e, "%s: cannot write lock holder: %s", path, strerror(errno));
        close(f);
        free(path);
        return -1;
    }
    free(path);
    *fd = f;
    return 0;
}

void nx_lock_release(int fd)
{
    if (fd < 0)
        return;
    if (ftruncate(fd, 0) != 0) {
        /* the record is only informative; flock is what counts */
    }
    flock(fd, LOCK_UN);
    close(fd);
}

int nx_lock_probe(const char *state_dir, long *pid, char *id, size_t idlen, nx_err *e)
{
    char *path = lock_path(state_dir);
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f < 0) {
        int err = errno;
        free(path);
        if (err == ENOENT)
            return 0;
        nx_seterr(e, "%s: cannot open lock file: %s", state_dir, strerror(err));
        return -1;
    }
    free(path);
    if (flock(f, LOCK_SH | LOCK_NB) == 0) {
        flock(f, LOCK_UN);
        close(f);
        return 0;
    }
    read_holder(f, pid, id, idlen);
    close(f);
    return 1;
}
