/* Loading step and driver modules (contracts §5). */
#ifndef NX_LOADER_H
#define NX_LOADER_H

#include <nexo/step.h>
#include <nexo/driver.h>
#include "util.h"

enum nx_kind { NX_STEP, NX_DRIVER };

typedef struct nx_module {
    char *path;
    enum nx_kind kind;
    void *handle;
    const struct nexo_step_module *step;     /* NX_STEP */
    const struct nexo_driver_module *driver; /* NX_DRIVER */
} nx_module;

/* "health_check" -> MODULES/steps/health_check.so; an absolute path is
 * taken as it is. NULL with e set for a name that is not [a-z0-9_]+. */
char *nx_module_resolve(const char *modules_dir, enum nx_kind kind, const char *name,
                        nx_err *e);
/* Refuses, naming the file: missing file, a group/world-writable file or
 * folder on its path (a root-owned sticky folder such as /tmp excepted),
 * an owner other than root or the caller, dlopen errors, a missing or
 * unversioned descriptor symbol, another ABI, a wrong descriptor size, a
 * name other than the file's, missing required functions. */
nx_module *nx_module_load(const char *path, enum nx_kind kind, nx_err *e);
void nx_module_unload(nx_module *m);
#include "secpath.h"

#endif
