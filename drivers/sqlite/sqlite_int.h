/* Internal interface between the parts of the SQLite driver module:
 * sqlite.c (connection, statements, lock, snapshots), render.c (schema
 * operations as SQL) and rebuild.c (changing a column by rebuilding its
 * table). Nothing here is exported: the version script keeps every symbol
 * but the descriptor local. */
#ifndef NX_SQLITE_INT_H
#define NX_SQLITE_INT_H

#include <nexo/driver.h>
#include <sqlite3.h>
#include <stddef.h>

/* Messages of statement errors quote at most this much of the SQL. */
#define SQ_SQL_QUOTE 200

struct sq_conn {
    sqlite3 *db;
    char *path;       /* [database] path */
    int lock_fd;      /* the held <path>.nexo-lock, -1 when none */
    char *lock_name;  /* the name the lock was taken for */
};

/* Run one statement with text parameters; rows go to `row` (may be NULL).
 * Returns 0, the row function's non-zero result, or a NEXO_E* code with
 * `err` holding a message that names the statement. err[0] is '\0' unless
 * the statement failed. */
int sq_run(struct sq_conn *conn, const char *sql, int nparams, const char *const *params,
           nexo_row_fn row, void *arg, char *err, size_t errlen);

/* A growing NUL-terminated string (aborts on out-of-memory). */
struct sq_buf {
    char *p;
    size_t n, cap;
};

void sq_putn(struct sq_buf *b, const char *s, size_t n);
void sq_put(struct sq_buf *b, const char *s);
void sq_printf(struct sq_buf *b, const char *fmt, ...) NEXO_FORMAT(2, 3);
/* "name" with embedded quotes doubled. */
void sq_ident(struct sq_buf *b, const char *name);
/* 'text' with embedded apostrophes doubled. */
void sq_literal(struct sq_buf *b, const char *text);
/* The string (never NULL); b is empty afterwards. */
char *sq_take(struct sq_buf *b);

/* A growing list of rendered statements; each owns its SQL and params. */
struct sq_stmts {
    struct nexo_stmt *v;
    size_t n, cap;
};

/* Append a statement taking ownership of sql; the params are copied. */
void sq_add(struct sq_stmts *s, char *sql, int nparams, const char *const *params);
void sq_stmts_free(struct nexo_stmt *v, size_t n);

/* A list of malloc'ed strings. */
struct sq_list {
    char **v;
    size_t n, cap;
};

void sq_list_add(struct sq_list *l, const char *s);
void sq_list_free(struct sq_list *l);
/* Row function collecting the first column of every row into an sq_list
 * (SQL NULL as ""). */
int sq_collect(void *list, int ncols, const char *const *names, const char *const *values);

/* render.c: the type of a column in the SQLite dialect ("VARCHAR(255)"),
 * its whole definition, and "file:line: message" errors of an operation. */
int sq_type(struct sq_buf *b, const struct nexo_column *col);
int sq_is_integer_type(enum nexo_coltype t);
void sq_default(struct sq_buf *b, const struct nexo_column *col);
void sq_unsigned_check(struct sq_buf *b, const char *name);
int sq_op_fail(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op, int code,
               const char *fmt, ...) NEXO_FORMAT(5, 6);
int sq_render(const struct nexo_host *h, nexo_ctx *c, void *conn, const struct nexo_op *op,
              struct nexo_stmt **out, size_t *nout);

/* rebuild.c: MODIFY_COLUMN as a table rebuild. */
int sq_rebuild(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
               const struct nexo_op *op, struct sq_stmts *out);
/* The table's CREATE TABLE text `sql` (as sqlite_master holds it) with the
 * definition of op's column replaced, as table new_name: 0 and *create
 * (malloc'ed), *autoincrement set; 1 when the column is not in it; else a
 * NEXO_E* code failed through h. (sq_rebuild's parser, for the tests and
 * fuzz/fuzz_sqlschema.c.) */
int sq_new_definition(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      const char *sql, const char *new_name, char **create, int *autoincrement);

#endif
