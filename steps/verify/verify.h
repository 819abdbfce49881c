/* Internals of the verify step exposed for the tests and the fuzz
 * targets (fuzz/fuzz_verify.c). */
#ifndef NX_STEP_VERIFY_H
#define NX_STEP_VERIFY_H

#include <nexo/step.h>
#include <stddef.h>

/* nexo-release.json read from the package pkg (.tar.zst, .tar.gz or
 * .zip) as the verify step reads it: its text (malloc'ed, NUL-terminated,
 * *len bytes), or NULL after failing through h naming pkg. */
char *vf_manifest_text(const struct nexo_host *h, nexo_ctx *c, const char *pkg, size_t *len);

#endif
