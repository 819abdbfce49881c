/*
 * MODIFY_COLUMN for SQLite. ALTER TABLE cannot change a column's type, so
 * the table is rebuilt the way https://www.sqlite.org/lang_altertable.html
 * ("Making Other Kinds Of Table Schema Changes") describes:
 *
 *   PRAGMA foreign_keys = OFF
 *   CREATE TABLE "nexo_new_t" (...)    t's own CREATE TABLE text with only
 *                                      the changed column's definition replaced
 *   INSERT INTO "nexo_new_t" (cols) SELECT cols FROM "t"
 *   DELETE FROM sqlite_sequence ...    (AUTOINCREMENT tables: carry t's
 *   INSERT INTO sqlite_sequence ...     position over, not just max(id))
 *   DROP TABLE "t"
 *   PRAGMA legacy_alter_table = ON
 *   ALTER TABLE "nexo_new_t" RENAME TO "t"
 *   PRAGMA legacy_alter_table = OFF
 *   t's indexes and triggers again, from their saved SQL
 *   PRAGMA foreign_keys = ON
 *   PRAGMA foreign_key_check("t"), and one for every table referencing t
 *
 * Foreign keys. Keeping enforcement on and setting PRAGMA defer_foreign_keys
 * is not enough: with enforcement on, DROP TABLE "t" first deletes every row
 * of t, and that runs the ON DELETE actions of the tables referencing t —
 * CASCADE deletes their rows, SET NULL clears their keys (deferral only
 * postpones the checks). Enforcement must be off. PRAGMA foreign_keys is a
 * no-op inside a transaction, and migrations run inside one, so the
 * driver's exec() carries out exactly the statements "PRAGMA foreign_keys =
 * OFF" and "= ON" itself with sqlite3_db_config(SQLITE_DBCONFIG_ENABLE_FKEY),
 * which also acts inside a transaction and is read back; commit() and
 * rollback() turn enforcement on again whatever happened in between. Run
 * outside a transaction (e.g. by hand in the sqlite3 shell), the same list
 * is the documented procedure. exec() fails a "PRAGMA foreign_key_check"
 * that reports a violation, so the last statements verify t as a child and
 * as a parent.
 *
 * legacy_alter_table = ON during the rename keeps SQLite from re-checking
 * views and triggers that name t while t does not exist (with it off, a
 * view on t makes the rename fail). Views survive the rebuild as they are
 * (they name the table); triggers on t are dropped with it and created
 * again from their saved SQL, as are its indexes.
 *
 * The new definition keeps everything of the CREATE TABLE text but the
 * changed column's definition: other columns, table constraints, WITHOUT
 * ROWID. Of that column it keeps the name as written, PRIMARY KEY [AUTOINCREMENT],
 * UNIQUE, COLLATE, REFERENCES, GENERATED and CHECK clauses, and NOT NULL /
 * DEFAULT unless modify_null / modify_default say otherwise; the type is
 * the new one, and the UNSIGNED check (CHECK ("col" >= 0), as render
 * writes it) follows the new type.
 *
 * In a dry run (phase "plan" or dry_run = 1) a table or column that does
 * not exist yet — an earlier file of the same run may add it — renders as
 * one "-- rebuild of table ..." comment line instead of an error; the real
 * statements are made from the schema as it is when the operation runs.
 *
 * Limits: rowids of a table without an INTEGER PRIMARY KEY may be
 * renumbered (as VACUUM may do); a STRICT table accepts only STRICT type
 * names, so its rebuild fails and the migration rolls back; virtual tables
 * are refused.
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

#define NEW_PREFIX "nexo_new_"
/* internal: the table or the column is not there */
#define MISSING 1

/* ---- a tokenizer for CREATE TABLE text --------------------------------- */

/* A parenthesized group is one token, so that commas and keywords inside
 * CHECK (...), DEFAULT (...) or VARCHAR(10) never split anything. */
enum tk { TK_WORD, TK_QUOTED, TK_STRING, TK_NUMBER, TK_GROUP, TK_PUNCT };

struct tok {
    enum tk kind;
    size_t start, end; /* offsets into the text */
};

struct toks {
    struct tok *v;
    size_t n, cap;
};

static size_t skip_blank(const char *s, size_t i, size_t end)
{
    for (;;) {
        if (i < end && isspace((unsigned char)s[i])) {
            i++;
        } else if (i + 1 < end && s[i] == '-' && s[i + 1] == '-') {
            while (i < end && s[i] != '\n')
                i++;
        } else if (i + 1 < end && s[i] == '/' && s[i + 1] == '*') {
            i += 2;
            while (i + 1 < end && !(s[i] == '*' && s[i + 1] == '/'))
                i++;
            i = i + 1 < end ? i + 2 : end;
        } else {
            return i;
        }
    }
}

static char closer(char open)
{
    return open == '[' ? ']' : open;
}

/* End of the quoted run opened at s[i]; a doubled closer is part of it
 * (except for [...]). 0 when unterminated. */
static size_t quoted_end(const char *s, size_t i, size_t end)
{
    char close = closer(s[i]);
    for (size_t j = i + 1; j < end; j++) {
        if (s[j] != close)
            continue;
        if (close != ']' && j + 1 < end && s[j + 1] == close) {
            j++;
            continue;
        }
        return j + 1;
    }
    return 0;
}

static int is_quote(char ch)
{
    return ch == '\'' || ch == '"' || ch == '`' || ch == '[';
}

static size_t group_end(const char *s, size_t i, size_t end)
{
    int depth = 0;
    for (;;) {
        i = skip_blank(s, i, end);
        if (i >= end)
            return 0;
        if (is_quote(s[i])) {
            i = quoted_end(s, i, end);
            if (!i)
                return 0;
            continue;
        }
        if (s[i] == '(')
            depth++;
        else if (s[i] == ')' && --depth == 0)
            return i + 1;
        i++;
    }
}

static int is_word_char(unsigned char ch)
{
    return isalnum(ch) || ch == '_' || ch == '$' || ch >= 0x80;
}

static size_t number_end(const char *s, size_t i, size_t end)
{
    while (i < end && (isalnum((unsigned char)s[i]) || s[i] == '.')) {
        if ((s[i] == 'e' || s[i] == 'E') && i + 1 < end && (s[i + 1] == '+' || s[i + 1] == '-'))
            i++;
        i++;
    }
    return i;
}

/* The token at s[i] (not blank); -1 when malformed. */
static int lex_one(const char *s, size_t i, size_t end, struct tok *t)
{
    unsigned char ch = (unsigned char)s[i];
    t->start = i;
    t->kind = TK_PUNCT;
    t->end = i + 1;
    if (ch == '(') {
        t->kind = TK_GROUP;
        t->end = group_end(s, i, end);
    } else if (is_quote((char)ch)) {
        t->kind = ch == '\'' ? TK_STRING : TK_QUOTED;
        t->end = quoted_end(s, i, end);
    } else if ((ch == 'x' || ch == 'X') && i + 1 < end && s[i + 1] == '\'') {
        t->kind = TK_STRING;
        t->end = quoted_end(s, i + 1, end);
    } else if (isdigit(ch) || (ch == '.' && i + 1 < end && isdigit((unsigned char)s[i + 1]))) {
        t->kind = TK_NUMBER;
        t->end = number_end(s, i, end);
    } else if (is_word_char(ch)) {
        t->kind = TK_WORD;
        t->end = i;
        while (t->end < end && is_word_char((unsigned char)s[t->end]))
            t->end++;
    }
    return t->end ? 0 : -1;
}

static int tokenize(const char *s, size_t start, size_t end, struct toks *out)
{
    size_t i = start;
    for (;;) {
        i = skip_blank(s, i, end);
        if (i >= end)
            return 0;
        struct tok t;
        if (lex_one(s, i, end, &t) != 0)
            return -1;
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 32;
            out->v = nx_xrealloc(out->v, out->cap * sizeof *out->v);
        }
        out->v[out->n++] = t;
        i = t.end;
    }
}

/* Tokens [0, n) of a column or table item, as a view into a toks. */
struct item {
    const char *s;
    const struct tok *v;
    size_t n;
};

static int kw_at(const struct item *it, size_t i, const char *kw)
{
    if (i >= it->n || it->v[i].kind != TK_WORD)
        return 0;
    size_t len = strlen(kw);
    return it->v[i].end - it->v[i].start == len && strncasecmp(it->s + it->v[i].start, kw, len) == 0;
}

static int kind_at(const struct item *it, size_t i, enum tk kind)
{
    return i < it->n && it->v[i].kind == kind;
}

/* ---- column definitions ------------------------------------------------- */

enum clause { CL_OTHER, CL_NULLNESS, CL_DEFAULT, CL_CHECK };

static int starts_clause(const struct item *it, size_t i)
{
    static const char *const kws[] = { "CONSTRAINT", "PRIMARY", "NOT", "NULL", "UNIQUE",
                                       "CHECK", "DEFAULT", "COLLATE", "REFERENCES",
                                       "GENERATED", "AS" };
    for (size_t k = 0; k < sizeof kws / sizeof kws[0]; k++)
        if (kw_at(it, i, kws[k]))
            return 1;
    return 0;
}

/* After an optional ON CONFLICT <resolution>. */
static size_t on_conflict(const struct item *it, size_t i)
{
    if (kw_at(it, i, "ON") && kw_at(it, i + 1, "CONFLICT") && i + 2 < it->n)
        return i + 3;
    return i;
}

/* The rest of a REFERENCES clause from the parent table's name; 0 when
 * malformed. */
static size_t references_end(const struct item *it, size_t i)
{
    if (i >= it->n)
        return 0;
    i++;
    if (kind_at(it, i, TK_GROUP))
        i++;
    for (;;) {
        if (kw_at(it, i, "ON"))
            i += kw_at(it, i + 2, "SET") || kw_at(it, i + 2, "NO") ? 4 : 3;
        else if (kw_at(it, i, "MATCH") || kw_at(it, i, "INITIALLY"))
            i += 2;
        else if (kw_at(it, i, "NOT") && kw_at(it, i + 1, "DEFERRABLE"))
            i += 2;
        else if (kw_at(it, i, "DEFERRABLE"))
            i++;
        else
            return i;
        if (i > it->n)
            return 0;
    }
}

static size_t generated_end(const struct item *it, size_t i)
{
    if (kw_at(it, i, "GENERATED")) {
        if (!kw_at(it, i + 1, "ALWAYS"))
            return 0;
        i += 2;
    }
    if (!kw_at(it, i, "AS") || !kind_at(it, i + 1, TK_GROUP))
        return 0;
    i += 2;
    return kw_at(it, i, "STORED") || kw_at(it, i, "VIRTUAL") ? i + 1 : i;
}

static size_t primary_end(const struct item *it, size_t i)
{
    if (!kw_at(it, i + 1, "KEY"))
        return 0;
    i += 2;
    if (kw_at(it, i, "ASC") || kw_at(it, i, "DESC"))
        i++;
    i = on_conflict(it, i);
    return kw_at(it, i, "AUTOINCREMENT") ? i + 1 : i;
}

/* The end of the column constraint starting at token i, and its kind; 0
 * when it is not one SQLite's grammar has. */
static size_t clause_end(const struct item *it, size_t i, enum clause *kind)
{
    *kind = CL_OTHER;
    if (kw_at(it, i, "CONSTRAINT"))
        return i + 2 < it->n ? clause_end(it, i + 2, kind) : 0;
    if (kw_at(it, i, "PRIMARY"))
        return primary_end(it, i);
    if (kw_at(it, i, "NOT") || kw_at(it, i, "NULL")) {
        size_t at = kw_at(it, i, "NOT") ? i + 1 : i;
        *kind = CL_NULLNESS;
        return kw_at(it, at, "NULL") ? on_conflict(it, at + 1) : 0;
    }
    if (kw_at(it, i, "UNIQUE"))
        return on_conflict(it, i + 1);
    if (kw_at(it, i, "CHECK")) {
        *kind = CL_CHECK;
        return kind_at(it, i + 1, TK_GROUP) ? i + 2 : 0;
    }
    if (kw_at(it, i, "DEFAULT")) {
        *kind = CL_DEFAULT;
        if (kind_at(it, i + 1, TK_PUNCT) && strchr("+-", it->s[it->v[i + 1].start]))
            i++;
        return i + 2 <= it->n ? i + 2 : 0;
    }
    if (kw_at(it, i, "COLLATE"))
        return i + 2 <= it->n ? i + 2 : 0;
    if (kw_at(it, i, "REFERENCES"))
        return references_end(it, i + 1);
    return generated_end(it, i);
}

/* Does the CHECK clause [a, e) say "col" >= 0, as render writes UNSIGNED? */
static int is_unsigned_check(const struct item *it, size_t e, const char *col)
{
    const struct tok *g = &it->v[e - 1];
    struct sq_buf text = { 0 }, quoted = { 0 };
    for (size_t i = g->start; i < g->end; i++)
        if (!isspace((unsigned char)it->s[i]))
            sq_putn(&text, it->s + i, 1);
    sq_put(&quoted, "(");
    sq_ident(&quoted, col);
    sq_put(&quoted, ">=0)");
    char *bare = nx_xasprintf("(%s>=0)", col);
    int same = text.p && (strcasecmp(text.p, quoted.p) == 0 || strcasecmp(text.p, bare) == 0);
    free(bare);
    free(text.p);
    free(quoted.p);
    return same;
}

static int keep_clause(const struct nexo_op *op, const struct item *it, size_t e,
                       enum clause kind)
{
    switch (kind) {
    case CL_NULLNESS:
        return !op->modify_null;
    case CL_DEFAULT:
        return !op->modify_default;
    case CL_CHECK:
        return !is_unsigned_check(it, e, op->columns[0].name);
    case CL_OTHER:
        break;
    }
    return 1;
}

/* The changed column's new definition from its old one (tokens of it). */
static int new_column(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      const struct item *it, struct sq_buf *out)
{
    const struct nexo_column *col = &op->columns[0];
    size_t i = 1;
    while (i < it->n && !starts_clause(it, i) &&
           (kind_at(it, i, TK_WORD) || (i > 1 && kind_at(it, i, TK_GROUP))))
        i++;
    sq_putn(out, it->s + it->v[0].start, it->v[0].end - it->v[0].start); /* name as written */
    sq_put(out, " ");
    sq_type(out, col);
    while (i < it->n) {
        enum clause kind;
        size_t e = clause_end(it, i, &kind);
        if (e <= i)
            return sq_op_fail(h, c, op, NEXO_ENOTSUP, "modify_column %s.%s: cannot read the "
                              "column's definition \"%.*s\"", op->table, col->name,
                              (int)(it->v[it->n - 1].end - it->v[0].start),
                              it->s + it->v[0].start);
        if (keep_clause(op, it, e, kind)) {
            sq_put(out, " ");
            sq_putn(out, it->s + it->v[i].start, it->v[e - 1].end - it->v[i].start);
        }
        i = e;
    }
    if (op->modify_null && !col->nullable)
        sq_put(out, " NOT NULL");
    if (op->modify_default && col->default_value) {
        sq_put(out, " DEFAULT ");
        sq_default(out, col);
    }
    if (col->is_unsigned)
        sq_unsigned_check(out, col->name);
    return 0;
}

/* ---- the table's CREATE TABLE text -------------------------------------- */

static int name_is(const struct item *it, const char *name)
{
    const struct tok *t = &it->v[0];
    struct sq_buf b = { 0 };
    if (t->kind == TK_WORD) {
        sq_putn(&b, it->s + t->start, t->end - t->start);
    } else if (t->kind == TK_QUOTED || t->kind == TK_STRING) {
        char close = closer(it->s[t->start]);
        for (size_t i = t->start + 1; i + 1 < t->end; i++) {
            sq_putn(&b, it->s + i, 1);
            if (it->s[i] == close && close != ']')
                i++;
        }
    }
    int same = b.p && strcasecmp(b.p, name) == 0;
    free(b.p);
    return same;
}

static int is_table_constraint(const struct item *it)
{
    return kw_at(it, 0, "CONSTRAINT") || kw_at(it, 0, "PRIMARY") || kw_at(it, 0, "UNIQUE") ||
           kw_at(it, 0, "CHECK") || kw_at(it, 0, "FOREIGN");
}

struct table_def {
    const char *sql;
    struct toks body;    /* the tokens between the parentheses */
    size_t tail;         /* offset after the closing parenthesis */
    int autoincrement;
};

static int parse_table(const char *sql, struct table_def *t)
{
    struct toks head = { 0 };
    int rc = tokenize(sql, 0, strlen(sql), &head);
    size_t g = 0;
    while (!rc && g < head.n && head.v[g].kind != TK_GROUP) {
        struct item it = { sql, &head.v[g], 1 };
        if (kw_at(&it, 0, "USING") || kw_at(&it, 0, "AS"))
            rc = -1;
        g++;
    }
    if (!rc && g < head.n) {
        t->sql = sql;
        t->tail = head.v[g].end;
        rc = tokenize(sql, head.v[g].start + 1, head.v[g].end - 1, &t->body);
    } else {
        rc = -1;
    }
    free(head.v);
    for (size_t i = 0; !rc && i < t->body.n; i++) {
        struct item it = { sql, &t->body.v[i], 1 };
        t->autoincrement |= kw_at(&it, 0, "AUTOINCREMENT");
    }
    return rc;
}

/* The next item of the body from token *pos: tokens up to a top-level
 * comma. */
static int next_item(const struct table_def *t, size_t *pos, struct item *it)
{
    size_t a = *pos;
    size_t b = a;
    while (b < t->body.n && !(t->body.v[b].kind == TK_PUNCT && t->sql[t->body.v[b].start] == ','))
        b++;
    it->s = t->sql;
    it->v = t->body.v + a;
    it->n = b - a;
    *pos = b + 1;
    return it->n > 0;
}

/* CREATE TABLE "nexo_new_t" (...) with the column's definition replaced;
 * *found says whether the column was there. */
static int new_create(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      const struct table_def *t, const char *new_name, struct sq_buf *out,
                      int *found)
{
    *found = 0;
    sq_put(out, "CREATE TABLE ");
    sq_ident(out, new_name);
    sq_put(out, " (");
    size_t pos = 0;
    for (int first = 1; pos < t->body.n; first = 0) {
        struct item it;
        if (!next_item(t, &pos, &it))
            return sq_op_fail(h, c, op, NEXO_ENOTSUP, "modify_column: cannot read the "
                              "definition of table %s", op->table);
        if (!first)
            sq_put(out, ", ");
        if (!*found && !is_table_constraint(&it) && name_is(&it, op->columns[0].name)) {
            *found = 1;
            int rc = new_column(h, c, op, &it, out);
            if (rc)
                return rc;
            continue;
        }
        sq_putn(out, t->sql + it.v[0].start, it.v[it.n - 1].end - it.v[0].start);
    }
    sq_put(out, ")");
    sq_put(out, t->sql + t->tail);
    return 0;
}

/* ---- what the database says about the table ------------------------------ */

static int read_list(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                     const struct nexo_op *op, const char *sql, const char *arg,
                     struct sq_list *out)
{
    char err[2048];
    const char *p[1] = { arg };
    int rc = sq_run(conn, sql, 1, p, sq_collect, out, err, sizeof err);
    return rc ? sq_op_fail(h, c, op, rc, "modify_column on %s: %s", op->table, err) : 0;
}

struct schema {
    struct sq_list table;    /* name, sql */
    struct sq_list columns;  /* stored columns, in order */
    struct sq_list saved;    /* SQL of the table's indexes and triggers */
    struct sq_list children; /* tables whose foreign keys reference it */
};

static void schema_free(struct schema *sc)
{
    sq_list_free(&sc->table);
    sq_list_free(&sc->columns);
    sq_list_free(&sc->saved);
    sq_list_free(&sc->children);
}

static int read_schema(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
                       const struct nexo_op *op, struct schema *sc)
{
    int rc = read_list(h, c, conn, op,
                       "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                       "AND name = ?1 COLLATE NOCASE", op->table, &sc->table);
    if (!rc && (sc->table.n != 2 || !sc->table.v[1]))
        return MISSING;
    const char *name = rc ? NULL : sc->table.v[0];
    if (!rc)
        rc = read_list(h, c, conn, op,
                       "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid",
                       name, &sc->columns);
    if (!rc)
        rc = read_list(h, c, conn, op,
                       "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                       "AND tbl_name = ?1 COLLATE NOCASE AND sql IS NOT NULL "
                       "ORDER BY type = 'trigger', rowid",
                       name, &sc->saved);
    if (!rc)
        rc = read_list(h, c, conn, op,
                       "SELECT DISTINCT m.name FROM sqlite_master AS m, "
                       "pragma_foreign_key_list(m.name) AS f WHERE m.type = 'table' "
                       "AND f.\"table\" = ?1 COLLATE NOCASE AND m.name <> ?1 COLLATE NOCASE "
                       "ORDER BY m.name",
                       name, &sc->children);
    return rc;
}

/* ---- the statements ------------------------------------------------------- */

static void add_sql(struct sq_stmts *s, const char *sql)
{
    sq_add(s, nx_xstrdup(sql), 0, NULL);
}

static void add_copy(struct sq_stmts *s, const struct schema *sc, const char *new_name)
{
    struct sq_buf b = { 0 };
    struct sq_buf cols = { 0 };
    for (size_t i = 0; i < sc->columns.n; i++) {
        sq_put(&cols, i ? ", " : "");
        sq_ident(&cols, sc->columns.v[i]);
    }
    sq_put(&b, "INSERT INTO ");
    sq_ident(&b, new_name);
    sq_printf(&b, " (%s) SELECT %s FROM ", cols.p, cols.p);
    sq_ident(&b, sc->table.v[0]);
    sq_add(s, sq_take(&b), 0, NULL);
    free(cols.p);
}

static void add_sequence(struct sq_stmts *s, const char *new_name, const char *name)
{
    const char *p[2] = { new_name, name };
    sq_add(s, nx_xstrdup("DELETE FROM sqlite_sequence WHERE name = ?"), 1, p);
    sq_add(s, nx_xstrdup("INSERT INTO sqlite_sequence (name, seq) "
                         "SELECT ?, seq FROM sqlite_sequence WHERE name = ?"), 2, p);
}

static void add_ident_stmt(struct sq_stmts *s, const char *before, const char *name,
                           const char *after)
{
    struct sq_buf b = { 0 };
    sq_put(&b, before);
    sq_ident(&b, name);
    sq_put(&b, after);
    sq_add(s, sq_take(&b), 0, NULL);
}

static void add_statements(struct sq_stmts *s, const struct schema *sc, int autoincrement,
                           const char *new_name, char *create)
{
    const char *name = sc->table.v[0];
    add_sql(s, "PRAGMA foreign_keys = OFF");
    sq_add(s, create, 0, NULL);
    add_copy(s, sc, new_name);
    if (autoincrement)
        add_sequence(s, new_name, name);
    add_ident_stmt(s, "DROP TABLE ", name, "");
    add_sql(s, "PRAGMA legacy_alter_table = ON");
    struct sq_buf b = { 0 };
    sq_put(&b, "ALTER TABLE ");
    sq_ident(&b, new_name);
    sq_put(&b, " RENAME TO ");
    sq_ident(&b, name);
    sq_add(s, sq_take(&b), 0, NULL);
    add_sql(s, "PRAGMA legacy_alter_table = OFF");
    for (size_t i = 0; i < sc->saved.n; i++)
        add_sql(s, sc->saved.v[i]);
    add_sql(s, "PRAGMA foreign_keys = ON");
    add_ident_stmt(s, "PRAGMA foreign_key_check(", name, ")");
    for (size_t i = 0; i < sc->children.n; i++)
        add_ident_stmt(s, "PRAGMA foreign_key_check(", sc->children.v[i], ")");
}

static int check_op(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op)
{
    if (!op->columns || op->ncolumns == 0 || !op->columns[0].name || !*op->columns[0].name)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "modify_column on %s: no column", op->table);
    struct sq_buf probe = { 0 };
    int bad = sq_type(&probe, &op->columns[0]);
    free(probe.p);
    if (bad)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "modify_column %s.%s: unknown type %d or "
                          "missing length", op->table, op->columns[0].name,
                          (int)op->columns[0].type);
    if (strncasecmp(op->table, "sqlite_", 7) == 0)
        return sq_op_fail(h, c, op, NEXO_EINVAL, "modify_column: %s is SQLite's own table",
                          op->table);
    return 0;
}

int sq_new_definition(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                      const char *sql, const char *new_name, char **create, int *autoincrement)
{
    struct table_def t = { 0 };
    struct sq_buf b = { 0 };
    int found = 0;
    int rc = parse_table(sql, &t);
    if (rc)
        rc = sq_op_fail(h, c, op, NEXO_ENOTSUP, "modify_column: cannot read the definition of "
                        "table %s (a virtual table?)", op->table);
    if (!rc)
        rc = new_create(h, c, op, &t, new_name, &b, &found);
    if (!rc && !found)
        rc = MISSING;
    *create = NULL;
    if (!rc)
        *create = sq_take(&b);
    *autoincrement = t.autoincrement;
    free(b.p);
    free(t.body.v);
    return rc;
}

static int rebuild_with(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                        const struct schema *sc, struct sq_stmts *out)
{
    char *new_name = nx_xasprintf(NEW_PREFIX "%s", sc->table.v[0]);
    char *create = NULL;
    int autoincrement = 0;
    int rc = sq_new_definition(h, c, op, sc->table.v[1], new_name, &create, &autoincrement);
    if (!rc) {
        add_statements(out, sc, autoincrement, new_name, create);
        h->log(c, NEXO_LOG_DEBUG, "%s:%d: modify_column %s.%s: rebuilding the table",
               op->file ? op->file : "(migration)", op->line, op->table, op->columns[0].name);
    }
    free(new_name);
    return rc;
}

/* A dry run shows the migrations' SQL without running any: an earlier
 * file of the same run may create the table or the column. */
static int is_preview(const struct nexo_host *h, nexo_ctx *c)
{
    const char *phase = h->info(c, "phase");
    const char *dry = h->info(c, "dry_run");
    return (phase && strcmp(phase, "plan") == 0) || (dry && strcmp(dry, "1") == 0);
}

static int missing(const struct nexo_host *h, nexo_ctx *c, const struct nexo_op *op,
                   const struct schema *sc, struct sq_stmts *out)
{
    const char *col = op->columns[0].name;
    if (!is_preview(h, c)) {
        if (sc->table.n != 2)
            return sq_op_fail(h, c, op, NEXO_ENOTFOUND, "modify_column: table %s does not "
                              "exist", op->table);
        return sq_op_fail(h, c, op, NEXO_ENOTFOUND, "modify_column: table %s has no column %s",
                          op->table, col);
    }
    struct sq_buf b = { 0 };
    sq_printf(&b, "-- rebuild of table %s to change column %s to ", op->table, col);
    sq_type(&b, &op->columns[0]);
    sq_printf(&b, ": its statements follow from the table's definition when the migration "
              "runs (the %s does not exist yet)", sc->table.n != 2 ? "table" : "column");
    sq_add(out, sq_take(&b), 0, NULL);
    return 0;
}

int sq_rebuild(const struct nexo_host *h, nexo_ctx *c, struct sq_conn *conn,
               const struct nexo_op *op, struct sq_stmts *out)
{
    int rc = check_op(h, c, op);
    if (rc)
        return rc;
    struct schema sc = { { 0 }, { 0 }, { 0 }, { 0 } };
    rc = read_schema(h, c, conn, op, &sc);
    if (!rc)
        rc = rebuild_with(h, c, op, &sc, out);
    if (rc == MISSING)
        rc = missing(h, c, op, &sc, out);
    schema_free(&sc);
    return rc;
}
