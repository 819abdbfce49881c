/* INI files through inih, with the line of every entry.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO and with 200-byte
 * lines; nx_ini_parse feeds it through its own line reader so that every
 * callback knows its line, every section header is reported (also an
 * empty one), continuation lines are told apart from repeated keys, and
 * lines of any length work. */
#ifndef NX_INI_H
#define NX_INI_H

#include "util.h"

/* key == NULL: a section header at `line`. cont != 0: the value continues
 * the previous key on an indented line. Return 0, or -1 with e set (the
 * message without file:line, which nx_ini_parse adds). */
typedef int (*nx_ini_fn)(void *user, const char *section, const char *key,
                         const char *value, int line, int cont, nx_err *e);

int nx_ini_parse(const char *path, nx_ini_fn fn, void *user, nx_err *e);

#endif
