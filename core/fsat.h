/*
 * Working on trees that someone else may write (the site, whose files
 * belong to the web server's user; contracts §9, issue 11) by descriptor:
 * every step goes from a folder descriptor to a name in it, a symbolic
 * link is never followed below a start folder (it is removed, moved or
 * refused, never resolved), a walk never crosses into another file system,
 * and permissions are changed only on descriptors checked with fstat.
 */
#ifndef NX_FSAT_H
#define NX_FSAT_H

#include <sys/stat.h>
#include <sys/types.h>

#include "util.h"

/* Open the folder at `path` (absolute, or relative to the current
 * folder) one component at a time. A symbolic link on the way is followed
 * only when nobody but root and us can have put it there: the folder
 * holding it belongs to root or us and is not writable by group or others,
 * or it is sticky (/tmp) and the link is root's or ours. Any other link
 * is refused, naming the path and the link. Gives an O_PATH descriptor
 * (usable as the folder of *at calls); -1 with e and errno. */
int nx_open_dir_path(const char *path, nx_err *e);

/* Open the folder `name` in dfd, never through a symbolic link (ELOOP or
 * ENOTDIR: a link, or not a folder). With `want`, the folder must be the
 * one it describes (st_dev and st_ino; ESTALE otherwise). -1 with errno. */
int nx_openat_dir(int dfd, const char *name, const struct stat *want);

/* Open the folder `rel` ("a/b/c"; "" or "." is dfd itself) below dfd one
 * component at a time, none of them a symbolic link: a link on the way is
 * refused, naming `shown` (how the caller names dfd) and the path up to
 * the link. -1 with e and errno (ENOENT when a component is missing). */
int nx_open_below(int dfd, const char *rel, const char *shown, nx_err *e);

/* Remove `name` in dfd and everything below it by descriptor: a symbolic
 * link is removed, never followed; a folder on another file system than
 * `name` itself is refused; a folder of ours we may not read or write is
 * opened with O_NOFOLLOW, checked with fstat and made 0700 through its
 * descriptor. `shown` is the path of `name` for messages, which name the
 * entry that failed. A missing `name` is fine. -1 with e and errno. */
int nx_rmtree_at(int dfd, const char *name, const char *shown, nx_err *e);

/* Give every entry below the folder dfd (not dfd itself) to uid/gid,
 * deepest first, through descriptors checked with fstat (a link gets the
 * owner itself, its target is untouched); never into another file system.
 * `shown` names dfd in messages. -1 with e and errno. */
int nx_chown_below(int dfd, uid_t uid, gid_t gid, const char *shown, nx_err *e);

#endif
