/*
 * Migration and install files (spec §5.2, contracts §7) for the step
 * modules: parsed with libxml2 and fully validated before anything runs,
 * into the schema operations of <nexo/schema.h>; and the migration path
 * from version A to version B over database/upgrades/upgrade_A_B.xml.
 *
 * Linked statically into the modules that need it (hidden there).
 */
#ifndef NX_MIG_H
#define NX_MIG_H

#include <nexo/schema.h>
#include "util.h"

enum nx_cleanup_kind { NX_CLEANUP_DELETE_FILE = 1, NX_CLEANUP_DELETE_DIRECTORY, NX_CLEANUP_CLEAR_CACHE };

typedef struct nx_cleanup {
    enum nx_cleanup_kind kind;
    char *path;         /* as written: relative to the site root (clear_cache: a
                           cache name under var/cache/) */
    int line;
} nx_cleanup;

typedef struct nx_script {
    char *path;         /* as written: relative to the package or site root */
    int line;
} nx_script;

typedef struct nx_mig {
    char *file;         /* the file's path as given */
    int is_install;     /* <install version="..."> rather than <upgrade> */
    char *from;         /* upgrade: from version; install: NULL */
    char *to;           /* upgrade: to version; install: version */
    char *description;  /* may be NULL */
    struct nexo_op *ops;    /* <database> then <data>, in file order */
    size_t nops;
    nx_script *scripts;     /* <custom><script> in file order */
    size_t nscripts;
    nx_cleanup *cleanup;    /* <cleanup> in file order */
    size_t ncleanup;
    void *mem;              /* storage behind the pointers above */
} nx_mig;

/* Parse and validate a migration or install file. `timestamp` replaces
 * {{TIMESTAMP}} in set/where expressions and in insert values. Errors: "FILE:LINE: what" — a
 * malformed file, an unknown element or attribute, a missing required
 * attribute, an unknown type, a bad identifier ("users; DROP"), a
 * cleanup path that is absolute or leaves the site root, from/to that
 * are not SemVer or do not match the file name upgrade_FROM_TO.xml. */
/*
 * Decisions the spec leaves open (v1):
 * - No DOCTYPE at all (so no DTD, no entities): "DOCTYPE is not allowed".
 *   libxml2's own errors read "FILE:LINE: malformed XML: <its message>".
 *   The spec's §5.2 example writes where="last_activity < ..."; such a raw
 *   '<' inside an attribute value is accepted (made &lt; before parsing),
 *   as the spec's format does; anywhere else it is malformed XML.
 * - Lines (op->line, script/cleanup line) are where the element's '<' is.
 * - ops: all of <database> first, then all of <data>, each in file order,
 *   wherever the two stand in the file. <install> allows <description>,
 *   <database> and <data>.
 * - One primary key column per table (no composite keys); primary implies
 *   NOT NULL (null="true" with it is an error); autoincrement needs an
 *   integer primary key. Booleans: true/false/1/0.
 * - length: CHAR/VARCHAR 1..65535 (required), TEXT optional, DECIMAL and
 *   NUMERIC 1..65 (required) with scale 0..30 <= length; other types take
 *   no length and only integer types take UNSIGNED.
 * - Index names are unique in the whole file (PostgreSQL and SQLite name
 *   indexes per schema); index and foreign key columns of a <create_table>
 *   must be columns of that table.
 * - modify_column needs new_type; the column's nullable/default_value are
 *   only meaningful when modify_null/modify_default.
 * - set/where: passed through as written with every {{TIMESTAMP}}
 *   replaced; refused when blank, with a ';' outside '...', "..." or `...`
 *   (doubled quotes and backslash escapes honoured), or with an
 *   unterminated quote.
 * - <description> and paths are trimmed of surrounding whitespace; insert
 *   values are kept exactly (an empty element is ""). Paths drop "." and
 *   empty components (so "a//b/" is "a/b"); a path naming the root itself
 *   ("." or "./") is an error, as are control characters.
 */
nx_mig *nx_mig_load(const char *path, long long timestamp, nx_err *e);
void nx_mig_free(nx_mig *m);

/* Valid identifier: [A-Za-z_][A-Za-z0-9_]{0,62}. */
int nx_mig_ident_ok(const char *s);

/* The migration path from `from` to `to` in `dir` (files named
 * upgrade_A_B.xml with SemVer A < B). The direct file when it exists;
 * otherwise the path with the fewest files (Dijkstra, every edge weight
 * 1); among paths of equal length the one whose sequence of intermediate
 * versions is smallest by SemVer precedence, compared from the first
 * step (so 1.0.0→1.1.0→1.5.0 wins over 1.0.0→1.2.0→1.5.0). Files going
 * backwards (A >= B) are ignored. Errors name the versions reachable
 * from `from`. from == to gives an empty path (the folder is not read).
 * Versions are equal by SemVer precedence (build metadata ignored): two
 * files for the same step are an error; versions[0] and versions[n] are
 * `from` and `to` as given. A file named upgrade_*.xml whose name is not
 * upgrade_A_B.xml with SemVer A and B is an error naming it; other names
 * are skipped. */
typedef struct nx_mig_path {
    char **files;       /* full paths, in order */
    char **versions;    /* n + 1 versions: from, ..., to */
    size_t n;
} nx_mig_path;

int nx_mig_find_path(const char *dir, const char *from, const char *to, nx_mig_path *out,
                     nx_err *e);
void nx_mig_path_free(nx_mig_path *p);

#endif
