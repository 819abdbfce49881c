/* Where the fuzz targets write their scratch files: /dev/shm (memory, many
 * times faster than a disk for a file written on every input) when it is
 * there and writable, else /tmp. */
#ifndef NX_FUZZ_SCRATCH_H
#define NX_FUZZ_SCRATCH_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static inline const char *fz_tmp(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    return "/tmp";
}

static inline int fz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

/* Remove a scratch tree, links not followed (the targets run as root, so
 * no mode keeps anything). 0, or -1 when something stayed. */
static inline int fz_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    return nftw(path, fz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
