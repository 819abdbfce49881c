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
 * {{TIMESTAMP}} in set/where expressions. Errors: "FILE:LINE: what" — a
 * malformed file, an unknown element or attribute, a missing required
 * attribute, an unknown type, a bad identifier ("users; DROP"), a
 * cleanup path that is absolute or leaves the site root, from/to that
 * are not SemVer or do not match the file name upgrade_FROM_TO.xml. */
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
 * from `from`. from == to gives an empty path. */
typedef struct nx_mig_path {
    char **files;       /* full paths, in order */
    char **versions;    /* n + 1 versions: from, ..., to */
    size_t n;
} nx_mig_path;

int nx_mig_find_path(const char *dir, const char *from, const char *to, nx_mig_path *out,
                     nx_err *e);
void nx_mig_path_free(nx_mig_path *p);

#endif
