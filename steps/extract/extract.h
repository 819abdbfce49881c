/* Internals of the extract step: one extraction (unpack.c) and the
 * folder helpers it needs (tree.c). */
#ifndef NX_STEP_EXTRACT_H
#define NX_STEP_EXTRACT_H

#include <nexo/step.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h"

#define XT_MANIFEST_MAX NX_MANIFEST_MAX /* nexo-release.json: core/manifest.h */
#define XT_BUFSIZE (64u * 1024u)
#define XT_NAMESHOW 400                 /* an entry's name as shown in messages */

/* One extraction of a package into a folder. */
struct xt {
    const struct nexo_host *h;
    nexo_ctx *c;
    const char *pkg;        /* the package file, named in every message */
    int pkgfd;              /* read twice: the manifest, then the payload */
    uint64_t pkgsize;
    uint64_t max_ratio;     /* decompressed stream <= ratio * pkgsize (+1 MiB); 0: off */
    nx_manifest *m;         /* after xt_read_manifest */
    char *mtext;            /* nexo-release.json as read */
    size_t mlen;
    unsigned char *seen;    /* one flag per manifest entry */
    int dfd;                /* where the payload goes: staging[/subdir] */
    char staging_id[64];    /* dev:ino of the staging folder (offer.h nx_pdir_id) */
    uint64_t written;       /* file bytes written so far */
    char *buf;              /* XT_BUFSIZE */
    char show[XT_NAMESHOW]; /* the current entry's name, printable */
    char name[4097];        /* ... as the manifest spells it */
};

/* Pass 1: find nexo-release.json (anywhere in the package), read and
 * parse it. Changes nothing on disk. */
int xt_read_manifest(struct xt *x);
/* Pass 2: every entry checked, then written below x->dfd; afterwards
 * every manifest entry must have been extracted. */
int xt_unpack(struct xt *x);
void xt_free(struct xt *x);

/* Open the folder rel[0..len) below dfd one component at a time, never
 * through a symlink (O_NOFOLLOW); with `create`, missing folders are made
 * (mode 0755). len 0 gives a new descriptor of dfd itself. -1 with errno. */
int xt_opendir(int dfd, const char *rel, size_t len, int create);
/* Give every entry below the folder dfd (not dfd itself) to uid/gid by
 * descriptor (nx_chown_below: modes stay, a link gets the owner itself, a
 * replaced entry, a hard-linked file or another file system is refused).
 * -1 with errno. */
int xt_chown_tree(int dfd, uid_t uid, gid_t gid);
/* Remove a tree by descriptor (nx_rmtree: no link followed, no other
 * file system entered), also folders of ours whose mode forbids it (made
 * 0700 through their checked descriptor). A missing path is fine. -1
 * with errno. */
int xt_rmtree(const char *path);

#endif
