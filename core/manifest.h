/*
 * nexo-release.json, the manifest at the root of every release package
 * (contracts §6):
 *
 * {
 *   "format": 1,
 *   "component": "core" | "plugin:SLUG",
 *   "version": "1.1.0", "version_code": 1001000,
 *   "release_date": "2026-11-25", "branch": "stable", "build": "20261125",
 *   "requires": { "php": ">=8.1.0", "nexosupport": ">=1.0.0", ...,
 *                 "php_extensions": ["mbstring", "pdo_pgsql"] },
 *   "compatibility": { "plugins": { "slug": ">=2.0.0" } },
 *   "dependencies": { "slug": ">=1.0.0" },          (plugins)
 *   "files": [
 *     { "path": "core/version.php", "type": "file", "size": 123,
 *       "mode": "0644", "sha256": "..." },
 *     { "path": "public_html/assets", "type": "dir", "mode": "0755" },
 *     { "path": "public_html/latest", "type": "symlink", "target": "v2" }
 *   ],
 *   "total_size": 123              (sum of the files' sizes)
 * }
 *
 * Paths are relative to the site root (core) or to the plugin's folder
 * (plugin:SLUG): no leading '/', no '.' or '..' component, no empty
 * component, no NUL/control characters, at most 4096 bytes. Modes are
 * octal strings without setuid/setgid/sticky bits. A symlink's target is
 * relative and stays inside the payload (resolved from the link's folder).
 * "nexo-release.json" itself is not listed in files.
 *
 * Strictness (manifest.c): format, component, version, version_code,
 * files and total_size are required; unknown top-level keys are allowed
 * (forward compatibility, kept in doc). An entry holds exactly its type's
 * keys (file: path type size mode sha256; dir: path type mode; symlink:
 * path type target), anything else is refused. Modes are 3-4 octal digits
 * (a symlink's mode is 0777); sha256 is stored lower-case. Duplicate paths,
 * entries under a listed file or symlink, and symlink targets passing
 * through another listed symlink are refused. Errors are one line:
 * "NAME: what (path X)" (control characters in X shown as \xNN).
 */
#ifndef NX_MANIFEST_H
#define NX_MANIFEST_H

#include <jansson.h>
#include <stdint.h>
#include "util.h"

#define NX_MANIFEST_NAME "nexo-release.json"
/* The largest nexo-release.json a package may hold: 64 MiB, some 300,000
 * entries (a release of 20,000 files has about 4 MiB). */
#define NX_MANIFEST_MAX (64u * 1024u * 1024u)
#define NX_MANIFEST_MAX_TEXT "64 MiB"

enum nx_entry_type { NX_ENTRY_FILE = 1, NX_ENTRY_DIR, NX_ENTRY_SYMLINK };

typedef struct nx_entry {
    char *path;
    enum nx_entry_type type;
    uint64_t size;            /* files */
    unsigned mode;            /* permission bits */
    char sha256[65];          /* files */
    char *target;             /* symlinks */
} nx_entry;

typedef struct nx_manifest {
    char *component;
    char *version;
    uint64_t version_code;
    json_t *doc;              /* the whole document (requires, compatibility ...) */
    nx_entry *entries;
    size_t nentries;
    uint64_t total_size;
} nx_manifest;

/* Parse and validate (every rule above; version_code must match the
 * version; total_size must be the sum). `name` is used in messages. */
nx_manifest *nx_manifest_parse(const char *text, size_t len, const char *name, nx_err *e);
void nx_manifest_free(nx_manifest *m);
/* The entry for a path, or NULL (binary search; entries are sorted). */
const nx_entry *nx_manifest_find(const nx_manifest *m, const char *path);
/* Is a relative path acceptable (the rules above)? */
int nx_manifest_path_ok(const char *path);

/* A release's requirements (manifest, index entry, API answer, version.php):
 * an object of NAME => version range, and "php_extensions" => a list of
 * PHP extension names (nx_php_ext_ok) that `php -m` must list. 0, or -1
 * with e naming `name` and the requirement. */
#define NX_REQ_PHP_EXTENSIONS "php_extensions"
int nx_requires_ok(const char *name, const json_t *req, nx_err *e);
/* 1-64 of letters, digits, '_' and '-' (as `php -m` lists them). */
int nx_php_ext_ok(const char *s);

/* A plugin's slug (docs/releases.md): 1-64 of a-z 0-9 _ -, starting with a
 * letter or digit. The one rule, for manifests and key scopes alike. */
int nx_slug_ok(const char *s);

/* The copy root keeps of every release manifest the extract step recorded
 * in a site (the site's copy is the site owner's to change; verify trusts
 * it only when it is one of these): STATE/manifests/<component, ':' as
 * '_'>/<sha256 of its bytes>.json (folders 0700, files 0600). malloc'ed. */
#define NX_MANIFEST_COPIES "manifests"
char *nx_manifest_copy_dir(const char *state_dir, const char *component);
char *nx_manifest_copy_path(const char *state_dir, const char *component,
                            const char *sha256_hex);

#endif
