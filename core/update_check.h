/*
 * The update check (contracts §2 check/list/core, §3 [server], §6 static
 * index; spec §3.1-§3.3 API mode): ask the update source about core and
 * every installed plugin, evaluate each release's requirements against
 * the site, and pick per component the release to offer.
 *
 * Source modes, from [server] url:
 *   static index  url ends in ".json" (e.g. .../index.json) or is file://
 *                 (a folder gets "/index.json"): index.json and
 *                 index.json.sig are fetched, the signature is verified
 *                 with [server] trusted_keys over the exact bytes, the
 *                 index must not be expired.
 *   API           anything else: POST {url}/api/check, one request per
 *                 component (form fields as spec §3.3).
 */
#ifndef NX_UPDATE_CHECK_H
#define NX_UPDATE_CHECK_H

#include <jansson.h>
#include <stdint.h>
#include "cli.h"
#include "config.h"
#include "log.h"
#include "util.h"

#define NX_CHECK_MAX_ANSWER (4u * 1024u * 1024u) /* bytes of one answer */

typedef struct nx_release {
    char *version;
    char *url;            /* absolute (a relative one resolved against the source) */
    char *sha256;         /* hex */
    char *signature;      /* base64 Ed25519 of the package */
    uint64_t size;
    char *release_date;   /* may be NULL */
    char *changelog;      /* may be NULL */
    int security;
    int critical;
    json_t *requires;     /* object (maybe empty) */
    json_t *compat;       /* "compatibility" object, or NULL */
    json_t *dependencies; /* plugins: {SLUG: RANGE} object, or NULL */
    json_t *unmet;        /* array of strings: why the release cannot be offered.
                             The first `nenv` are environment requirements the
                             site does not meet (php, database, a core release's
                             nexosupport, malformed requirements); then, unless
                             the check was forced, the message of each conflict */
    size_t nenv;
    json_t *conflicts;    /* array of objects (compat.h): the release's conflicts
                             with the installed core and plugins, forced or not */
    const char *channel;  /* "stable" | "rc" | "beta" | "alpha" (semver.h) */
    int admitted;         /* the site's [server] channel admits it */
    int php_unchecked;    /* requires php or php_extensions, and [php] binary
                             could not be run ([php] check = on): in unmet */
} nx_release;

typedef struct nx_component {
    char *name;           /* "core" | "plugin:SLUG" */
    char *slug;           /* NULL for core */
    char *installed;      /* version on disk; NULL: a plugin not installed
                             yet, asked about by name (nx_check_run's only) */
    char *file;           /* its version.php */
    json_t *requires;     /* plugins: its version.php 'requires' object, or NULL */
    json_t *dependencies; /* plugins: its version.php 'dependencies' object, or NULL */
    int asked;            /* the source was asked about it */
    nx_release *rel;      /* the source's releases of it, newest first */
    size_t nrel;
    const nx_release *offer; /* newest offerable release (nx_release_offerable);
                                NULL when none */
    char *registered;     /* the newest version system_versions holds for it;
                             NULL: not registered, or the database not read */
    int db_state;         /* NX_DB_* of registered against installed */
} nx_component;

/* The database's registered version against the files' version.php
 * (issue 12: migrations always start from the registered version). */
#define NX_DB_UNKNOWN 0        /* the database was not read */
#define NX_DB_SAME 1
#define NX_DB_FILES_AHEAD 2    /* the next update migrates from the database's version */
#define NX_DB_DB_AHEAD 3       /* refused until files and database agree */
#define NX_DB_NOT_REGISTERED 4 /* files, no row */

typedef struct nx_check {
    char *source;         /* the index URL, or the API's check URL */
    const char *mode;     /* "index" | "api" */
    char *key_id;         /* index mode: the trusted key that signed it */
    char *generated_at, *expires; /* index mode */
    nx_component *comp;   /* core first, then plugins by slug */
    size_t ncomp;
    json_t *notes;        /* array of strings: what could not be evaluated */
    int force;            /* conflicts do not keep a release from the offer */
    char *channel;        /* [server] channel: the pre-releases offered */
    int db_read;          /* system_versions was read: comp[].registered valid */
} nx_check;

/* Ask the source configured in cfg. `only`: NULL for core and every
 * installed plugin, or one component name ("core", "plugin:SLUG") to ask
 * about that one alone (the others are still read from disk for the
 * requirements); a plugin named there that is not installed is asked
 * about too, with installed NULL.
 * NULL with e naming the URL or file on any failure. */
nx_check *nx_check_run(const nx_out *out, const nx_config *cfg, const char *only, nx_err *e);
/* The same with `force`: a release whose only problems are conflicts
 * with the installed core and plugins (compat.h) is offered all the
 * same (its conflicts stay listed); never one with an environment
 * requirement unmet. nx_check_run is this with force 0. */
nx_check *nx_check_run_force(const nx_out *out, const nx_config *cfg, const char *only,
                             int force, nx_err *e);
void nx_check_free(nx_check *c);

/* The newest version_number system_versions holds per component, as
 * {"core": "1.2.0", "plugin:SLUG": ...} in *versions, through the
 * configured driver (outside an update; a SQLite file that does not exist
 * is not created). 0; 1 when there is nothing to read (no [database], no
 * SQLite file: e says which); -1 with e naming the database on failure.
 * For check, list and status. */
int nx_db_registered(const nx_out *out, const nx_config *cfg, json_t **versions, nx_err *e);
/* NX_DB_* of a component's files' version against its registered one
 * (NULL: not registered); *msg (malloc'ed, NULL when they agree or no
 * row) says what it means: "the database is at 1.2.0, the files at 1.3.0:
 * the next update of core runs the migrations from 1.2.0 first; or run
 * 'nexo-update update-db'", or "refused: the database is at 1.4.0, ahead
 * of the files' 1.3.0". */
int nx_db_state(const char *component, const char *files, const char *registered, char **msg);
/* NX_DB_* as text: "unknown", "same", "files_ahead", "database_ahead",
 * "not_registered". */
const char *nx_db_state_name(int state);
const nx_component *nx_check_find(const nx_check *c, const char *name);
/* The release of exactly `version` (SemVer precedence equal), or NULL. */
const nx_release *nx_component_release(const nx_component *c, const char *version);
/* 1 when a is newer than the installed version, 0 not, -1 unparsable. */
int nx_release_newer(const nx_component *c, const nx_release *r);
/* 1 when r may be offered without --to: newer than the installed version,
 * every requirement met, no conflict (forced: no environment requirement
 * unmet), and of a channel the site's [server] channel admits. The one
 * rule behind the offer of check, list, core, plugin, all and
 * check --apply-auto. */
int nx_release_offerable(const nx_component *c, const nx_release *r);
/* A release newer than c's offer, of the site's channel, held back only
 * because [php] binary cannot be run (its unmet says so): the update is
 * refused rather than called up to date or made to an older release. NULL
 * when none. For core, plugin, all and check --apply-auto. */
const nx_release *nx_component_php_blocked(const nx_component *c);
/* "refused: core 1.1.0: php >=8.1.0: not checked: [php] binary = ..."
 * (every unmet requirement of r), malloc'ed. */
char *nx_php_refusal(const nx_component *c, const nx_release *r);
/* The installed plugins that have an offer, in dependency order (a
 * plugin after the plugins it depends on: the offered release's
 * dependencies, else its installed version.php's); *slugs is a malloc'ed
 * array of *n malloc'ed slugs (NULL when none). A dependency cycle: -1
 * and e names it. For `all`. */
int nx_check_plugin_order(const nx_check *c, char ***slugs, size_t *n, nx_err *e);

/* check --notify (core/cli_notify.c): mail the admin ([notify]) the
 * updates in chk not mailed before, security ones first and marked, and
 * record each in update_notifications; adds "notified" to doc. 0, or an
 * exit code when it could not (logged). */
int cli_check_notify(struct cli *c, const nx_check *chk, json_t *doc);
/* check --apply-auto (core/cli_auto.c): install unattended what [auto]
 * apply allows; adds "applied" to doc. The exit code of what it did (0
 * when nothing or success). */
int cli_check_apply_auto(struct cli *c, const nx_check *chk, json_t *doc);

/* The commands (core/cli_check.c). */
int cmd_check(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_core(struct cli *c, int argc, char **argv);

#endif
