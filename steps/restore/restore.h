/* Internals of the restore step exposed for the tests and the fuzz
 * targets (fuzz/fuzz_restore.c). */
#ifndef NX_STEP_RESTORE_H
#define NX_STEP_RESTORE_H

#include <nexo/step.h>

/* Unpack the backup's files archive into the folder staging (which
 * exists) as the restore step does: every entry a plain relative file,
 * folder or symlink, the paths of `preserve` (space separated)
 * left out ("" : none). 0, or a NEXO_E* code failed through h naming the archive or
 * the entry; *entries: how many were written. */
int rs_unpack(const struct nexo_host *h, nexo_ctx *c, const char *archive, const char *staging,
              const char *preserve, unsigned long *entries);

#endif
