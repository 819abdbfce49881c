/*
 * nexo-update step modules.
 *
 * A step module exports one `const struct nexo_step_module
 * nexo_step_module` (NEXO_STEP_MODULE below does it). The host calls:
 *   validate  once per instance before any step of the pipeline runs
 *             (check the settings; fail closed),
 *   plan      for --dry-run: log what run would do, change nothing.
 *             In a dry run the steps flagged NEXO_STEP_PRECHECK that lead
 *             the pipeline (checks, download, verify, extract) are RUN —
 *             they never change the live site — so that every later
 *             step plans from the package that would be installed; then
 *             they are undone (fact "dry_run" is "1" in all of it: an
 *             undo that would tell the world an update failed must not),
 *   run       do the work; report consistent points with checkpoint();
 *             journal what undo needs with state_set() BEFORE doing it,
 *   undo      put back what run did — also a partial run, also in a fresh
 *             process from the journaled state alone, also a second time,
 *   commit    after every step of the pipeline succeeded (drop old trees,
 *             apply retention); may run again after a crash,
 *   cleanup   release in-process resources; called once at the end.
 * Each returns NEXO_OK or a negative NEXO_E* code with a message set by
 * host->fail().
 */
#ifndef NEXO_STEP_H
#define NEXO_STEP_H

#include <nexo/nexo.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A setting the step accepts in its pipeline section. */
struct nexo_setting {
    const char *name;
    const char *default_value;  /* NULL: no default */
    unsigned flags;             /* NEXO_SETTING_* */
    const char *help;           /* one line for `pipeline show` */
};

#define NEXO_SETTING_REQUIRED 1u

/* Step flags. */
#define NEXO_STEP_PRECHECK 1u   /* never changes the live site (checks,
                                   download, verify, staging): a failure
                                   up to and including such steps exits 1 */

typedef int (*nexo_step_fn)(const struct nexo_host *h, nexo_ctx *c);

struct nexo_step_module {
    uint32_t abi;                         /* NEXO_ABI_VERSION */
    uint32_t size;                        /* sizeof(struct nexo_step_module) */
    const char *name;                     /* must equal the file name without .so */
    const char *version;                  /* the module's own SemVer */
    const char *summary;                  /* one line */
    unsigned flags;                       /* NEXO_STEP_* */
    const struct nexo_setting *settings;  /* ends with { NULL }; NULL = none */
    nexo_step_fn validate;                /* optional */
    nexo_step_fn plan;                    /* optional */
    nexo_step_fn run;                     /* required */
    nexo_step_fn undo;                    /* required */
    nexo_step_fn commit;                  /* optional */
    void (*cleanup)(const struct nexo_host *h, nexo_ctx *c); /* optional */
};

/* Smallest descriptor the host accepts for ABI 1 (up to `cleanup`). */
#define NEXO_STEP_MIN_SIZE \
    (offsetof(struct nexo_step_module, cleanup) + sizeof(void (*)(void)))

#define NEXO_STEP_SYMBOL "nexo_step_module"

/* Define the module's descriptor:  NEXO_STEP_MODULE = { ... fields ... };
 * abi and size are filled in; give the rest with designated initializers. */
#define NEXO_STEP_MODULE \
    NEXO_EXPORT extern const struct nexo_step_module nexo_step_module; \
    const struct nexo_step_module nexo_step_module

#define NEXO_STEP_HEADER .abi = NEXO_ABI_VERSION, .size = sizeof(struct nexo_step_module)

#ifdef __cplusplus
}
#endif
#endif
