/*
 * What nexo-update trusts must be out of reach of everyone but root and the
 * running user (contracts §5, §9): the module files, pipeline and
 * configuration files, and the folders it keeps its own state in
 * ([paths] state, backups, modules, pipelines, [server] trusted_keys, hook
 * folders). A file or folder, and every folder above it up to "/", must be
 * owned by root or the running user and not be group- or world-writable;
 * a root-owned sticky folder (/tmp) passes as an ancestor only, never as
 * the checked folder or one of its entries. The folders above are those of
 * the path as written (a symbolic link on the way lives in one of them)
 * and those of the path it resolves to.
 */
#ifndef NX_SECPATH_H
#define NX_SECPATH_H

#include "util.h"

/* A regular file and the folders above it. The message names the path
 * and why: "PATH: refused: folder is world-writable (mode 0777)". */
int nx_check_secure_path(const char *path, nx_err *e);

/* A folder (it must exist and be a folder, not a link to one), its
 * ancestors, and - with `entries` set - every entry directly in it
 * (a file or folder another user owns or may write is refused too; links
 * are not followed). `what` names the setting in the message when not
 * NULL, e.g. "[paths] state": "[paths] state: /var/lib/x: refused: ...". */
int nx_check_secure_dir(const char *path, const char *what, int entries, nx_err *e);

#endif
