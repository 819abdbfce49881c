/*
 * nexo-update module ABI — what the host hands to step and driver modules.
 *
 * A module is a shared object that exports exactly one symbol, versioned
 * with the version node NEXO_1 (use the pkg-config variable step_ldflags or
 * driver_ldflags, which pass the installed version script). It never links
 * against the nexo-update executable: everything it needs from the host
 * comes through the `struct nexo_host` table passed to every call, the way
 * SQLite hands extensions their sqlite3_api_routines.
 *
 * Versioning rule: NEXO_ABI_VERSION changes only when an existing field
 * changes meaning or place. Within one ABI version, the host table and the
 * descriptors only ever grow at their end; each carries its size so that
 * either side can tell which fields the other one has (NEXO_HOST_HAS).
 *
 * Error convention: 0 is success, negative values are the NEXO_E* codes
 * below. A function that fails sets its message with host->fail(), which
 * returns the code so that `return h->fail(c, NEXO_EIO, "...")` reads well.
 * The host prefixes every message and log line with the step's name.
 */
#ifndef NEXO_NEXO_H
#define NEXO_NEXO_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NEXO_ABI_VERSION 1u

#if defined(__GNUC__)
#define NEXO_EXPORT __attribute__((visibility("default")))
#define NEXO_FORMAT(a, b) __attribute__((format(printf, a, b)))
#else
#define NEXO_EXPORT
#define NEXO_FORMAT(a, b)
#endif

/* Result codes. */
enum nexo_result {
    NEXO_OK = 0,
    NEXO_ERROR = -1,      /* generic failure; the message says what */
    NEXO_EINVAL = -2,     /* bad setting, bad input */
    NEXO_EIO = -3,        /* file system or network I/O failed */
    NEXO_ENOTFOUND = -4,  /* a file, table, release ... does not exist */
    NEXO_EDB = -5,        /* the database refused a statement */
    NEXO_EVERIFY = -6,    /* a checksum, signature or manifest check failed */
    NEXO_EINJECTED = -7,  /* NEXO_FAULT made this point fail (testing aid) */
    NEXO_ENOTSUP = -8,    /* not supported by this driver or site */
    NEXO_EBUSY = -9       /* a lock is held by someone else */
};

enum nexo_log_level {
    NEXO_LOG_ERROR = 0,
    NEXO_LOG_WARN = 1,
    NEXO_LOG_INFO = 2,
    NEXO_LOG_DEBUG = 3
};

/* The per-call context: which step instance, which update. Opaque. */
typedef struct nexo_ctx nexo_ctx;
struct nexo_db;

/*
 * Host services. Always call through the table the host passed in; check
 * NEXO_HOST_HAS(h, field) before using a field added after ABI 1's first
 * release.
 */
struct nexo_host {
    uint32_t abi;                 /* NEXO_ABI_VERSION of the host */
    uint32_t size;                /* sizeof(struct nexo_host) in the host */
    const char *version;          /* the host's own version, e.g. "0.1.0" */

    /* Logging; the host adds the step's name and honours -v/-q. */
    void (*log)(nexo_ctx *c, int level, const char *fmt, ...) NEXO_FORMAT(3, 4);
    void (*vlog)(nexo_ctx *c, int level, const char *fmt, va_list ap);

    /* Progress of long work. `what` names it ("download", "backup");
     * done and total are bytes, or items when `what` begins with '#'
     * ("#migrations": shown as "migrations 2 of 5", the '#' dropped).
     * total 0 means unknown. The host draws a bar on a terminal and
     * prints plain lines otherwise. done == total ends the bar. */
    void (*progress)(nexo_ctx *c, const char *what, uint64_t done, uint64_t total);

    /* Set the error message of the current call (printf-style) and return
     * `code`. Only the last message of a call is kept. */
    int (*fail)(nexo_ctx *c, int code, const char *fmt, ...) NEXO_FORMAT(3, 4);

    /* The step instance's own setting from the pipeline file, or its
     * declared default; NULL when neither. Only declared keys exist. */
    const char *(*setting)(nexo_ctx *c, const char *key);

    /* A value of the site's configuration (nexo-update.ini), e.g.
     * ("site", "root"). Paths are absolute. NULL when unset. */
    const char *(*config)(nexo_ctx *c, const char *section, const char *key);

    /* Facts about the running update, by name:
     *   "update_id" "component" "from_version" "to_version" "pipeline"
     *   "step" (instance name) "phase" ("validate" "plan" "run" "undo"
     *   "commit") "dry_run" ("1"/"0") "recovering" ("1" when a fresh
     *   process unwinds from the journal) "root" (site root) "state_dir"
     *   "backups_dir" "modules_dir" "work_dir" (a folder private to this
     *   update, removed when the update is over) "config_file"
     *   "slug" (of component plugin:SLUG; NULL for core) "component_dir"
     *   (the folder below the root the component occupies: "" for core,
     *   "modules/plugins/SLUG" for a plugin)
     *   "error" (while undoing: the failure that started the unwinding;
     *   "interrupted" in recover) "undone" (while undoing: the step
     *   instances undone so far, in that order, comma separated)
     *   and any "param.NAME" the command recorded (e.g. "param.package").
     * NULL when unknown. */
    const char *(*info)(nexo_ctx *c, const char *name);

    /* Journaled key/value state of this step instance. state_set returns
     * only after the value is on disk (fsync), so that undo in a fresh
     * process — after a crash — sees it. Set a key again to replace it. */
    int (*state_set)(nexo_ctx *c, const char *key, const char *value);
    const char *(*state_get)(nexo_ctx *c, const char *key);

    /* The same for values every later step may read (e.g. the download
     * step publishes "package_file"). shared_set also works in plan: a
     * dry run plans with what earlier plans found (migrate's
     * "migrated.COMPONENT" for register_version).
     * Private folders (contracts §9): a folder a step made inside a tree
     * another user may write (the staging folder in the site root) is
     * published as KEY = its path together with KEY ".private" =
     * "<st_dev>:<st_ino>" of the folder, which must be the running user's
     * and writable by nobody else. shared_get(KEY) then opens the path
     * with O_NOFOLLOW, checks it is that folder, keeps the descriptor for
     * the process and returns "/proc/self/fd/N": paths built on it are
     * resolved from the checked folder whatever happens to its name. A
     * folder that fails the check gives NULL with the message set, and
     * the call fails even if the step returns 0. Journal real paths, not
     * the returned one (a fresh process has other descriptors); messages
     * and log lines show the folder's path again. */
    int (*shared_set)(nexo_ctx *c, const char *key, const char *value);
    const char *(*shared_get)(nexo_ctx *c, const char *key);

    /* Report a point where the step's work is consistent (after each
     * migration file, each replaced folder). Journaled; a fault-injection
     * point (contracts §8). A non-zero result must be returned by the
     * caller as its own result. */
    int (*checkpoint)(nexo_ctx *c, const char *what);

    /* The site's database through its driver; NULL (with a message set
     * by fail) when no database is configured or reachable. */
    struct nexo_db *(*db)(nexo_ctx *c);

    /* Text of a NEXO_E* code. */
    const char *(*strerror)(int code);

    /* The message the last fail() of this call set ("" if none), e.g. to
     * add where an error happened: fail(c, rc, "%s:%d: %s", file, line,
     * errmsg(c)). */
    const char *(*errmsg)(nexo_ctx *c);

    /* Insert steps into the running update, after the calling step (only
     * from run; check NEXO_HOST_HAS(h, insert_steps)): `fragment` is a
     * pipeline fragment file — one section per step instance, `module` and
     * settings as in a pipeline file, and `after = STEP` or `before =
     * STEP` naming where it goes (a step after the caller). `base` is the
     * folder its relative paths are inside: a module given as a path
     * ("steps/x.so") and setting values beginning with "./" are copied
     * into the update's work folder and used from there; a plain module
     * name is an installed module. Only a package the verify step checked
     * and the extract step unpacked may be the source (base inside the
     * published staging folder). Every module is loaded and validated
     * before anything is inserted; the insertion is journaled (recover
     * undoes the inserted steps like any other). docs/plugin-authors.md. */
    int (*insert_steps)(nexo_ctx *c, const char *fragment, const char *base);
};

#define NEXO_HOST_HAS(h, field) \
    ((h)->size >= offsetof(struct nexo_host, field) + sizeof((h)->field))

#ifdef __cplusplus
}
#endif
#endif
