/*
 * Compatibility between core and plugins (docs/releases.md §5
 * "Compatibility"; issue 6): the conflicts of one release with what is
 * installed, and the dependency order of plugins. Pure: no I/O, no
 * globals; the update check (core/check.c) feeds it the site's
 * version.php files and the source's releases.
 *
 * A conflict is a version range one component declares on another that
 * the site would not meet after the update:
 *   core release V   its compatibility.plugins {SLUG: RANGE} against the
 *                    installed plugins; every installed plugin whose
 *                    requires.nexosupport V does not meet;
 *   plugin release V of S
 *                    its requires.nexosupport against the installed core;
 *                    its dependencies {SLUG: RANGE} against the installed
 *                    plugins (one not installed is a conflict too); every
 *                    other installed plugin whose dependencies[S] V does
 *                    not meet.
 * Each is an object {"plugin": SLUG or "core" (the component the range
 * constrains), "range": RANGE or null (not a string), "installed": that
 * component's installed version or null, "needed_by": "NAME VERSION" of
 * who declares the range, "message": one line naming them}.
 */
#ifndef NX_COMPAT_H
#define NX_COMPAT_H

#include <jansson.h>
#include <stddef.h>
#include "util.h"

/* An installed component, as its version.php says. */
typedef struct nx_installed {
    const char *slug;           /* NULL for core */
    const char *version;
    const json_t *requires;     /* object, or NULL */
    const json_t *dependencies; /* object {SLUG: RANGE}, or NULL */
} nx_installed;

/* A release of a component, as the update source describes it. */
typedef struct nx_candidate {
    const char *slug;           /* NULL for core */
    const char *version;
    const json_t *requires;     /* only "nexosupport" of a plugin release is a conflict rule */
    const json_t *compat;       /* core: "compatibility" {"plugins": {SLUG: RANGE}}, or NULL */
    const json_t *dependencies; /* plugin: {SLUG: RANGE}, or NULL */
} nx_candidate;

/* The conflicts of `rel` with the installed site site[0..n) (core has
 * slug NULL; a plugin's own entry is skipped), appended to the array
 * `out` in rule order. Returns how many were appended. */
size_t nx_compat_conflicts(const nx_installed *site, size_t n, const nx_candidate *rel,
                           json_t *out);

/* Dependency order of n plugins: deps[i] is plugin i's {SLUG: RANGE}
 * (NULL: none); only dependencies among the n count. `order` receives a
 * permutation of 0..n-1 where every plugin comes after those it depends
 * on, otherwise in the given order. A cycle: -1, and e names it
 * ("plugin dependency cycle: a -> b -> a"). */
int nx_compat_order(const char *const *slugs, const json_t *const *deps, size_t n,
                    size_t *order, nx_err *e);

#endif
