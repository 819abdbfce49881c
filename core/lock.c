#include "lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

/* The lock file must be a regular file of ours: a link is never followed
 * (O_NOFOLLOW), a fifo or device is never waited on (O_NONBLOCK), and
 * anything else planted there is refused, naming it (with root_ok, to
 * be looked at only, a file of root's will do too). */
static int lock_file_ok(int fd, const char *path, int root_ok, nx_err *e)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        nx_seterr(e, "%s: %s", path, strerror(errno));
        return -1;
    }
    int owner_ok = st.st_uid == geteuid() || (root_ok && st.st_uid == 0);
    if (!S_ISREG(st.st_mode) || !owner_ok || st.st_nlink != 1) {
        nx_seterr(e, "%s: refused: the lock file must be a regular file of uid %u with one "
                  "link (it is %s of uid %u with %lu)", path, (unsigned)geteuid(),
                  S_ISREG(st.st_mode) ? "a file" : "not a regular file", (unsigned)st.st_uid,
                  (unsigned long)st.st_nlink);
        return -1;
    }
    return 0;
}

int nx_lock_acquire(const char *state_dir, const char *update_id, int *fd, nx_err *e)
{
    if (nx_mkdirs(state_dir, 0700, e) != 0)
        return -1;
    char *path = lock_path(state_dir);
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0600);
    if (f < 0) {
        nx_seterr(e, "%s: cannot open lock file: %s", path,
                  errno == ELOOP ? "refused: a symbolic link" : strerror(errno));
        free(path);
        return -1;
    }
    if (lock_file_ok(f, path, 0, e) != 0) {
        close(f);
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
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (f < 0) {
        int err = errno;
        if (err != ENOENT)
            nx_seterr(e, "%s: cannot open lock file: %s", path,
                      err == ELOOP ? "refused: a symbolic link" : strerror(err));
        free(path);
        return err == ENOENT ? 0 : -1;
    }
    if (lock_file_ok(f, path, 1, e) != 0) { /* only looked at: root's will do */
        close(f);
        free(path);
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
