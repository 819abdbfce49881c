/*
 * Schema and data operations (schema.h, spec §5.2) as SQLite statements.
 * The type mapping and the rules for DEFAULT are described at the top of
 * sqlite.c; MODIFY_COLUMN is in rebuild.c.
 *
 *   CREATE_TABLE   CREATE TABLE "t" (columns, PRIMARY KEY (...), FOREIGN KEY
 *                  (...) REFERENCES "p" ("c") ON DELETE ... ON UPDATE ...),
 *                  then one CREATE [UNIQUE] INDEX per index
 *   DROP_TABLE     DROP TABLE IF EXISTS "t"
 *   ADD_COLUMN     ALTER TABLE "t" ADD COLUMN ... (`after` is ignored: SQLite
 *                  appends; logged at debug level). SQLite cannot add a
 *                  PRIMARY KEY column, a NOT NULL column without a default,
 *                  or one whose default is CURRENT_*: refused with file:line.
 *   DROP_COLUMN    ALTER TABLE "t" DROP COLUMN "c". Indexes using the column
 *                  are dropped first and, when other columns remain, created
 *                  again without it (what MariaDB does by itself).
 *   ADD_INDEX      CREATE [UNIQUE] INDEX "name" ON "t" ("a", "b")
 *   INSERT         INSERT INTO "t" ("a", "b") VALUES (?, ?), one per row;
 *                  "true"/"false" become "1"/"0" in BOOLEAN columns (one
 *                  PRAGMA table_info query, only when a value is one of them
 *                  and there is a connection; see sqlite.c)
 *   UPDATE         UPDATE "t" SET <set_sql> [WHERE <where_sql>]
 *   DELETE         DELETE FROM "t" [WHERE <where_sql>]
 *
 * Index names are kept as written; SQLite (like PostgreSQL) has one name
 * space for the indexes of all tables.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sqlite_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* ---- strings and statement lists --------------------------------------- */

static void reserve(struct sq_buf *b, size_t more)
{
    if (b->n + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more + 1)
        cap *= 2;
    b->p = nx_xrealloc(b->p, cap);
    b->cap = cap;
}

void sq_putn(struct sq_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void sq_put(struct sq_buf *b, const char *s)
{
    sq_putn(b, s, strlen(s));
}

void sq_printf(struct sq_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)n;
}

static void put_quoted(struct sq_buf *b, const char *s, char q)
{
    sq_putn(b, &q, 1);
    for (const char *p = s; *p; p++) {
        sq_putn(b, p, 1);
        if (*p == q)
            sq_putn(b, &q, 1);
    }
    sq_putn(b, &q, 1);
}

void sq_ident(struct sq_buf *b, const char *name)
{
    put_quoted(b, name, '"');
}

void sq_literal(struct sq_buf *b, const char *text)
{
    put_quoted(b, text, '\'');
}

char *sq_take(struct sq_buf *b)
{
    char *p = b->p ? b->p : nx_xstrdup("");
    b->p = NULL;
    b->n = b->cap = 0;
    return p;
}

void sq_add(struct sq_stmts *s, char *sql, int nparams, const char *const *params)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->v = nx_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    struct nexo_stmt *st = &s->v[s->n++];
    st->sql = sql;
    st->nparams = nparams;
    st->params = NULL;
    if (nparams <= 0)
        return;
    st->params = nx_xcalloc((size_t)nparams, sizeof *st->params);
    for (int i = 0; i < nparams; i++)
        st->params[i] = params[i] ? nx_xstrdup(params[i]) : NULL;
}

void sq_stmts_free(struct nexo_stmt *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        for (int j = 0; j < v[i].nparams; j++)
            free(v[i].params[j]);
        free(v[i].params);
        free(v[i].sql);
    }
    free(v);
}

void sq_list_add(struct sq_list *l, const char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = nx_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s ? nx_xstrdup(s) : NULL;
}

void sq_list_free(struct sq_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int sq_collect(void *list, int ncols, const char *const *names, const char *const *values)
{
    (void)names;
    for (int i = 0; i < ncols; i++)
        sq_list_add(list, values[i]);
    return 0;
}

int sq_op_fail(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op, int code,
               const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return h->fail(c, code, "%s:%d: %s", op->file ? op->file : "(migration)", op->line, msg);
}

/* ---- columns -------------------------------------------------------------- */

int sq_is_integer_type(enum nexo_coltype t)
{
    return t == NEXO_T_TINYINT || t == NEXO_T_SMALLINT || t == NEXO_T_INT || t == NEXO_T_BIGINT;
}

static int is_numeric_type(enum nexo_coltype t)
{
    return sq_is_integer_type(t) || t == NEXO_T_DECIMAL || t == NEXO_T_FLOAT ||
           t == NEXO_T_DOUBLE || t == NEXO_T_BOOLEAN;
}

int sq_type(struct sq_buf *b, const struct nexo_column *col)
{
    switch (col->type) {
    case NEXO_T_TINYINT:
    case NEXO_T_SMALLINT:
    case NEXO_T_INT:
    case NEXO_T_BIGINT:
        sq_put(b, "INTEGER");
        return 0;
    case NEXO_T_BOOLEAN:
        sq_put(b, "BOOLEAN"); /* NUMERIC affinity; INSERT recognizes it */
        return 0;
    case NEXO_T_DECIMAL:
        if (col->length)
            sq_printf(b, "NUMERIC(%u,%u)", col->length, col->scale);
        else
            sq_put(b, "NUMERIC");
        return 0;
    case NEXO_T_FLOAT:
    case NEXO_T_DOUBLE:
        sq_put(b, "REAL");
        return 0;
    case NEXO_T_CHAR:
    case NEXO_T_VARCHAR:
        if (!col->length)
            return -1;
        sq_printf(b, "%s(%u)", col->type == NEXO_T_CHAR ? "CHAR" : "VARCHAR", col->length);
        return 0;
    case NEXO_T_TEXT:
    case NEXO_T_MEDIUMTEXT:
    case NEXO_T_LONGTEXT:
    case NEXO_T_JSON:
        sq_put(b, "TEXT");
        return 0;
    case NEXO_T_BLOB:
        sq_put(b, "BLOB");
        return 0;
    case NEXO_T_DATE:
        sq_put(b, "DATE");
        return 0;
    case NEXO_T_DATETIME:
        sq_put(b, "DATETIME");
        return 0;
    case NEXO_T_TIMESTAMP:
        sq_put(b, "TIMESTAMP");
        return 0;
    }
    return -1;
}

static int is_number(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t digits = 0;
    if (*p == '+' || *p == '-')
        p++;
    for (; isdigit(*p); p++)
        digits++;
    if (*p == '.')
        for (p++; isdigit(*p); p++)
            digits++;
    if (!digits)
        return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit(*p))
            return 0;
        while (isdigit(*p))
            p++;
    }
    return *p == '\0';
}

static int is_current(const char *v)
{
    return strcasecmp(v, "CURRENT_TIMESTAMP") == 0 || strcasecmp(v, "CURRENT_DATE") == 0 ||
           strcasecmp(v, "CURRENT_TIME") == 0;
}

static int is_null_word(const char *v)
{
    return strcasecmp(v, "NULL") == 0;
}

void sq_default(struct sq_buf *b, const struct nexo_column *col)
{
    const char *v = col->default_value;
    if (is_null_word(v) || is_current(v)) {
        for (const char *p = v; *p; p++) {
            char u = (char)toupper((unsigned char)*p);
            sq_putn(b, &u, 1);
        }
    } else if (col->type == NEXO_T_BOOLEAN && strcasecmp(v, "true") == 0) {
        sq_put(b, "1");
    } else if (col->type == NEXO_T_BOOLEAN && strcasecmp(v, "false") == 0) {
        sq_put(b, "0");
    } else if (is_numeric_type(col->type) && is_number(v)) {
        sq_put(b, v);
    } else {
        sq_literal(b, v);
    }
}

void sq_unsigned_check(struct sq_buf *b, const char *name)
{
    sq_put(b, " CHECK (");
    sq_ident(b, name);
    sq_put(b, " >= 0)");
}

/* "name" TYPE [PRIMARY KEY AUTOINCREMENT | NOT NULL] [DEFAULT v] [CHECK] */
static void column_def(struct sq_buf *b, const struct nexo_column *col)
{
    sq_ident(b, col->name);
    sq_put(b, " ");
    sq_type(b, col);
    if (col->autoincrement)
        sq_put(b, " PRIMARY KEY AUTOINCREMENT");
    else if (!col->nullable)
        sq_put(b, " NOT NULL");
    if (col->default_value) {
        sq_put(b, " DEFAULT ");
        sq_default(b, col);
    }
    if (col->is_unsigned)
        sq_unsigned_check(b, col->name);
}

static int check_column(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                        const struct nexo_column *col)
{
    struct sq_buf probe = { 0 };
    if (!col->name || !*col->name)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "%s: a column without a name", op->table);
    int bad = sq_type(&probe, col);
    free(probe.p);
    if (bad && (col->type == NEXO_T_CHAR || col->type == NEXO_T_VARCHAR))
        return sq_op_fail(h, c, op, NEXO_EINVAL, "column %s.%s: CHAR and VARCHAR need a length",
                          op->table, col->name);
    if (bad)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "column %s.%s: unknown type %d", op->table,
                          col->name, (int)col->type);
    if (col->autoincrement && !sq_is_integer_type(col->type))
        return sq_op_fail(h, c, op, NEXO_EINVAL,
                          "column %s.%s: AUTOINCREMENT needs an integer type", op->table,
                          col->name);
    return 0;
}

static int has_column(const struct nexo_op *op, const char *name)
{
    for (size_t i = 0; i < op->ncolumns; i++)
        if (name && strcasecmp(op->columns[i].name, name) == 0)
            return 1;
    return 0;
}

static void column_list(struct sq_buf *b, const char *const *names, size_t n)
{
    sq_put(b, "(");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sq_put(b, ", ");
        sq_ident(b, names[i]);
    }
    sq_put(b, ")");
}

/* ---- indexes and foreign keys ------------------------------------------- */

static int index_stmt(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      const struct nexo_index *ix, struct sq_stmts *s)
{
    if (!ix->name || !*ix->name || !ix->columns || ix->ncolumns == 0)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "index on %s without a name or columns",
                          op->table);
    for (size_t i = 0; i < ix->ncolumns; i++)
        if (!ix->columns[i] || !*ix->columns[i])
            return sq_op_fail(h, c, op, NEXO_EINVAL, "index %s: an empty column name",
                              ix->name);
    struct sq_buf b = { 0 };
    sq_put(&b, ix->unique ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
    sq_ident(&b, ix->name);
    sq_put(&b, " ON ");
    sq_ident(&b, op->table);
    sq_put(&b, " ");
    column_list(&b, ix->columns, ix->ncolumns);
    sq_add(s, sq_take(&b), 0, NULL);
    return 0;
}

static const char *fk_action(const char *a)
{
    static const char *const actions[] = { "CASCADE", "SET NULL", "SET DEFAULT", "RESTRICT",
                                           "NO ACTION" };
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (strcasecmp(a, actions[i]) == 0)
            return actions[i];
    return NULL;
}

static int check_fk(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                    const struct nexo_foreign_key *fk)
{
    if (!fk->column || !*fk->column || !fk->ref_table || !*fk->ref_table || !fk->ref_column ||
        !*fk->ref_column)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "foreign key of %s: column, table or "
                          "referenced column missing", op->table);
    if (!has_column(op, fk->column))
        return sq_op_fail(h, c, op, NEXO_EINVAL, "foreign key of %s: %s is not a column of it",
                          op->table, fk->column);
    if (fk->on_delete && !fk_action(fk->on_delete))
        return sq_op_fail(h, c, op, NEXO_EINVAL, "foreign key %s.%s: unknown onDelete \"%s\"",
                          op->table, fk->column, fk->on_delete);
    if (fk->on_update && !fk_action(fk->on_update))
        return sq_op_fail(h, c, op, NEXO_EINVAL, "foreign key %s.%s: unknown onUpdate \"%s\"",
                          op->table, fk->column, fk->on_update);
    return 0;
}

static void fk_clause(struct sq_buf *b, const struct nexo_foreign_key *fk)
{
    sq_put(b, "FOREIGN KEY (");
    sq_ident(b, fk->column);
    sq_put(b, ") REFERENCES ");
    sq_ident(b, fk->ref_table);
    sq_put(b, " (");
    sq_ident(b, fk->ref_column);
    sq_put(b, ")");
    if (fk->on_delete)
        sq_printf(b, " ON DELETE %s", fk_action(fk->on_delete));
    if (fk->on_update)
        sq_printf(b, " ON UPDATE %s", fk_action(fk->on_update));
}

/* ---- CREATE TABLE --------------------------------------------------------- */

static int check_create(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op)
{
    size_t nprimary = 0, nauto = 0;
    if (!op->columns || op->ncolumns == 0)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "create_table %s: no columns", op->table);
    for (size_t i = 0; i < op->ncolumns; i++) {
        const struct nexo_column *col = &op->columns[i];
        int rc = check_column(h, c, op, col);
        if (rc)
            return rc;
        nprimary += col->primary != 0;
        nauto += col->autoincrement != 0;
        if (col->autoincrement && !col->primary)
            return sq_op_fail(h, c, op, NEXO_EINVAL,
                              "column %s.%s: AUTOINCREMENT only on the primary key", op->table,
                              col->name);
    }
    if (nauto && nprimary > 1)
        return sq_op_fail(h, c, op, NEXO_EINVAL,
                          "create_table %s: SQLite allows AUTOINCREMENT only on a one-column "
                          "primary key", op->table);
    for (size_t i = 0; i < op->nfkeys; i++) {
        int rc = check_fk(h, c, op, &op->fkeys[i]);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < op->nindexes; i++)
        for (size_t j = 0; j < op->indexes[i].ncolumns; j++)
            if (!has_column(op, op->indexes[i].columns[j]))
                return sq_op_fail(h, c, op, NEXO_EINVAL, "index %s: %s is not a column of %s",
                                  op->indexes[i].name ? op->indexes[i].name : "?",
                                  op->indexes[i].columns[j] ? op->indexes[i].columns[j] : "?",
                                  op->table);
    return 0;
}

static void primary_key(struct sq_buf *b, const struct nexo_op *op)
{
    int first = 1;
    for (size_t i = 0; i < op->ncolumns; i++) {
        if (op->columns[i].autoincrement)
            return; /* INTEGER PRIMARY KEY AUTOINCREMENT says it */
    }
    for (size_t i = 0; i < op->ncolumns; i++) {
        if (!op->columns[i].primary)
            continue;
        sq_put(b, first ? ", PRIMARY KEY (" : ", ");
        sq_ident(b, op->columns[i].name);
        first = 0;
    }
    if (!first)
        sq_put(b, ")");
}

static int r_create_table(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                          struct sq_stmts *s)
{
    int rc = check_create(h, c, op);
    if (rc)
        return rc;
    struct sq_buf b = { 0 };
    sq_put(&b, "CREATE TABLE ");
    sq_ident(&b, op->table);
    sq_put(&b, " (");
    for (size_t i = 0; i < op->ncolumns; i++) {
        if (i)
            sq_put(&b, ", ");
        column_def(&b, &op->columns[i]);
    }
    primary_key(&b, op);
    for (size_t i = 0; i < op->nfkeys; i++) {
        sq_put(&b, ", ");
        fk_clause(&b, &op->fkeys[i]);
    }
    sq_put(&b, ")");
    sq_add(s, sq_take(&b), 0, NULL);
    for (size_t i = 0; i < op->nindexes; i++) {
        rc = index_stmt(h, c, op, &op->indexes[i], s);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- columns of existing tables ------------------------------------------ */

static int r_add_column(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                        struct sq_stmts *s)
{
    if (!op->columns || op->ncolumns == 0)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "add_column on %s: no column", op->table);
    const struct nexo_column *col = &op->columns[0];
    int rc = check_column(h, c, op, col);
    if (rc)
        return rc;
    const char *def = col->default_value;
    if (col->primary || col->autoincrement)
        return sq_op_fail(h, c, op, NEXO_EINVAL,
                          "add_column %s.%s: SQLite cannot add a PRIMARY KEY column", op->table,
                          col->name);
    if (!col->nullable && (!def || is_null_word(def)))
        return sq_op_fail(h, c, op, NEXO_EINVAL,
                          "add_column %s.%s: SQLite adds a NOT NULL column only with a default "
                          "value", op->table, col->name);
    if (def && is_current(def))
        return sq_op_fail(h, c, op, NEXO_EINVAL,
                          "add_column %s.%s: SQLite cannot add a column whose default is %s",
                          op->table, col->name, def);
    if (col->after)
        h->log(c, NEXO_LOG_DEBUG, "%s:%d: add_column %s.%s: after=\"%s\" ignored, SQLite "
               "appends the column", op->file ? op->file : "(migration)", op->line, op->table,
               col->name, col->after);
    struct sq_buf b = { 0 };
    sq_put(&b, "ALTER TABLE ");
    sq_ident(&b, op->table);
    sq_put(&b, " ADD COLUMN ");
    column_def(&b, col);
    sq_add(s, sq_take(&b), 0, NULL);
    return 0;
}

/* The explicit indexes of a table as rows (index, unique, partial, column
 * or NULL for an expression), in column order. */
#define IX_COLS 4
static int read_indexes(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                        const struct nexo_op *op, struct sq_list *rows)
{
    static const char sql[] =
        "SELECT il.name, il.\"unique\", il.partial, ii.name "
        "FROM pragma_index_list(?1) AS il, pragma_index_info(il.name) AS ii "
        "WHERE il.origin = 'c' ORDER BY il.name, ii.seqno";
    char err[2048];
    const char *p[1] = { op->table };
    int rc = sq_run(conn, sql, 1, p, sq_collect, rows, err, sizeof err);
    return rc ? sq_op_fail(h, c, op, rc, "%s", err) : 0;
}

/* Drop one index that uses the column and create it again without it. */
static int redo_index(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      char **row, size_t nrows, struct sq_stmts *s)
{
    struct sq_buf b = { 0 };
    size_t kept = 0;
    for (size_t i = 0; i < nrows; i++)
        if (!row[i * IX_COLS + 3] || strcmp(row[i * IX_COLS + 2], "0") != 0)
            return sq_op_fail(h, c, op, NEXO_ENOTSUP,
                              "drop_column %s.%s: index %s is partial or on an expression; "
                              "SQLite cannot adjust it", op->table, op->column, row[0]);
    sq_put(&b, "DROP INDEX ");
    sq_ident(&b, row[0]);
    sq_add(s, sq_take(&b), 0, NULL);
    sq_put(&b, strcmp(row[1], "0") != 0 ? "CREATE UNIQUE INDEX " : "CREATE INDEX ");
    sq_ident(&b, row[0]);
    sq_put(&b, " ON ");
    sq_ident(&b, op->table);
    sq_put(&b, " (");
    for (size_t i = 0; i < nrows; i++) {
        const char *col = row[i * IX_COLS + 3];
        if (strcasecmp(col, op->column) == 0)
            continue;
        sq_put(&b, kept++ ? ", " : "");
        sq_ident(&b, col);
    }
    sq_put(&b, ")");
    if (kept)
        sq_add(s, sq_take(&b), 0, NULL);
    free(b.p);
    return 0;
}

static int adjust_indexes(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                          const struct nexo_op *op, struct sq_stmts *s)
{
    struct sq_list rows = { 0 };
    int rc = read_indexes(h, c, conn, op, &rows);
    size_t n = rows.n / IX_COLS;
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        int uses = 0;
        for (; j < n && strcmp(rows.v[j * IX_COLS], rows.v[i * IX_COLS]) == 0; j++)
            uses |= !rows.v[j * IX_COLS + 3] || strcasecmp(rows.v[j * IX_COLS + 3],
                                                           op->column) == 0;
        if (uses)
            rc = redo_index(h, c, op, rows.v + i * IX_COLS, j - i, s);
        i = j;
    }
    sq_list_free(&rows);
    return rc;
}

static int r_drop_column(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                         const struct nexo_op *op, struct sq_stmts *s)
{
    if (!op->column || !*op->column)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "drop_column on %s: no column", op->table);
    if (!conn)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "drop_column %s.%s: needs the database "
                          "connection (to adjust indexes)", op->table, op->column);
    int rc = adjust_indexes(h, c, conn, op, s);
    if (rc)
        return rc;
    struct sq_buf b = { 0 };
    sq_put(&b, "ALTER TABLE ");
    sq_ident(&b, op->table);
    sq_put(&b, " DROP COLUMN ");
    sq_ident(&b, op->column);
    sq_add(s, sq_take(&b), 0, NULL);
    return 0;
}

/* ---- data ------------------------------------------------------------------ */

/* "1" for "true", "0" for "false" (any case, white space around ignored);
 * NULL for anything else. */
static const char *bool_digit(const char *v)
{
    if (!v)
        return NULL;
    while (isspace((unsigned char)*v))
        v++;
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n == 4 && strncasecmp(v, "true", 4) == 0)
        return "1";
    if (n == 5 && strncasecmp(v, "false", 5) == 0)
        return "0";
    return NULL;
}

/* Which of the insert's columns are declared BOOLEAN or BOOL: isbool[i]
 * for names[i]. Asks the database only when there is a connection and a
 * value that would change. */
static int bool_columns(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                        const struct nexo_op *op, unsigned char *isbool)
{
    static const char sql[] = "SELECT name FROM pragma_table_info(?1) "
                              "WHERE type COLLATE NOCASE IN ('BOOLEAN', 'BOOL')";
    int any = 0;
    for (size_t i = 0; !any && i < op->nrows * op->nnames; i++)
        any = bool_digit(op->values[i]) != NULL;
    if (!conn || !any)
        return 0;
    struct sq_list cols = { 0 };
    char err[2048];
    const char *p[1] = { op->table };
    int rc = sq_run(conn, sql, 1, p, sq_collect, &cols, err, sizeof err);
    if (rc) {
        sq_list_free(&cols);
        return sq_op_fail(h, c, op, rc, "insert into %s: %s", op->table, err);
    }
    for (size_t i = 0; i < op->nnames; i++)
        for (size_t j = 0; !isbool[i] && j < cols.n; j++)
            isbool[i] = strcasecmp(op->names[i], cols.v[j]) == 0;
    sq_list_free(&cols);
    return 0;
}

static int r_insert(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                    const struct nexo_op *op, struct sq_stmts *s)
{
    if (!op->names || op->nnames == 0 || op->nnames > 32766 || (op->nrows && !op->values))
        return sq_op_fail(h, c, op, NEXO_EINVAL, "insert into %s: no columns or values",
                          op->table);
    for (size_t i = 0; i < op->nnames; i++)
        if (!op->names[i] || !*op->names[i])
            return sq_op_fail(h, c, op, NEXO_EINVAL, "insert into %s: an empty column name",
                              op->table);
    struct sq_buf b = { 0 };
    sq_put(&b, "INSERT INTO ");
    sq_ident(&b, op->table);
    sq_put(&b, " ");
    column_list(&b, op->names, op->nnames);
    sq_put(&b, " VALUES (");
    for (size_t i = 0; i < op->nnames; i++)
        sq_put(&b, i ? ", ?" : "?");
    sq_put(&b, ")");
    unsigned char *isbool = nx_xcalloc(op->nnames, 1);
    int rc = bool_columns(h, c, conn, op, isbool);
    const char **row = nx_xcalloc(op->nnames, sizeof *row);
    for (size_t r = 0; !rc && r < op->nrows; r++) {
        for (size_t i = 0; i < op->nnames; i++) {
            const char *v = op->values[r * op->nnames + i];
            const char *d = isbool[i] ? bool_digit(v) : NULL;
            row[i] = d ? d : v;
        }
        sq_add(s, nx_xstrdup(b.p), (int)op->nnames, row);
    }
    free(row);
    free(isbool);
    free(b.p);
    return rc;
}

static void where(struct sq_buf *b, const struct nexo_op *op)
{
    if (op->where_sql && *op->where_sql) {
        sq_put(b, " WHERE ");
        sq_put(b, op->where_sql);
    }
}

static int r_update(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                    struct sq_stmts *s)
{
    if (!op->set_sql || !*op->set_sql)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "update %s: nothing to set", op->table);
    struct sq_buf b = { 0 };
    sq_put(&b, "UPDATE ");
    sq_ident(&b, op->table);
    sq_put(&b, " SET ");
    sq_put(&b, op->set_sql);
    where(&b, op);
    sq_add(s, sq_take(&b), 0, NULL);
    return 0;
}

static int r_delete(struct sq_stmts *s, const struct nexo_op *op)
{
    struct sq_buf b = { 0 };
    sq_put(&b, "DELETE FROM ");
    sq_ident(&b, op->table);
    where(&b, op);
    sq_add(s, sq_take(&b), 0, NULL);
    return 0;
}

static int r_drop_table(struct sq_stmts *s, const struct nexo_op *op)
{
    struct sq_buf b = { 0 };
    sq_put(&b, "DROP TABLE IF EXISTS ");
    sq_ident(&b, op->table);
    sq_add(s, sq_take(&b), 0, NULL);
    return 0;
}

static int dispatch(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                    const struct nexo_op *op, struct sq_stmts *s)
{
    switch (op->kind) {
    case NEXO_OP_CREATE_TABLE:
        return r_create_table(h, c, op, s);
    case NEXO_OP_DROP_TABLE:
        return r_drop_table(s, op);
    case NEXO_OP_ADD_COLUMN:
        return r_add_column(h, c, op, s);
    case NEXO_OP_MODIFY_COLUMN:
        if (!conn)
            return sq_op_fail(h, c, op, NEXO_EINVAL, "modify_column on %s: needs the database "
                              "connection (SQLite rebuilds the table from its schema)",
                              op->table);
        return sq_rebuild(h, c, conn, op, s);
    case NEXO_OP_DROP_COLUMN:
        return r_drop_column(h, c, conn, op, s);
    case NEXO_OP_ADD_INDEX:
        if (!op->indexes || op->nindexes == 0)
            return sq_op_fail(h, c, op, NEXO_EINVAL, "add_index on %s: no index", op->table);
        return index_stmt(h, c, op, &op->indexes[0], s);
    case NEXO_OP_INSERT:
        return r_insert(h, c, conn, op, s);
    case NEXO_OP_UPDATE:
        return r_update(h, c, op, s);
    case NEXO_OP_DELETE:
        return r_delete(s, op);
    }
    return sq_op_fail(h, c, op, NEXO_EINVAL, "unknown operation kind %d", (int)op->kind);
}

int sq_render(const struct nexo_host *h, nexo_ctx *c, void *conn, const struct nexo_op *op,
              struct nexo_stmt **out, size_t *nout)
{
    if (!out || !nout || !op)
        return h->fail(c, NEXO_EINVAL, "render: no operation or no place for the result");
    *out = NULL;
    *nout = 0;
    if (!op->table || !*op->table)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "an operation without a table");
    struct sq_stmts s = { 0 };
    int rc = dispatch(h, c, conn, op, &s);
    if (rc) {
        sq_stmts_free(s.v, s.n);
        return rc;
    }
    *out = s.v;
    *nout = s.n;
    return 0;
}
