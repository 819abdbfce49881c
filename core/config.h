/* nexo-update.ini (contracts §3). */
#ifndef NX_CONFIG_H
#define NX_CONFIG_H

#include <jansson.h>
#include "util.h"

typedef struct nx_config nx_config;

/* Load and validate; unknown sections and keys, bad numbers, booleans
 * and choices are errors with file:line. Relative paths are resolved
 * against the config file's folder. Unset keys get their defaults. */
nx_config *nx_config_load(const char *path, nx_err *e);
/* Rebuild from a journal snapshot (nx_config_snapshot). */
nx_config *nx_config_from_json(const json_t *snap, nx_err *e);
void nx_config_free(nx_config *c);

/* NULL when the key is unknown or unset without default. */
const char *nx_config_get(const nx_config *c, const char *section, const char *key);
const char *nx_config_file(const nx_config *c);
/* Every set or defaulted value except secrets ([server] api_key), as
 * {"file": ..., "values": {"section.key": value}}. */
json_t *nx_config_snapshot(const nx_config *c);

#endif
