/* Reader for version.php files (contracts §7): a PHP file that returns a
 * literal array. Nothing is executed: only "<?php", comments, and
 * "return [ ... ];" / "return array( ... );" with literal strings,
 * integers, floats, booleans, null and nested arrays are accepted;
 * anything else is an error naming file:line. */
#ifndef NX_PHPVER_H
#define NX_PHPVER_H

#include <jansson.h>
#include "util.h"

/* Keyed arrays become JSON objects (keys as strings, in file order),
 * lists ("[ 'a', 'b' ]") become JSON arrays. An array mixing keyed and
 * unkeyed entries, or repeating a key, is an error. `name` is used in
 * messages (normally the file path). */
json_t *nx_phpver_parse(const char *text, size_t len, const char *name, nx_err *e);
json_t *nx_phpver_load(const char *path, nx_err *e);

#endif
