/*
 * sqlite — the nexo-update database driver for SQLite (3.35 or later).
 *
 * Setting: [database] path, the site's database file (required). A missing
 * file is created 0600 whatever the umask. Every connection runs with
 * foreign key enforcement on and a busy timeout of 5 s.
 *
 * Type mapping (the spec's MySQL-style names, schema.h, to what CREATE
 * TABLE says; SQLite derives a column's affinity from that text):
 *
 *   migration type              SQLite declaration                 affinity
 *   --------------------------  ---------------------------------  --------
 *   TINYINT SMALLINT INT BIGINT INTEGER                            INTEGER
 *     autoincrement primary key INTEGER PRIMARY KEY AUTOINCREMENT  INTEGER
 *                               (then no separate PRIMARY KEY clause)
 *   DECIMAL(p,s)                NUMERIC(p,s); NUMERIC without p    NUMERIC
 *   FLOAT DOUBLE                REAL                               REAL
 *   BOOLEAN                     BOOLEAN (defaults true/false: 1/0) NUMERIC
 *   CHAR(n)                     CHAR(n)                            TEXT
 *   VARCHAR(n)                  VARCHAR(n)                         TEXT
 *   TEXT MEDIUMTEXT LONGTEXT    TEXT (a length hint is dropped)    TEXT
 *   BLOB                        BLOB                               BLOB
 *   DATE DATETIME TIMESTAMP     DATE DATETIME TIMESTAMP            NUMERIC
 *   JSON                        TEXT                               TEXT
 *   ... UNSIGNED                adds CHECK ("col" >= 0)
 *
 * CHAR and VARCHAR keep their declared names and lengths: SQLite does not
 * enforce a length, but the schema still says what the migration asked for.
 * DATE, DATETIME and TIMESTAMP keep their names too (rather than TEXT) so
 * that tools reading the schema (PHP ORMs, PRAGMA table_info) still tell
 * dates from text; their NUMERIC affinity stores '2024-05-01 10:00:00' as
 * the text it is and a Unix time as an integer.
 *
 * BOOLEAN keeps its name too, so that an INSERT can tell boolean columns
 * from others: SQLite gives it NUMERIC affinity, which stores '1' and '0'
 * as the integers 1 and 0 — but the text 'true' as text. Migration files
 * write booleans as true/false (1/0 as well), so an INSERT renders the
 * values "true" and "false" (any case, white space around ignored) as "1"
 * and "0" in the columns whose declared type (PRAGMA table_info) is BOOLEAN
 * or BOOL, any case, and nowhere else: 'true' in a VARCHAR stays 'true'.
 * That takes the connection; rendered without one (a dry run), the values
 * stay as written. A column declared INTEGER (say by an older version of
 * this driver) is not recognized and keeps the text.
 *
 * Column clauses: NOT NULL when nullable == 0 (not on the AUTOINCREMENT
 * key, which is never NULL); DEFAULT NULL, CURRENT_TIMESTAMP, CURRENT_DATE
 * and CURRENT_TIME (any case) as those keywords; a number on a numeric
 * column (integer types, DECIMAL, FLOAT, DOUBLE, BOOLEAN) as written;
 * anything else as a string literal with '' doubled — so '007' stays
 * '007' on a VARCHAR.
 *
 * Statements take `?` placeholders, bound as text (NULL as SQL NULL); the
 * column affinity turns '42' into 42 where the column is numeric. Every
 * error message names the statement (its first 200 characters) and
 * SQLite's message.
 *
 * Advisory lock: SQLite has no named locks, so lock() takes flock(2)
 * (LOCK_EX, polled every 100 ms until the timeout) on a companion file
 * `<path>.nexo-lock` (0600) next to the database. Two nexo-update processes
 * (say two state folders) that share one database file therefore never
 * migrate at once. It is one lock per database: the name is recorded in
 * the file for the message another process gets. unlock() and disconnect()
 * release it; so does the end of the process, even a crash. The lock file
 * stays in place (removing a flock file races with the next locker).
 *
 * Snapshots: backup() copies the database with SQLite's online backup API
 * into a 0600 temporary file next to `path`, syncs it and renames it into
 * place — the snapshot is complete or absent. restore() copies a snapshot
 * back over the live connection's main database with the same API, which
 * replaces everything (schema, rows, sqlite_sequence), then checks the
 * result. Neither runs inside an open transaction.
 *
 * Changing a column's type rebuilds its table: see rebuild.c, also for the
 * two statements exec() handles itself (PRAGMA foreign_keys = OFF/ON).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sqlite_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define SQ_BUSY_MS 5000
#define SQ_IDENT_MAX 128
#define SQ_LOCK_POLL_MS 100
#define SQ_ERRLEN 2048

/* ---- statements -------------------------------------------------------- */

static void sql_err(char *err, size_t len, const char *what, const char *sql)
{
    snprintf(err, len, "%s; statement: %.*s%s", what, SQ_SQL_QUOTE, sql ? sql : "(none)",
             sql && strlen(sql) > SQ_SQL_QUOTE ? "..." : "");
}

static int db_code(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? NEXO_EBUSY : NEXO_EDB;
}

/* Is what follows the first statement empty (white space, comments, ';')? */
static int nothing_follows(sqlite3 *db, const char *tail)
{
    sqlite3_stmt *st = NULL;
    if (!tail || !*tail)
        return 1;
    int rc = sqlite3_prepare_v2(db, tail, -1, &st, NULL);
    int empty = rc == SQLITE_OK && st == NULL;
    sqlite3_finalize(st);
    return empty;
}

static int bind_all(sqlite3_stmt *st, int nparams, const char *const *params)
{
    for (int i = 0; i < nparams; i++) {
        int rc = params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC)
                           : sqlite3_bind_null(st, i + 1);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int prepare(struct sq_conn *k, const char *sql, int nparams, const char *const *params,
                   sqlite3_stmt **out, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    *out = NULL;
    if (!sql || nparams < 0 || (nparams > 0 && !params)) {
        sql_err(err, errlen, "bad statement or parameters", sql);
        return NEXO_EINVAL;
    }
    int rc = sqlite3_prepare_v2(k->db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK) {
        sql_err(err, errlen, sqlite3_errmsg(k->db), sql);
        return db_code(rc);
    }
    if (!st) {
        sql_err(err, errlen, "empty statement", sql);
        return NEXO_EINVAL;
    }
    if (!nothing_follows(k->db, tail)) {
        sqlite3_finalize(st);
        sql_err(err, errlen, "more than one statement", sql);
        return NEXO_EINVAL;
    }
    if (sqlite3_bind_parameter_count(st) != nparams) {
        char what[160];
        snprintf(what, sizeof what, "%d placeholders but %d parameters",
                 sqlite3_bind_parameter_count(st), nparams);
        sqlite3_finalize(st);
        sql_err(err, errlen, what, sql);
        return NEXO_EINVAL;
    }
    rc = bind_all(st, nparams, params);
    if (rc != SQLITE_OK) {
        sql_err(err, errlen, sqlite3_errmsg(k->db), sql);
        sqlite3_finalize(st);
        return NEXO_EDB;
    }
    *out = st;
    return 0;
}

static int step_rows(struct sq_conn *k, sqlite3_stmt *st, const char *sql, nexo_row_fn row,
                     void *arg, char *err, size_t errlen)
{
    int ncols = sqlite3_column_count(st);
    const char **names = NULL;
    const char **values = NULL;
    if (row && ncols > 0) {
        names = nx_xcalloc((size_t)ncols, sizeof *names);
        values = nx_xcalloc((size_t)ncols, sizeof *values);
        for (int i = 0; i < ncols; i++)
            names[i] = sqlite3_column_name(st, i);
    }
    int result = 0;
    for (;;) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            sql_err(err, errlen, sqlite3_errmsg(k->db), sql);
            result = db_code(rc);
            break;
        }
        if (!row)
            continue;
        for (int i = 0; i < ncols; i++)
            values[i] = (const char *)sqlite3_column_text(st, i);
        result = row(arg, ncols, names, values);
        if (result)
            break;
    }
    free(names);
    free(values);
    return result;
}

int sq_run(struct sq_conn *k, const char *sql, int nparams, const char *const *params,
           nexo_row_fn row, void *arg, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    err[0] = '\0';
    int rc = prepare(k, sql, nparams, params, &st, err, errlen);
    if (rc)
        return rc;
    rc = step_rows(k, st, sql, row, arg, err, errlen);
    sqlite3_finalize(st);
    return rc;
}

/* ---- statements exec() carries out itself (see rebuild.c) ------------- */

/* sql lower-cased without white space or a trailing ';' into buf; 0 when
 * it did not fit (buf then holds a prefix). */
static int compact(const char *sql, char *buf, size_t len)
{
    size_t n = 0;
    int fits = 1;
    for (const char *p = sql; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        if (n + 1 >= len) {
            fits = 0;
            break;
        }
        buf[n++] = (char)tolower((unsigned char)*p);
    }
    while (fits && n > 0 && buf[n - 1] == ';')
        n--;
    buf[n] = '\0';
    return fits;
}

/* 0 for "PRAGMA foreign_keys = OFF", 1 for "= ON", -1 for anything else. */
static int fk_pragma(const char *sql)
{
    char b[48];
    if (!sql || !compact(sql, b, sizeof b))
        return -1;
    if (strcmp(b, "pragmaforeign_keys=off") == 0 || strcmp(b, "pragmaforeign_keys=0") == 0)
        return 0;
    if (strcmp(b, "pragmaforeign_keys=on") == 0 || strcmp(b, "pragmaforeign_keys=1") == 0)
        return 1;
    return -1;
}

static int is_fk_check(const char *sql)
{
    static const char prefix[] = "pragmaforeign_key_check";
    char b[48];
    if (!sql)
        return 0;
    compact(sql, b, sizeof b);
    return strncmp(b, prefix, sizeof prefix - 1) == 0;
}

/* Foreign key enforcement on or off — unlike the pragma, also inside a
 * transaction. Read back, so that a build that ignores it fails loudly. */
static int set_fk(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *k, int on)
{
    int now = -1;
    int rc = sqlite3_db_config(k->db, SQLITE_DBCONFIG_ENABLE_FKEY, on, &now);
    if (rc != SQLITE_OK || now != on)
        return h->fail(c, NEXO_EDB, "%s: cannot turn foreign key enforcement %s", k->path,
                       on ? "on" : "off");
    return 0;
}

/* What commit and rollback leave behind whatever ran before: enforcement
 * on, modern ALTER TABLE. */
static void reset_flags(struct sq_conn *k)
{
    sqlite3_db_config(k->db, SQLITE_DBCONFIG_ENABLE_FKEY, 1, (int *)NULL);
    sqlite3_db_config(k->db, SQLITE_DBCONFIG_LEGACY_ALTER_TABLE, 0, (int *)NULL);
}

struct fk_violation {
    int found;
    char text[512];
};

static int fk_row(void *arg, int ncols, const char *const *names, const char *const *values)
{
    struct fk_violation *v = arg;
    (void)names;
    if (ncols >= 3)
        snprintf(v->text, sizeof v->text, "row %s of %s has no parent row in %s",
                 values[1] ? values[1] : "?", values[0] ? values[0] : "?",
                 values[2] ? values[2] : "?");
    v->found = 1;
    return 1;
}

static int fk_check(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *k, const char *sql,
                    int nparams, const char *const *params)
{
    struct fk_violation v = { 0, "" };
    char err[SQ_ERRLEN];
    int rc = sq_run(k, sql, nparams, params, fk_row, &v, err, sizeof err);
    if (rc && err[0])
        return h->fail(c, rc, "%s", err);
    if (v.found) {
        sql_err(err, sizeof err, "foreign key violation", sql);
        return h->fail(c, NEXO_EDB, "%s: %s", v.text, err);
    }
    return 0;
}

/* ---- driver functions ------------------------------------------------- */

static int d_exec(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                  int nparams, const char *const *params)
{
    struct sq_conn *k = conn;
    int fk = fk_pragma(sql);
    if (fk >= 0 && nparams == 0)
        return set_fk(h, c, k, fk);
    if (is_fk_check(sql))
        return fk_check(h, c, k, sql, nparams, params);
    char err[SQ_ERRLEN];
    int rc = sq_run(k, sql, nparams, params, NULL, NULL, err, sizeof err);
    return rc ? h->fail(c, rc, "%s", err) : 0;
}

static int d_query(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                   int nparams, const char *const *params, nexo_row_fn row, void *arg)
{
    char err[SQ_ERRLEN];
    int rc = sq_run(conn, sql, nparams, params, row, arg, err, sizeof err);
    if (rc && err[0])
        return h->fail(c, rc, "%s", err);
    return rc;
}

static int run_simple(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *k, const char *sql)
{
    char err[SQ_ERRLEN];
    int rc = sq_run(k, sql, 0, NULL, NULL, NULL, err, sizeof err);
    return rc ? h->fail(c, rc, "%s: %s", k->path, err) : 0;
}

static int d_begin(const struct nexo_host *h, nexo_ctx *c, void *conn)
{
    return run_simple(h, c, conn, "BEGIN IMMEDIATE");
}

static int d_commit(const struct nexo_host *h, nexo_ctx *c, void *conn)
{
    reset_flags(conn);
    return run_simple(h, c, conn, "COMMIT");
}

/* Nothing to do when no transaction is open (SQLite also ends one by
 * itself after some errors), so that undo paths may always call it. */
static int d_rollback(const struct nexo_host *h, nexo_ctx *c, void *conn)
{
    struct sq_conn *k = conn;
    reset_flags(k);
    if (sqlite3_get_autocommit(k->db))
        return 0;
    return run_simple(h, c, k, "ROLLBACK");
}

static int d_quote_ident(const char *ident, char *buf, size_t len)
{
    if (!ident || !*ident || !buf || strlen(ident) > SQ_IDENT_MAX)
        return NEXO_EINVAL;
    size_t o = 0;
    if (len < 3)
        return NEXO_EINVAL;
    buf[o++] = '"';
    for (const char *p = ident; *p; p++) {
        size_t need = *p == '"' ? 2 : 1;
        if ((unsigned char)*p < 0x20 || o + need + 2 > len)
            return NEXO_EINVAL;
        buf[o++] = *p;
        if (*p == '"')
            buf[o++] = '"';
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return 0;
}

static int found_row(void *arg, int ncols, const char *const *names, const char *const *values)
{
    (void)ncols;
    (void)names;
    (void)values;
    *(int *)arg = 1;
    return 1;
}

/* index (on `table` when given) > column of table > table. Names compare
 * without regard to case, as SQLite does. */
static int d_exists(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *table,
                    const char *column, const char *index)
{
    const char *sql;
    const char *p[2] = { table, column };
    int np = 2;
    if (index) {
        p[0] = index;
        p[1] = table;
        np = table ? 2 : 1;
        sql = table ? "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1 COLLATE "
                      "NOCASE AND tbl_name = ?2 COLLATE NOCASE"
                    : "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?1 COLLATE "
                      "NOCASE";
    } else if (!table) {
        return h->fail(c, NEXO_EINVAL, "exists: neither a table nor an index given");
    } else if (column) {
        sql = "SELECT 1 FROM pragma_table_xinfo(?1) WHERE name = ?2 COLLATE NOCASE";
    } else {
        np = 1;
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE";
    }
    int found = 0;
    char err[SQ_ERRLEN];
    int rc = sq_run(conn, sql, np, p, found_row, &found, err, sizeof err);
    if (rc && err[0])
        return h->fail(c, rc, "%s", err);
    return found;
}

/* ---- connection --------------------------------------------------------- */

/* Create path 0600 (whatever the umask) unless it exists; 0 or errno. */
static int create_private(const char *path, int *created)
{
    *created = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return errno == EEXIST ? 0 : errno;
    int err = fchmod(fd, 0600) == 0 ? 0 : errno;
    close(fd);
    *created = 1;
    return err;
}

static void release_lock(struct sq_conn *k)
{
    if (k->lock_fd < 0)
        return;
    if (ftruncate(k->lock_fd, 0) != 0) {
        /* only the holder note is left behind */
    }
    flock(k->lock_fd, LOCK_UN);
    close(k->lock_fd);
    k->lock_fd = -1;
    free(k->lock_name);
    k->lock_name = NULL;
}

static void d_disconnect(void *conn)
{
    struct sq_conn *k = conn;
    if (!k)
        return;
    release_lock(k);
    sqlite3_close_v2(k->db);
    free(k->path);
    free(k);
}

static int setup(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *k)
{
    if (sqlite3_db_readonly(k->db, "main") == 1)
        return h->fail(c, NEXO_EIO, "%s: the database file is read-only", k->path);
    sqlite3_busy_timeout(k->db, SQ_BUSY_MS);
    int rc = run_simple(h, c, k, "PRAGMA foreign_keys = ON");
    if (!rc)
        rc = set_fk(h, c, k, 1); /* and read it back */
    if (rc)
        return rc;
    sqlite3_db_config(k->db, SQLITE_DBCONFIG_LEGACY_ALTER_TABLE, 0, (int *)NULL);
    /* fails with "file is not a database" for anything else */
    return run_simple(h, c, k, "SELECT count(*) FROM sqlite_master");
}

static int d_connect(const struct nexo_host *h, nexo_ctx *c, void **conn)
{
    *conn = NULL;
    const char *path = h->config(c, "database", "path");
    if (!path || !*path)
        return h->fail(c, NEXO_EINVAL, "[database] path is not set (the SQLite database file)");
    if (sqlite3_libversion_number() < 3035000)
        return h->fail(c, NEXO_ENOTSUP, "SQLite %s is too old: the driver needs 3.35 or later",
                       sqlite3_libversion());
    int created = 0;
    const char *dry = h->info(c, "dry_run");
    const char *open_path = path;
    if (dry && strcmp(dry, "1") == 0 && access(path, F_OK) != 0 && errno == ENOENT) {
        /* a dry run creates nothing: plan against an empty database */
        h->log(c, NEXO_LOG_INFO, "%s does not exist yet (a dry run does not create it): "
               "planning against an empty database", path);
        open_path = ":memory:";
    } else {
        int err = create_private(path, &created);
        if (err)
            return h->fail(c, NEXO_EIO, "%s: cannot create the database file: %s", path,
                           strerror(err));
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(open_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        rc = h->fail(c, NEXO_EDB, "%s: cannot open: %s", path,
                     db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return rc;
    }
    struct sq_conn *k = nx_xcalloc(1, sizeof *k);
    k->db = db;
    k->path = nx_xstrdup(path);
    k->lock_fd = -1;
    rc = setup(h, c, k);
    if (rc) {
        d_disconnect(k);
        return rc;
    }
    if (created)
        h->log(c, NEXO_LOG_INFO, "created the database file %s", path);
    *conn = k;
    return 0;
}

static int d_server_version(const struct nexo_host *h, nexo_ctx *c, void *conn, char *buf,
                            size_t len)
{
    (void)conn;
    const char *v = sqlite3_libversion();
    if (!buf || len == 0 || strlen(v) >= len)
        return h->fail(c, NEXO_EINVAL, "server_version: buffer too small for \"%s\"", v);
    memcpy(buf, v, strlen(v) + 1);
    return 0;
}

/* ---- advisory lock ------------------------------------------------------ */

static int open_lock_file(const char *path, int *fd_out)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        if (fchmod(fd, 0600) != 0) {
            int err = errno;
            close(fd);
            return err;
        }
        *fd_out = fd;
        return 0;
    }
    if (errno != EEXIST)
        return errno;
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    *fd_out = fd;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* 0 when locked, EWOULDBLOCK when the time ran out, else errno. */
static int flock_polled(int fd, int timeout_s)
{
    long long deadline = nx_mono_ms() + (timeout_s > 0 ? (long long)timeout_s * 1000 : 0);
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return errno;
        if (nx_mono_ms() >= deadline)
            return EWOULDBLOCK;
        sleep_ms(SQ_LOCK_POLL_MS);
    }
}

static void holder_note(int fd, char *buf, size_t len)
{
    ssize_t n = pread(fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!buf[0])
        snprintf(buf, len, "holder unknown");
}

static void write_holder_note(int fd, const char *name)
{
    char note[256];
    int n = snprintf(note, sizeof note, "pid %ld, lock %s\n", (long)getpid(), name);
    if (n < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, note, strlen(note), 0) < 0) {
        /* the note only helps the message another process gets */
    }
}

static int d_lock(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *name,
                  int timeout_s)
{
    struct sq_conn *k = conn;
    if (!name || !*name)
        return h->fail(c, NEXO_EINVAL, "lock: no lock name given");
    if (k->lock_fd >= 0) {
        if (strcmp(k->lock_name, name) == 0)
            return 0;
        return h->fail(c, NEXO_EINVAL, "lock %s: this connection already holds lock %s on %s",
                       name, k->lock_name, k->path);
    }
    char *lp = nx_xasprintf("%s.nexo-lock", k->path);
    int fd = -1;
    int rc = 0;
    int err = open_lock_file(lp, &fd);
    if (!err)
        err = flock_polled(fd, timeout_s);
    if (err == EWOULDBLOCK) {
        char who[128];
        holder_note(fd, who, sizeof who);
        rc = h->fail(c, NEXO_EBUSY,
                     "database lock %s is held by another process (%s); gave up after %d s",
                     lp, who, timeout_s > 0 ? timeout_s : 0);
    } else if (err) {
        rc = h->fail(c, NEXO_EIO, "%s: cannot take the database lock: %s", lp, strerror(err));
    }
    free(lp);
    if (rc) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    write_holder_note(fd, name);
    k->lock_fd = fd;
    k->lock_name = nx_xstrdup(name);
    return 0;
}

static int d_unlock(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *name)
{
    struct sq_conn *k = conn;
    if (k->lock_fd < 0)
        return 0;
    if (name && strcmp(name, k->lock_name) != 0)
        return h->fail(c, NEXO_EINVAL, "unlock %s: the lock held on %s is %s", name, k->path,
                       k->lock_name);
    release_lock(k);
    return 0;
}

/* ---- snapshots ---------------------------------------------------------- */

/* The page size of db's main database in bytes, 0 when it cannot be read. */
static uint64_t page_size(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    uint64_t n = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA main.page_size", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
        n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Copy src into dst page by page; progress in bytes (pages times the
 * source's page size, which the copy takes over), or in pages, as items,
 * when the page size cannot be read. */
static int copy_db(const struct nexo_host *h, nexo_ctx *c, sqlite3 *dst, sqlite3 *src,
                   const char *what, const char *path)
{
    uint64_t psize = page_size(src);
    char items[80];
    snprintf(items, sizeof items, "#%s pages", what);
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b)
        return h->fail(c, NEXO_EDB, "%s %s: %s", what, path, sqlite3_errmsg(dst));
    int rc;
    int tries = 0;
    for (;;) {
        rc = sqlite3_backup_step(b, 256);
        uint64_t total = (uint64_t)sqlite3_backup_pagecount(b);
        uint64_t done = total - (uint64_t)sqlite3_backup_remaining(b);
        if (psize)
            h->progress(c, what, done * psize, total * psize);
        else
            h->progress(c, items, done, total);
        if (rc == SQLITE_OK)
            continue;
        if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && ++tries < 100) {
            sleep_ms(50);
            continue;
        }
        break;
    }
    int frc = sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE || frc != SQLITE_OK)
        return h->fail(c, db_code(rc == SQLITE_DONE ? frc : rc), "%s %s: %s", what, path,
                       sqlite3_errmsg(dst));
    return 0;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno;
    int err = fsync(fd) == 0 ? 0 : errno;
    close(fd);
    return err;
}

static int open_snapshot_file(const struct nexo_host *h, nexo_ctx *c, const char *tmp,
                              sqlite3 **dst)
{
    int created = 0;
    if (unlink(tmp) != 0 && errno != ENOENT)
        return h->fail(c, NEXO_EIO, "%s: cannot remove: %s", tmp, strerror(errno));
    int err = create_private(tmp, &created);
    if (err || !created)
        return h->fail(c, NEXO_EIO, "%s: cannot create: %s", tmp, strerror(err ? err : EEXIST));
    int rc = sqlite3_open_v2(tmp, dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        return h->fail(c, NEXO_EDB, "%s: cannot open: %s", tmp,
                       *dst ? sqlite3_errmsg(*dst) : sqlite3_errstr(rc));
    return 0;
}

static int backup_via(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *k, const char *tmp,
                      const char *path, const char *what)
{
    sqlite3 *dst = NULL;
    int rc = open_snapshot_file(h, c, tmp, &dst);
    if (!rc)
        rc = copy_db(h, c, dst, k->db, what, path);
    /* a standalone file even when the live database uses WAL */
    if (!rc && sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = h->fail(c, NEXO_EDB, "backup %s: %s", path, sqlite3_errmsg(dst));
    if (sqlite3_close(dst) != SQLITE_OK && !rc)
        rc = h->fail(c, NEXO_EDB, "backup %s: cannot close %s", path, tmp);
    if (rc)
        return rc;
    int err = fsync_path(tmp);
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        return h->fail(c, NEXO_EIO, "backup %s: %s", path, strerror(err));
    nx_err e;
    char *dir = nx_dirname(path);
    rc = nx_fsync_dir(dir, &e) == 0 ? 0 : h->fail(c, NEXO_EIO, "backup %s: %s", path, e.msg);
    free(dir);
    return rc;
}

static int d_backup(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *path)
{
    struct sq_conn *k = conn;
    if (!path || !*path)
        return h->fail(c, NEXO_EINVAL, "backup: no snapshot path given");
    if (!sqlite3_get_autocommit(k->db))
        return h->fail(c, NEXO_EINVAL, "backup %s: a transaction is open on %s", path, k->path);
    char *tmp = nx_xasprintf("%s.tmp-%ld", path, (long)getpid());
    int rc = backup_via(h, c, k, tmp, path, "backup");
    if (rc) {
        char *journal = nx_xasprintf("%s-journal", tmp);
        unlink(journal);
        unlink(tmp);
        free(journal);
    }
    free(tmp);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "snapshot of %s written to %s", k->path, path);
    return rc;
}

/* A dry run's private copy (driver.h, scratch): the backup's copy into
 * DIR/dry-run-copy.sqlite, opened like the live file (foreign keys on,
 * no advisory lock: nothing else knows of it). */
static int d_scratch(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *dir,
                     void **copy)
{
    struct sq_conn *k = conn;
    *copy = NULL;
    char *path = nx_path_join(dir, "dry-run-copy.sqlite");
    char *tmp = nx_xasprintf("%s.tmp-%ld", path, (long)getpid());
    int rc = backup_via(h, c, k, tmp, path, "copy for the plan");
    if (rc)
        unlink(tmp);
    free(tmp);
    sqlite3 *db = NULL;
    if (!rc && sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
                   SQLITE_OK)
        rc = h->fail(c, NEXO_EDB, "%s: cannot open: %s", path,
                     db ? sqlite3_errmsg(db) : "out of memory");
    if (rc) {
        sqlite3_close(db);
        free(path);
        return rc;
    }
    struct sq_conn *s = nx_xcalloc(1, sizeof *s);
    s->db = db;
    s->path = path;
    s->lock_fd = -1;
    rc = setup(h, c, s);
    if (rc) {
        d_disconnect(s);
        return rc;
    }
    *copy = s;
    return 0;
}

static int schema_count(sqlite3 *db, long long *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int restore_from(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *k,
                        const char *path, sqlite3 *snap)
{
    long long want = -1;
    long long have = -1;
    if (schema_count(snap, &want) != 0)
        return h->fail(c, NEXO_EVERIFY, "restore: %s is not a usable SQLite snapshot: %s",
                       path, sqlite3_errmsg(snap));
    int rc = copy_db(h, c, k->db, snap, "restore", path);
    if (rc)
        return rc;
    if (schema_count(k->db, &have) != 0 || have != want)
        return h->fail(c, NEXO_EVERIFY,
                       "restore %s: %s does not match the snapshot afterwards (%lld schema "
                       "entries, %lld expected): %s",
                       path, k->path, have, want, sqlite3_errmsg(k->db));
    return 0;
}

static int d_restore(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *path)
{
    struct sq_conn *k = conn;
    struct stat st;
    if (!path || !*path)
        return h->fail(c, NEXO_EINVAL, "restore: no snapshot path given");
    if (!sqlite3_get_autocommit(k->db))
        return h->fail(c, NEXO_EINVAL, "restore %s: a transaction is open on %s", path, k->path);
    if (stat(path, &st) != 0)
        return h->fail(c, errno == ENOENT ? NEXO_ENOTFOUND : NEXO_EIO, "restore: %s: %s", path,
                       strerror(errno));
    sqlite3 *snap = NULL;
    int rc = sqlite3_open_v2(path, &snap, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK)
        rc = h->fail(c, NEXO_EIO, "restore: cannot open %s: %s", path,
                     snap ? sqlite3_errmsg(snap) : sqlite3_errstr(rc));
    else
        rc = restore_from(h, c, k, path, snap);
    sqlite3_close(snap);
    if (!rc)
        h->log(c, NEXO_LOG_INFO, "%s restored from %s", k->path, path);
    return rc;
}

static void d_free_stmts(struct nexo_stmt *stmts, size_t n)
{
    sq_stmts_free(stmts, n);
}

NEXO_DRIVER_MODULE = {
    NEXO_DRIVER_HEADER,
    .name = "sqlite",
    .version = "0.1.0",
    .summary = "SQLite database driver (3.35 or later)",
    .flags = NEXO_DRIVER_TRANSACTIONAL_DDL,
    .connect = d_connect,
    .disconnect = d_disconnect,
    .server_version = d_server_version,
    .exec = d_exec,
    .query = d_query,
    .begin = d_begin,
    .commit = d_commit,
    .rollback = d_rollback,
    .quote_ident = d_quote_ident,
    .exists = d_exists,
    .lock = d_lock,
    .unlock = d_unlock,
    .backup = d_backup,
    .restore = d_restore,
    .render = sq_render,
    .free_stmts = d_free_stmts,
    .dialect = "sqlite",
    .scratch = d_scratch,
};
