/* Internals of the migrate step. */
#ifndef NX_MIGRATE_H
#define NX_MIGRATE_H

#include <nexo/step.h>

/* Run `script` (a path below `base`) with the documented environment;
 * kills it after timeout_s. 0 or a NEXO_E* code with h->fail set. */
int mg_run_script(const struct nexo_host *h, nexo_ctx *c, const char *base, const char *script,
                  const char *from, const char *to, int timeout_s, const char *where);

/* Cleanup actions move their target into ROOT/.nexo-trash-<update id>/
 * (journaled first), undo moves them back, commit deletes the trash. */
int mg_trash_move(const struct nexo_host *h, nexo_ctx *c, const char *root, const char *rel,
                  const char *where);
int mg_trash_restore(const struct nexo_host *h, nexo_ctx *c);
int mg_trash_purge(const struct nexo_host *h, nexo_ctx *c);

#endif
