/*
 * nexo-update database driver modules (pgsql, mariadb, sqlite).
 *
 * A driver exports one `const struct nexo_driver_module
 * nexo_driver_module` (NEXO_DRIVER_MODULE below). The host loads the
 * driver named by [database] driver and hands steps a `struct nexo_db`
 * through host->db(). Every function gets the host table and the calling
 * step's context so that it can log and set error messages (which must
 * name the SQL statement that failed).
 *
 * Same growth rule as the step descriptor: fields are only ever added at
 * the end; `size` tells the host which ones a driver has.
 */
#ifndef NEXO_DRIVER_H
#define NEXO_DRIVER_H

#include <nexo/nexo.h>
#include <nexo/schema.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Driver flags. */
#define NEXO_DRIVER_TRANSACTIONAL_DDL 1u  /* CREATE/ALTER/DROP roll back */

/* Called once per result row; a non-zero return stops the query and is
 * returned by query(). Values are text (NULL for SQL NULL). */
typedef int (*nexo_row_fn)(void *arg, int ncols, const char *const *names,
                           const char *const *values);

struct nexo_driver_module {
    uint32_t abi;                   /* NEXO_ABI_VERSION */
    uint32_t size;                  /* sizeof(struct nexo_driver_module) */
    const char *name;               /* must equal the file name without .so */
    const char *version;            /* the module's own SemVer */
    const char *summary;
    unsigned flags;                 /* NEXO_DRIVER_* */

    /* Connect with the [database] settings (host->config); the password
     * comes from password_file or $NEXO_DB_PASSWORD, never from argv. */
    int (*connect)(const struct nexo_host *h, nexo_ctx *c, void **conn);
    void (*disconnect)(void *conn);
    /* The server's version text (e.g. "15.18"). */
    int (*server_version)(const struct nexo_host *h, nexo_ctx *c, void *conn,
                          char *buf, size_t len);
    /* One statement with bound text parameters (NULL = SQL NULL), written
     * with the driver's placeholders ($1..$n for pgsql, ? otherwise). */
    int (*exec)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                int nparams, const char *const *params);
    int (*query)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *sql,
                 int nparams, const char *const *params, nexo_row_fn row, void *arg);
    int (*begin)(const struct nexo_host *h, nexo_ctx *c, void *conn);
    int (*commit)(const struct nexo_host *h, nexo_ctx *c, void *conn);
    int (*rollback)(const struct nexo_host *h, nexo_ctx *c, void *conn);
    /* Quote an identifier in the dialect into buf; NEXO_EINVAL if it does
     * not fit or is not a valid identifier. */
    int (*quote_ident)(const char *ident, char *buf, size_t len);
    /* Introspection: 1 exists, 0 does not, <0 error. column/index may be
     * NULL to ask about the table only. */
    int (*exists)(const struct nexo_host *h, nexo_ctx *c, void *conn,
                  const char *table, const char *column, const char *index);
    /* Cross-node advisory lock so that two nodes sharing one database never
     * migrate at once; released by unlock or when the connection ends. */
    int (*lock)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *name,
                int timeout_s);
    int (*unlock)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *name);
    /* Whole-database snapshot into `path` (a file the driver creates 0600)
     * and back: restore makes the database equal to the snapshot — schema,
     * rows, sequence/auto-increment positions — dropping what was created
     * since. Tools run as child processes get the password through the
     * environment or a 0600 file, never argv. */
    int (*backup)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *path);
    int (*restore)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *path);
    /* Render one schema or data operation as statements in the dialect.
     * *out is allocated by the driver and released with free_stmts. Errors
     * name op->file:op->line. conn may be used to read the current schema
     * (e.g. SQLite rebuilding a table to change a column's type). */
    int (*render)(const struct nexo_host *h, nexo_ctx *c, void *conn, const struct nexo_op *op,
                  struct nexo_stmt **out, size_t *nout);
    void (*free_stmts)(struct nexo_stmt *stmts, size_t n);
    /* The dialect's name for docs and --dry-run ("postgresql", "mariadb",
     * "sqlite"). */
    const char *dialect;
    /* Optional (NULL: not offered). A private copy of the connected
     * database, its schema and rows, for a dry run to execute its plan on
     * so that it shows exactly the statements the update will run (render
     * reads the schema, which earlier statements of the plan change):
     * made in `dir`, the update's private work folder, and connected;
     * *copy is a connection like connect()'s and disconnect(copy) closes
     * it (the host removes the work folder). */
    int (*scratch)(const struct nexo_host *h, nexo_ctx *c, void *conn, const char *dir,
                   void **copy);
};

#define NEXO_DRIVER_MIN_SIZE \
    (offsetof(struct nexo_driver_module, dialect) + sizeof(const char *))

#define NEXO_DRIVER_SYMBOL "nexo_driver_module"

#define NEXO_DRIVER_MODULE \
    NEXO_EXPORT extern const struct nexo_driver_module nexo_driver_module; \
    const struct nexo_driver_module nexo_driver_module

#define NEXO_DRIVER_HEADER .abi = NEXO_ABI_VERSION, .size = sizeof(struct nexo_driver_module)

/* What host->db() returns. */
struct nexo_db {
    const struct nexo_driver_module *driver;
    void *conn;
    /* 1: a private copy of the database (driver->scratch), what host->db()
     * gives the plans of a dry run when the driver offers one: a plan may
     * execute its statements on it. 0: the site's database. */
    int scratch;
};

#ifdef __cplusplus
}
#endif
#endif
