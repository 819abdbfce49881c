/*
 * Private folders (contracts §9): a folder a step made for this update
 * inside a tree another user controls (the staging folder in the site
 * root, which belongs to www-data) is reached by the steps after it only
 * through a descriptor the host opened and checked, never by its path,
 * which the site's owner could rename away and replace between a check
 * and a use.
 *
 * A step publishes the folder as shared KEY = its path together with
 * shared "KEY.private" = "<st_dev>:<st_ino>" of the folder it made
 * (nx_pdir_id). From then on h->shared_get(c, "KEY") opens the path with
 * O_NOFOLLOW, checks that it is that very folder, owned by the running
 * user and writable by nobody else, keeps the descriptor for the rest of
 * the process and returns "/proc/self/fd/N": every path built on it is
 * resolved from the checked folder, whatever happens to the name. A
 * folder that fails the check makes shared_get return NULL with the
 * call's message set ("PATH: refused: ..."), and the step's call fail.
 * Messages and log lines show the folder's path again instead of
 * /proc/self/fd/N.
 */
#ifndef NX_PDIR_H
#define NX_PDIR_H

#include <stddef.h>
#include <sys/stat.h>

#include "offer.h" /* NX_PDIR_SUFFIX, nx_pdir_id */

#define NX_PDIR_MAX 8

struct nx_pdir {
    char *key;     /* the shared key */
    char *path;    /* its value when opened */
    int fd;
    char proc[32]; /* "/proc/self/fd/N" */
};

struct nx_pdirs {
    struct nx_pdir v[NX_PDIR_MAX];
    size_t n;
};

/* The checked descriptor path for shared KEY = path with id; NULL with
 * why (a message naming the path) on refusal. */
const char *nx_pdir_get(struct nx_pdirs *p, const char *key, const char *path, const char *id,
                        char *why, size_t whylen);

/* Replace every "/proc/self/fd/N" of an open private folder in msg
 * (NUL-terminated, buffer of len bytes) by the folder's path. */
void nx_pdir_unmask(const struct nx_pdirs *p, char *msg, size_t len);

void nx_pdirs_close(struct nx_pdirs *p);

#endif
