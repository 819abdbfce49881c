/*
 * The database's version of a component: what system_versions (spec §2.3)
 * says was registered last. Migrations start from it and a version is
 * registered only when the migrations to it ran (docs/updates.md, "The
 * database's version is the truth"). For the step modules that need it
 * (migrate, register_version); linked statically, hidden there.
 */
#ifndef NEXO_DBVER_H
#define NEXO_DBVER_H

#include <nexo/driver.h>

/* Shared key (host->shared_set) the migrate step sets to the version the
 * database of a component reached in this update: "migrated." COMPONENT. */
#define NX_SHARED_MIGRATED "migrated."

/* The registered version of `component`: the row with the highest
 * version_code (the newest among equal codes). 0 with *version set to a
 * malloc'd string, or to NULL when none is registered or the table does
 * not exist yet; or the driver's negative code with its message set. */
int nx_db_registered_version(const struct nexo_host *h, nexo_ctx *c, struct nexo_db *db,
                             const char *component, char **version);

/* The shared key of `component` (NX_SHARED_MIGRATED COMPONENT), malloc'd. */
char *nx_migrated_key(const char *component);

#endif
