/* Private folders reached through checked descriptors (pdir.h). */
#include "pdir.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct nx_pdir *find(struct nx_pdirs *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].key, key) == 0)
            return &p->v[i];
    return NULL;
}

static void drop(struct nx_pdir *d)
{
    if (d->fd >= 0)
        close(d->fd);
    free(d->key);
    free(d->path);
    memset(d, 0, sizeof *d);
    d->fd = -1;
}

const char *nx_pdir_get(struct nx_pdirs *p, const char *key, const char *path, const char *id,
                        char *why, size_t whylen)
{
    struct nx_pdir *d = find(p, key);
    if (d && strcmp(d->path, path) == 0)
        return d->proc;
    if (!d && p->n == NX_PDIR_MAX) {
        snprintf(why, whylen, "%s: too many private folders in one update", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s: refused: cannot open the folder this update made: %s%s",
                 path, strerror(errno),
                 errno == ELOOP || errno == ENOTDIR ? " (replaced by something else)" : "");
        return NULL;
    }
    struct stat st;
    char have[64];
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    nx_pdir_id(&st, have, sizeof have);
    const char *bad = NULL;
    if (strcmp(have, id) != 0)
        bad = "it is not the folder this update made (renamed away and replaced?)";
    else if (st.st_uid != geteuid())
        bad = "it no longer belongs to the running user";
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
        bad = "it is writable by group or others";
    if (bad) {
        snprintf(why, whylen, "%s: refused: %s", path, bad);
        close(fd);
        return NULL;
    }
    if (!d) {
        d = &p->v[p->n++];
        memset(d, 0, sizeof *d);
        d->key = nx_xstrdup(key);
    } else {
        close(d->fd);
        free(d->path);
    }
    d->path = nx_xstrdup(path);
    d->fd = fd;
    snprintf(d->proc, sizeof d->proc, "/proc/self/fd/%d", fd);
    return d->proc;
}

void nx_pdir_unmask(const struct nx_pdirs *p, char *msg, size_t len)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct nx_pdir *d = &p->v[i];
        size_t pl = strlen(d->proc), rl = strlen(d->path);
        char *at = msg;
        while ((at = strstr(at, d->proc))) {
            char next = at[pl];
            if (next >= '0' && next <= '9') { /* fd/1 is not fd/12 */
                at += pl;
                continue;
            }
            size_t tail = strlen(at + pl);
            size_t used = (size_t)(at - msg);
            if (used + rl + tail + 1 > len)
                break;
            memmove(at + rl, at + pl, tail + 1);
            memcpy(at, d->path, rl);
            at += rl;
        }
    }
}

void nx_pdirs_close(struct nx_pdirs *p)
{
    for (size_t i = 0; i < p->n; i++)
        drop(&p->v[i]);
    p->n = 0;
}
