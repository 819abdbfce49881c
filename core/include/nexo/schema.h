/*
 * nexo-update schema operations: what migration files (database/upgrades/
 * upgrade_A_B.xml) and install files (database/schema/install.xml) ask of
 * the database, in a form every driver renders in its own dialect
 * (driver->render). The vocabulary is the spec's §5.2; types are the
 * spec's MySQL-style names, mapped by each driver (docs/database.md).
 *
 * All strings are owned by the caller and live for the duration of the
 * call. Identifiers (tables, columns, indexes) are already validated by
 * the parser: [A-Za-z_][A-Za-z0-9_]{0,62}; drivers still quote them.
 */
#ifndef NEXO_SCHEMA_H
#define NEXO_SCHEMA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum nexo_coltype {
    NEXO_T_TINYINT = 1,
    NEXO_T_SMALLINT,
    NEXO_T_INT,
    NEXO_T_BIGINT,
    NEXO_T_DECIMAL,     /* length = precision, scale */
    NEXO_T_FLOAT,
    NEXO_T_DOUBLE,
    NEXO_T_BOOLEAN,
    NEXO_T_CHAR,        /* length required */
    NEXO_T_VARCHAR,     /* length required */
    NEXO_T_TEXT,        /* length optional (a hint: MariaDB picks the TEXT size) */
    NEXO_T_MEDIUMTEXT,
    NEXO_T_LONGTEXT,
    NEXO_T_BLOB,
    NEXO_T_DATE,
    NEXO_T_DATETIME,
    NEXO_T_TIMESTAMP,
    NEXO_T_JSON
};

struct nexo_column {
    const char *name;
    enum nexo_coltype type;
    int is_unsigned;            /* "INT UNSIGNED" */
    unsigned length;            /* 0 = none */
    unsigned scale;             /* DECIMAL only */
    int nullable;               /* 0 for null="false" and for primary keys */
    int autoincrement;          /* only on an integer primary key */
    int primary;
    const char *default_value;  /* a literal as written in the file; NULL = none */
    const char *after;          /* add_column only: MariaDB places the column after
                                   this one; PostgreSQL and SQLite append it */
};

struct nexo_index {
    const char *name;
    const char *const *columns;
    size_t ncolumns;
    int unique;
};

struct nexo_foreign_key {
    const char *column;
    const char *ref_table;
    const char *ref_column;
    const char *on_delete;      /* "CASCADE", "SET NULL", "RESTRICT", "NO ACTION"; NULL */
    const char *on_update;
};

enum nexo_op_kind {
    NEXO_OP_CREATE_TABLE = 1,   /* table, columns, indexes, fkeys */
    NEXO_OP_DROP_TABLE,         /* table (IF EXISTS) */
    NEXO_OP_ADD_COLUMN,         /* table, columns[0] (with after) */
    NEXO_OP_MODIFY_COLUMN,      /* table, columns[0]: name, new type/length; nullable
                                   and default only when modify_null/modify_default */
    NEXO_OP_DROP_COLUMN,        /* table, column */
    NEXO_OP_ADD_INDEX,          /* table, indexes[0] */
    NEXO_OP_INSERT,             /* table, names[nnames], values[nrows*nnames] (NULL = SQL NULL) */
    NEXO_OP_UPDATE,             /* table, set_sql, where_sql (may be NULL) */
    NEXO_OP_DELETE              /* table, where_sql (may be NULL) */
};

struct nexo_op {
    enum nexo_op_kind kind;
    const char *table;
    const struct nexo_column *columns;
    size_t ncolumns;
    const struct nexo_index *indexes;
    size_t nindexes;
    const struct nexo_foreign_key *fkeys;
    size_t nfkeys;
    const char *column;
    const char *const *names;
    size_t nnames;
    const char *const *values;
    size_t nrows;
    /* SQL expressions written by the release's author (trusted, signed):
     * passed through as they are, {{TIMESTAMP}} already replaced. */
    const char *set_sql;
    const char *where_sql;
    int modify_null;            /* MODIFY_COLUMN: change nullability too */
    int modify_default;         /* MODIFY_COLUMN: change the default too */
    const char *file;           /* where the operation was written, for messages */
    int line;
};

/* One rendered statement: SQL text in the dialect with placeholders
 * ($1.. for pgsql, ? for mariadb and sqlite) and its text parameters. */
struct nexo_stmt {
    char *sql;
    int nparams;
    char **params;              /* NULL entries are SQL NULL */
};

#ifdef __cplusplus
}
#endif
#endif
