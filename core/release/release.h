/* nexo-release, the vendor's and plugin authors' tool (contracts §1, §6):
 * keys, release packages, the signed static index. Internal header. */
#ifndef NX_RELEASE_H
#define NX_RELEASE_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "manifest.h"
#include "trust.h"
#include "util.h"

#define REL_EXIT_OK 0
#define REL_EXIT_FAILED 1
#define REL_EXIT_USAGE 2

#define REL_INDEX_NAME "index.json"
#define REL_DEFAULT_EXPIRES 30      /* days */
#define REL_MAX_EXPIRES 36500

/* Global options. */
struct rel_ctx {
    int json;    /* --json: one document on stdout */
    int quiet;   /* -q: errors only */
};

/* Print a JSON document on stdout (reference stolen). */
void rel_print_json(json_t *doc);

/* ---- source tree (tree.c) ---- */

/* The payload: every file, folder and symlink under src, sorted by path
 * (strcmp), hashed. Refuses devices, fifos, sockets, setuid/setgid/sticky
 * modes, links leaving the tree, a nexo-release.json at the root, and the
 * folder `avoid` (the repository) inside the tree. Skips `.git`. */
struct rel_tree {
    nx_entry *entries;
    size_t n, cap;
    uint64_t total_size;
};
int rel_tree_walk(const char *src, const char *avoid, struct rel_tree *t, nx_err *e);
void rel_tree_free(struct rel_tree *t);

/* ---- release metadata from version.php (meta.c) ---- */

struct rel_meta {
    char *component;     /* "core" | "plugin:SLUG" */
    char *slug;          /* plugins: SLUG; core: NULL */
    char *version;
    uint64_t version_code;
    char *release_date;  /* YYYY-MM-DD */
    char *branch;
    char *build;
    json_t *requires;       /* object */
    json_t *compatibility;  /* object */
    json_t *dependencies;   /* object or NULL */
};
/* Is "core" or "plugin:SLUG" well formed? Fills *slug (malloc'ed) for a
 * plugin. */
int rel_component_parse(const char *component, char **slug, nx_err *e);
/* The version.php of the source: src/core/version.php (core) or
 * src/version.php (plugin). */
char *rel_version_file(const char *component, const char *src);
/* Read version.php; `date` (--date, may be NULL) is the release date when
 * version.php has none. */
int rel_meta_load(struct rel_meta *m, const char *component, const char *src, const char *date,
                  nx_err *e);
void rel_meta_free(struct rel_meta *m);
/* YYYY-MM-DD, a real date; *t gets its 00:00 UTC. */
int rel_date_parse(const char *s, time_t *t);
/* Now as ISO 8601 UTC with seconds ("2026-11-25T10:00:00Z"). */
void rel_iso_time(time_t t, char buf[32]);

/* The manifest document (manifest.h) of a release; validated with
 * nx_manifest_parse. Returns the text (malloc'ed, '\n' at the end). */
char *rel_manifest_text(const struct rel_meta *m, const struct rel_tree *t, nx_err *e);

/* ---- archives (archive.c) ---- */

enum rel_format { REL_TAR_ZST, REL_TAR_GZ, REL_ZIP };
int rel_format_parse(const char *s, enum rel_format *f);
const char *rel_format_ext(enum rel_format f);
/* Write the package: nexo-release.json first, then every entry, with
 * fixed times (mtime), owner 0:0 and no owner names; to a temp file in the
 * same folder, renamed to `out` when complete. Each file's bytes are
 * checked against the tree's size and sha256 while they are copied. */
int rel_archive_write(const char *out, enum rel_format f, const char *manifest,
                      const char *src, const struct rel_tree *t, time_t mtime, nx_err *e);

/* ---- the index (index.c) ---- */

/* REPO/index.json's releases (an array, owned), or an empty array when the
 * file does not exist. */
json_t *rel_index_load(const char *repo, nx_err *e);
/* Check every release: the fields it must have, a safe relative
 * download_url, and that its package and .sig exist in the repository
 * and match sha256, size and signature. `skip` (may be NULL) is a release
 * that is going to be replaced and is not checked. */
int rel_index_check(const char *repo, json_t *releases, const json_t *skip, nx_err *e);
/* Position of the release with the same component and version precedence;
 * -1 when there is none, -2 (e filled) when a version does not parse. */
long rel_index_find(json_t *releases, const char *component, const char *version, nx_err *e);
/* Replace (same component and version) or add a release, then sort by
 * component and SemVer precedence. */
int rel_index_put(json_t *releases, json_t *entry, nx_err *e);
/* Write REPO/index.json ("format", "generated_at", "expires", "releases")
 * and sign it into REPO/index.json.sig. */
int rel_index_write(const char *repo, const nx_key *key, json_t *releases, int expires_days,
                    json_t **written, nx_err *e);

/* ---- commands ---- */

struct rel_args;
int rel_cmd_keygen(const struct rel_ctx *c, const struct rel_args *a);
int rel_cmd_sign(const struct rel_ctx *c, const struct rel_args *a);
int rel_cmd_index(const struct rel_ctx *c, const struct rel_args *a);
int rel_cmd_pack(const struct rel_ctx *c, const struct rel_args *a);

/* Parsed command line of a command (main.c). */
enum rel_opt {
    OPT_COMPONENT, OPT_SRC, OPT_KEY, OPT_REPO, OPT_FORMAT, OPT_CHANGELOG, OPT_SECURITY,
    OPT_CRITICAL, OPT_DATE, OPT_FORCE, OPT_EXPIRES, OPT_SCOPE, OPT_COUNT
};
#define REL_MAX_POS 4
#define REL_MAX_SCOPES 64
struct rel_args {
    const char *opt[OPT_COUNT];   /* value, or "1" for a flag; NULL if absent
                                     (--scope: the first one) */
    const char *pos[REL_MAX_POS];
    int npos;
    const char *scope[REL_MAX_SCOPES]; /* every --scope, in order (keygen) */
    int nscope;
};
/* --expires DAYS (default 30); -1 after printing the error. */
int rel_expires_arg(const struct rel_args *a);

#endif
