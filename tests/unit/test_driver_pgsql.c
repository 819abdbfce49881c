/* The PostgreSQL driver against a real server (tests/servers.sh), through
 * the fake host. Every test case gets its own database nexo_t_<pid>_<n>,
 * created and dropped (WITH (FORCE)) by an unchecked fixture, so it goes
 * even when the test fails. Without a server: "SKIP: ..." and exit 77.
 * Settings: NEXO_TEST_PG_HOST/PORT, NEXO_TEST_DB_USER/PASSWORD, and for TLS
 * NEXO_TEST_TLS_CA (the test CA of tests/servers.sh) and NEXO_TEST_TLS_USER
 * (a role the server admits only over TLS). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fakehost.h"
#include "loader.h"
#include "testutil.h"

#include <check.h>

static nx_module *mod;
static const struct nexo_driver_module *D;
static char dbname[64];
static unsigned dbseq;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

#define PG_HOST env_or("NEXO_TEST_PG_HOST", "127.0.0.1")
#define PG_PORT env_or("NEXO_TEST_PG_PORT", "5432")
#define PG_USER env_or("NEXO_TEST_DB_USER", "nexo_test")
#define PG_PASSWORD env_or("NEXO_TEST_DB_PASSWORD", "nexo-test-pw")
#define TLS_CA env_or("NEXO_TEST_TLS_CA", "/var/lib/nexo-test-tls/ca.crt")
#define TLS_USER env_or("NEXO_TEST_TLS_USER", "nexo_test_tls")
#define WRONG_CA "/etc/ssl/certs/ca-certificates.crt" /* the system's, not the test CA */

/* ---- helpers ----------------------------------------------------------- */

/* A fake host configured for database `db`; password from the env. */
static void host_for(struct fakehost *fh, const char *db)
{
    fh_init(fh, NULL);
    json_object_set_new(fh->config, "database.driver", json_string("pgsql"));
    json_object_set_new(fh->config, "database.host", json_string(PG_HOST));
    json_object_set_new(fh->config, "database.port", json_string(PG_PORT));
    json_object_set_new(fh->config, "database.user", json_string(PG_USER));
    json_object_set_new(fh->config, "database.name", json_string(db));
}

static void *connect_to(struct fakehost *fh)
{
    void *conn = NULL;
    int rc = D->connect(&fh->table, fh_ctx(fh), &conn);
    ck_assert_msg(rc == 0, "connect: %s", fh->msg);
    ck_assert_ptr_nonnull(conn);
    return conn;
}

static int t_exec(struct fakehost *fh, void *conn, const char *sql, int n,
                  const char *const *params)
{
    fh->msg[0] = '\0';
    return D->exec(&fh->table, fh_ctx(fh), conn, sql, n, params);
}

static void exec_ok(struct fakehost *fh, void *conn, const char *sql)
{
    int rc = t_exec(fh, conn, sql, 0, NULL);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh->msg);
}

struct collect {
    char text[8192];
    int rows;
    int stop_after;  /* 0: never */
    char names[256];
};

static int collect_row(void *arg, int ncols, const char *const *names, const char *const *values)
{
    struct collect *c = arg;
    size_t n = strlen(c->text);
    if (c->rows == 0)
        for (int i = 0; i < ncols; i++)
            snprintf(c->names + strlen(c->names), sizeof c->names - strlen(c->names), "%s%s",
                     i ? "," : "", names[i]);
    for (int i = 0; i < ncols; i++) {
        snprintf(c->text + n, sizeof c->text - n, "%s%s", i ? "|" : "",
                 values[i] ? values[i] : "<null>");
        n = strlen(c->text);
    }
    snprintf(c->text + n, sizeof c->text - n, "\n");
    c->rows++;
    return c->stop_after && c->rows >= c->stop_after ? 7 : 0;
}

/* The rows of a query as "a|b\n" lines (static buffer of the caller). */
static const char *q(struct fakehost *fh, void *conn, struct collect *c, const char *sql)
{
    memset(c, 0, sizeof *c);
    fh->msg[0] = '\0';
    int rc = D->query(&fh->table, fh_ctx(fh), conn, sql, 0, NULL, collect_row, c);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh->msg);
    return c->text;
}

static int t_exists(struct fakehost *fh, void *conn, const char *t, const char *col,
                    const char *idx)
{
    return D->exists(&fh->table, fh_ctx(fh), conn, t, col, idx);
}

/* Run statements on the server database "postgres" (fixtures). */
static void admin(const char *sql)
{
    struct fakehost fh;
    host_for(&fh, "postgres");
    void *conn = connect_to(&fh);
    int rc = t_exec(&fh, conn, sql, 0, NULL);
    ck_assert_msg(rc == 0, "%s: %s", sql, fh.msg);
    D->disconnect(conn);
    fh_free(&fh);
}

static void db_setup(void)
{
    char sql[128];
    tu_base_setup();
    snprintf(dbname, sizeof dbname, "nexo_t_%ld_%u", (long)getpid(), ++dbseq);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", dbname);
    admin(sql);
}

static void db_teardown(void)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", dbname);
    admin(sql);
    tu_base_teardown();
}

/* pg_dump's text of the test database (--schema-only or --data-only),
 * without the random \restrict and \unrestrict lines of pg_dump 15.14+. */
static char *dump(const char *what)
{
    char cmd[512], line[4096];
    snprintf(cmd, sizeof cmd, "pg_dump --no-password -h '%s' -p '%s' -U '%s' %s '%s' 2>&1",
             PG_HOST, PG_PORT, PG_USER, what, dbname);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(1, cap);
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "\\restrict", 9) == 0 || strncmp(line, "\\unrestrict", 11) == 0)
            continue;
        size_t l = strlen(line);
        if (n + l + 1 > cap) {
            cap = 2 * (n + l + 1);
            out = realloc(out, cap);
        }
        memcpy(out + n, line, l + 1);
        n += l;
    }
    ck_assert_int_eq(pclose(p), 0);
    return out;
}

/* Render an operation and run its statements; the first error. */
static int apply(struct fakehost *fh, void *conn, const struct nexo_op *op)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0;
    fh->msg[0] = '\0';
    int rc = D->render(&fh->table, fh_ctx(fh), conn, op, &st, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = D->exec(&fh->table, fh_ctx(fh), conn, st[i].sql, st[i].nparams,
                     (const char *const *)st[i].params);
    D->free_stmts(st, n);
    return rc;
}

static void apply_ok(struct fakehost *fh, void *conn, const struct nexo_op *op)
{
    int rc = apply(fh, conn, op);
    ck_assert_msg(rc == 0, "op %d line %d: %s", (int)op->kind, op->line, fh->msg);
}

/* Render only; the statements' SQL joined by ";\n". */
static char *render_text(struct fakehost *fh, const struct nexo_op *op, int *rc)
{
    struct nexo_stmt *st = NULL;
    size_t n = 0, len = 1;
    fh->msg[0] = '\0';
    *rc = D->render(&fh->table, fh_ctx(fh), NULL, op, &st, &n);
    for (size_t i = 0; i < n; i++)
        len += strlen(st[i].sql) + 2;
    char *out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        strcat(out, st[i].sql);
        strcat(out, i + 1 < n ? ";\n" : "");
    }
    D->free_stmts(st, n);
    return out;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define COL(...) ((struct nexo_column){ __VA_ARGS__ })
#define OP(...) ((struct nexo_op){ .file = "upgrade_1.4.0_1.5.0.xml", __VA_ARGS__ })

/* ---- connect ------------------------------------------------------------ */

START_TEST(connect_and_version)
{
    struct fakehost fh;
    struct collect c;
    char v[64];
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    ck_assert_int_eq(D->server_version(&fh.table, fh_ctx(&fh), conn, v, sizeof v), 0);
    ck_assert_msg(v[0] >= '1' && v[0] <= '9' && strchr(v, '.') && !strchr(v, ' '), "%s", v);
    ck_assert_int_eq(D->server_version(&fh.table, fh_ctx(&fh), conn, v, 2), NEXO_EINVAL);
    char want[128];
    snprintf(want, sizeof want, "nexo-update|UTF8|%s\n", dbname);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT current_setting('application_name'), "
                                      "current_setting('client_encoding'), current_database()"),
                     want);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(password_file)
{
    struct fakehost fh;
    char path[128], text[128];
    void *conn = NULL;
    unsetenv("NEXO_DB_PASSWORD");
    snprintf(path, sizeof path, "%s/db.password", tu_base);
    snprintf(text, sizeof text, "%s\n", PG_PASSWORD);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, 0644);
    host_for(&fh, dbname);
    json_object_set_new(fh.config, "database.password_file", json_string(path));
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EINVAL);
    ck_assert_ptr_null(conn);
    ck_assert_msg(strstr(fh.msg, path) && strstr(fh.msg, "group or others") &&
                  strstr(fh.msg, "chmod 600"), "%s", fh.msg);
    chmod(path, 0600);
    conn = connect_to(&fh);
    D->disconnect(conn);
    /* a wrong password in the file */
    f = fopen(path, "w");
    fputs("not-the-password\r\n", f);
    fclose(f);
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "password authentication failed"), "%s", fh.msg);
    /* empty, missing */
    f = fopen(path, "w");
    fputs("\n", f);
    fclose(f);
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "is empty"), "%s", fh.msg);
    unlink(path);
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EIO);
    ck_assert_msg(strstr(fh.msg, path), "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

START_TEST(wrong_password_and_settings)
{
    struct fakehost fh;
    char where[160];
    void *conn = NULL;
    setenv("NEXO_DB_PASSWORD", "wrong-password", 1);
    host_for(&fh, dbname);
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EDB);
    ck_assert_ptr_null(conn);
    snprintf(where, sizeof where, "%s:%s/%s", PG_HOST, PG_PORT, dbname);
    ck_assert_msg(strstr(fh.msg, where) && strstr(fh.msg, "password authentication failed") &&
                  !strchr(fh.msg, '\n'), "%s", fh.msg);
    setenv("NEXO_DB_PASSWORD", PG_PASSWORD, 1);
    json_object_set_new(fh.config, "database.port", json_string("54x"));
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "port = 54x"), "%s", fh.msg);
    json_object_del(fh.config, "database.port");
    json_object_del(fh.config, "database.name");
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "name is not set"), "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

/* ---- statements --------------------------------------------------------- */

START_TEST(exec_and_query_with_params)
{
    struct fakehost fh;
    struct collect c;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    exec_ok(&fh, conn, "CREATE TABLE t (id int PRIMARY KEY, name text, flag boolean)");
    const char *p1[] = { "1", "ann", "true" };
    const char *p2[] = { "2", NULL, NULL };
    const char *p3[] = { "3", "it's \"quoted\"", "false" };
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO t VALUES ($1, $2, $3)", 3, p1), 0);
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO t VALUES ($1, $2, $3)", 3, p2), 0);
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO t VALUES ($1, $2, $3)", 3, p3), 0);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, name, flag FROM t ORDER BY id"),
                     "1|ann|t\n2|<null>|<null>\n3|it's \"quoted\"|f\n");
    ck_assert_str_eq(c.names, "id,name,flag");
    /* parameters in a query; NULL compares as SQL NULL */
    const char *p4[] = { "1", NULL };
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(D->query(&fh.table, fh_ctx(&fh), conn,
                              "SELECT id FROM t WHERE id > $1::int OR name = $2 ORDER BY id", 2,
                              p4, collect_row, &c),
                     0);
    ck_assert_str_eq(c.text, "2\n3\n");
    /* the callback stops the query; its value is returned */
    memset(&c, 0, sizeof c);
    c.stop_after = 1;
    ck_assert_int_eq(D->query(&fh.table, fh_ctx(&fh), conn, "SELECT id FROM t ORDER BY id", 0,
                              NULL, collect_row, &c),
                     7);
    ck_assert_int_eq(c.rows, 1);
    /* the connection is still usable afterwards */
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM t"), "3\n");
    /* no rows; a statement without rows through query */
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id FROM t WHERE false"), "");
    ck_assert_str_eq(q(&fh, conn, &c, "UPDATE t SET flag = true WHERE id = 3"), "");
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(errors_name_the_sql)
{
    struct fakehost fh;
    struct collect c;
    char longsql[600];
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    ck_assert_int_eq(t_exec(&fh, conn, "SELECT * FROM no_such_table", 0, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "relation \"no_such_table\" does not exist") &&
                  strstr(fh.msg, "42P01") && strstr(fh.msg, "SQL: SELECT * FROM no_such_table"),
                  "%s", fh.msg);
    exec_ok(&fh, conn, "CREATE TABLE u (id int PRIMARY KEY)");
    exec_ok(&fh, conn, "INSERT INTO u VALUES (1)");
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO u\n  VALUES (1)", 0, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "duplicate key value") &&
                  strstr(fh.msg, "DETAIL: Key (id)=(1) already exists.") &&
                  strstr(fh.msg, "SQL: INSERT INTO u VALUES (1)"), "%s", fh.msg);
    /* long statements are shown up to 200 characters */
    snprintf(longsql, sizeof longsql, "SELECT 1 FROM no_such_table WHERE ");
    while (strlen(longsql) < 400)
        strcat(longsql, "1 = 1 AND ");
    strcat(longsql, "TAIL_MARK = 1");
    ck_assert_int_eq(t_exec(&fh, conn, longsql, 0, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "...") && !strstr(fh.msg, "TAIL_MARK"), "%s", fh.msg);
    /* query errors too; two statements at once are refused */
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(D->query(&fh.table, fh_ctx(&fh), conn, "SELECT nope FROM u", 0, NULL,
                              collect_row, &c),
                     NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "column \"nope\" does not exist") &&
                  strstr(fh.msg, "SQL: SELECT nope FROM u"), "%s", fh.msg);
    ck_assert_int_eq(t_exec(&fh, conn, "SELECT 1; SELECT 2", 0, NULL), NEXO_EDB);
    ck_assert_int_eq(t_exec(&fh, conn, "COPY u FROM STDIN", 0, NULL), NEXO_ENOTSUP);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM u"), "1\n");
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(transactions)
{
    struct fakehost fh;
    struct collect c;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *x = fh_ctx(&fh);
    /* DDL rolls back */
    ck_assert_int_eq(D->begin(&fh.table, x, conn), 0);
    ck_assert_int_eq(D->begin(&fh.table, x, conn), NEXO_EINVAL);
    exec_ok(&fh, conn, "CREATE TABLE gone (a int)");
    exec_ok(&fh, conn, "INSERT INTO gone VALUES (1)");
    ck_assert_int_eq(t_exists(&fh, conn, "gone", NULL, NULL), 1);
    ck_assert_int_eq(D->rollback(&fh.table, x, conn), 0);
    ck_assert_int_eq(t_exists(&fh, conn, "gone", NULL, NULL), 0);
    ck_assert_int_eq(D->rollback(&fh.table, x, conn), 0); /* again: harmless */
    /* commit keeps */
    ck_assert_int_eq(D->begin(&fh.table, x, conn), 0);
    exec_ok(&fh, conn, "CREATE TABLE kept (a int)");
    exec_ok(&fh, conn, "INSERT INTO kept VALUES (1)");
    ck_assert_int_eq(D->commit(&fh.table, x, conn), 0);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT a FROM kept"), "1\n");
    ck_assert_int_eq(D->commit(&fh.table, x, conn), NEXO_EINVAL);
    /* a failed statement: commit reports the rollback */
    ck_assert_int_eq(D->begin(&fh.table, x, conn), 0);
    exec_ok(&fh, conn, "INSERT INTO kept VALUES (2)");
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO nowhere VALUES (1)", 0, NULL), NEXO_EDB);
    ck_assert_int_eq(D->commit(&fh.table, x, conn), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "rolled back"), "%s", fh.msg);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM kept"), "1\n");
    ck_assert_int_eq(D->begin(&fh.table, x, conn), 0); /* the session is usable */
    ck_assert_int_eq(D->rollback(&fh.table, x, conn), 0);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(exists_in_current_schema)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    exec_ok(&fh, conn, "CREATE TABLE users (id int, \"Email\" text)");
    exec_ok(&fh, conn, "CREATE INDEX idx_email ON users (\"Email\")");
    exec_ok(&fh, conn, "CREATE SCHEMA other");
    exec_ok(&fh, conn, "CREATE TABLE other.elsewhere (x int)");
    exec_ok(&fh, conn, "CREATE INDEX idx_x ON other.elsewhere (x)");
    exec_ok(&fh, conn, "ALTER TABLE users DROP COLUMN id");
    ck_assert_int_eq(t_exists(&fh, conn, "users", NULL, NULL), 1);
    ck_assert_int_eq(t_exists(&fh, conn, "Users", NULL, NULL), 0);
    ck_assert_int_eq(t_exists(&fh, conn, "users", "Email", NULL), 1);
    ck_assert_int_eq(t_exists(&fh, conn, "users", "email", NULL), 0);
    ck_assert_int_eq(t_exists(&fh, conn, "users", "id", NULL), 0); /* dropped */
    ck_assert_int_eq(t_exists(&fh, conn, "users", NULL, "idx_email"), 1);
    ck_assert_int_eq(t_exists(&fh, conn, "users", "Email", "idx_email"), 1);
    ck_assert_int_eq(t_exists(&fh, conn, "users", "Email", "idx_x"), 0);
    ck_assert_int_eq(t_exists(&fh, conn, "elsewhere", NULL, NULL), 0);
    ck_assert_int_eq(t_exists(&fh, conn, "nothing", NULL, NULL), 0);
    exec_ok(&fh, conn, "SET search_path = other");
    ck_assert_int_eq(t_exists(&fh, conn, "elsewhere", "x", "idx_x"), 1);
    ck_assert_int_eq(t_exists(&fh, conn, "users", NULL, NULL), 0);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(quote_ident)
{
    char buf[140];
    ck_assert_int_eq(D->quote_ident("users", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "\"users\"");
    ck_assert_int_eq(D->quote_ident("a\"b", buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "\"a\"\"b\"");
    ck_assert_int_eq(D->quote_ident("users", buf, 7), NEXO_EINVAL);
    ck_assert_int_eq(D->quote_ident("users", buf, 8), 0);
    ck_assert_int_eq(D->quote_ident("", buf, sizeof buf), NEXO_EINVAL);
    ck_assert_int_eq(D->quote_ident("a\nb", buf, sizeof buf), NEXO_EINVAL);
    char name[70];
    memset(name, 'x', 64);
    name[64] = '\0';
    ck_assert_int_eq(D->quote_ident(name, buf, sizeof buf), NEXO_EINVAL);
    name[63] = '\0';
    ck_assert_int_eq(D->quote_ident(name, buf, sizeof buf), 0);
    ck_assert_str_eq(D->name, "pgsql");
    ck_assert_str_eq(D->dialect, "postgresql");
    ck_assert_uint_eq(D->flags & NEXO_DRIVER_TRANSACTIONAL_DDL, NEXO_DRIVER_TRANSACTIONAL_DDL);
}
END_TEST

/* ---- lock --------------------------------------------------------------- */

START_TEST(advisory_lock)
{
    struct fakehost a, b;
    host_for(&a, dbname);
    host_for(&b, dbname);
    void *ca = connect_to(&a), *cb = connect_to(&b);
    ck_assert_int_eq(D->lock(&a.table, fh_ctx(&a), ca, "nexo-migrate", 0), 0);
    long long t0 = now_ms();
    ck_assert_int_eq(D->lock(&b.table, fh_ctx(&b), cb, "nexo-migrate", 1), NEXO_EBUSY);
    long long waited = now_ms() - t0;
    ck_assert_msg(waited >= 900 && waited < 5000, "waited %lld ms", waited);
    ck_assert_msg(strstr(b.msg, "\"nexo-migrate\"") && strstr(b.msg, "held by another session") &&
                  strstr(b.msg, "(pid ") && strstr(b.msg, ", nexo-update)"), "%s", b.msg);
    ck_assert_int_eq(D->lock(&b.table, fh_ctx(&b), cb, "other-lock", 0), 0);
    ck_assert_int_eq(D->lock(&b.table, fh_ctx(&b), cb, "nexo-migrate", 0), NEXO_EBUSY);
    ck_assert_int_eq(D->unlock(&a.table, fh_ctx(&a), ca, "nexo-migrate"), 0);
    ck_assert_int_eq(D->lock(&b.table, fh_ctx(&b), cb, "nexo-migrate", 0), 0);
    ck_assert_int_eq(D->lock(&a.table, fh_ctx(&a), ca, "nexo-migrate", 0), NEXO_EBUSY);
    ck_assert_int_eq(D->unlock(&a.table, fh_ctx(&a), ca, "nexo-migrate"), 0); /* not held */
    /* released when the connection ends; a waiter gets it while polling */
    D->disconnect(cb);
    ck_assert_int_eq(D->lock(&a.table, fh_ctx(&a), ca, "nexo-migrate", 5), 0);
    D->disconnect(ca);
    fh_free(&a);
    fh_free(&b);
}
END_TEST

/* ---- backup and restore ------------------------------------------------- */

static const char *const before_sql[] = {
    "CREATE TABLE users (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
    " name varchar(50) NOT NULL, email text UNIQUE)",
    "INSERT INTO users (name, email) VALUES ('ann', 'a@example.org'), ('bob', NULL)",
    "CREATE SEQUENCE counter START 10",
    "SELECT nextval('counter'), nextval('counter')",
    "CREATE TABLE posts (id serial PRIMARY KEY, user_id bigint REFERENCES users (id)"
    " ON DELETE CASCADE, body text, created timestamp DEFAULT CURRENT_TIMESTAMP)",
    "INSERT INTO posts (user_id, body) VALUES (1, 'hello'), (2, E'two\\nlines')",
    "CREATE INDEX idx_posts_user ON posts (user_id)",
    "CREATE VIEW v_users AS SELECT id, name FROM users",
    "CREATE SCHEMA extra",
    "CREATE TABLE extra.t (a int)",
    "INSERT INTO extra.t VALUES (1), (2)",
    "CREATE FUNCTION add1(int) RETURNS int LANGUAGE sql AS 'SELECT $1 + 1'",
    "COMMENT ON TABLE users IS 'people'",
    "GRANT CREATE ON SCHEMA public TO PUBLIC",
    NULL,
};

static const char *const changes_sql[] = {
    "CREATE TABLE newt (a int)",
    "INSERT INTO newt VALUES (1)",
    "INSERT INTO users (name) VALUES ('carl')",
    "UPDATE users SET name = 'ANN' WHERE id = 1",
    "SELECT nextval('counter')",
    "INSERT INTO posts (user_id, body) VALUES (1, 'more')",
    "DROP VIEW v_users",
    "DROP TABLE posts",
    "CREATE SCHEMA later",
    "CREATE TABLE later.x (b int)",
    "DROP SCHEMA extra CASCADE",
    "ALTER TABLE users ADD COLUMN age int",
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    "SELECT lo_from_bytea(0, 'large object')",
    NULL,
};

static void exec_all(struct fakehost *fh, void *conn, const char *const *sql)
{
    for (size_t i = 0; sql[i]; i++)
        exec_ok(fh, conn, sql[i]);
}

static int dir_is_empty(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", path);
    return system(cmd) == 0;
}

START_TEST(backup_then_restore_is_exact)
{
    struct fakehost fh;
    struct collect c;
    struct stat st;
    char path[128], work[128], head[8] = { 0 };
    host_for(&fh, dbname);
    snprintf(work, sizeof work, "%s/work", tu_base);
    ck_assert_int_eq(mkdir(work, 0700), 0);
    json_object_set_new(fh.info, "work_dir", json_string(work));
    void *conn = connect_to(&fh);
    exec_all(&fh, conn, before_sql);
    char *schema0 = dump("--schema-only"), *data0 = dump("--data-only");
    ck_assert_msg(strstr(data0, "setval('public.counter', 11, true)") &&
                  strstr(data0, "setval('public.users_id_seq', 2, true)"), "%s", data0);
    snprintf(path, sizeof path, "%s/site.dump", tu_base);
    ck_assert_msg(D->backup(&fh.table, fh_ctx(&fh), conn, path) == 0, "%s", fh.msg);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    FILE *f = fopen(path, "r");
    ck_assert_uint_eq(fread(head, 1, 5, f), 5);
    fclose(f);
    ck_assert_str_eq(head, "PGDMP");
    ck_assert_msg(dir_is_empty(work), "temporary files left in %s", work);

    exec_all(&fh, conn, changes_sql);
    char *schema1 = dump("--schema-only");
    ck_assert_str_ne(schema0, schema1);
    free(schema1);

    ck_assert_msg(D->restore(&fh.table, fh_ctx(&fh), conn, path) == 0, "%s", fh.msg);
    ck_assert_msg(dir_is_empty(work), "temporary files left in %s", work);
    char *schema2 = dump("--schema-only"), *data2 = dump("--data-only");
    ck_assert_str_eq(schema0, schema2);
    ck_assert_str_eq(data0, data2);
    /* the same connection goes on working; sequences continue */
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT nextval('counter')"), "12\n");
    exec_ok(&fh, conn, "INSERT INTO users (name) VALUES ('dan')");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, name FROM users ORDER BY id"),
                     "1|ann\n2|bob\n3|dan\n");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM pg_largeobject_metadata"), "0\n");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT add1(1), (SELECT count(*) FROM extra.t)"),
                     "2|2\n");
    free(schema0);
    free(data0);
    free(schema2);
    free(data2);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(backup_restore_refusals_leave_the_database_alone)
{
    struct fakehost fh;
    struct collect c;
    char path[128], bad[128], cut[128];
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    nexo_ctx *x = fh_ctx(&fh);
    snprintf(path, sizeof path, "%s/site.dump", tu_base);
    snprintf(bad, sizeof bad, "%s/text.dump", tu_base);
    snprintf(cut, sizeof cut, "%s/cut.dump", tu_base);
    exec_ok(&fh, conn, "CREATE TABLE big (id int PRIMARY KEY, v text)");
    exec_ok(&fh, conn, "INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) "
                       "FROM generate_series(1, 60000) g");
    /* inside a transaction: refused */
    ck_assert_int_eq(D->begin(&fh.table, x, conn), 0);
    ck_assert_int_eq(D->backup(&fh.table, x, conn, path), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "inside a transaction"), "%s", fh.msg);
    ck_assert_int_eq(D->restore(&fh.table, x, conn, path), NEXO_EINVAL);
    ck_assert_int_eq(D->rollback(&fh.table, x, conn), 0);
    /* files that cannot be */
    ck_assert_int_eq(D->backup(&fh.table, x, conn, "/nonexistent/dir/site.dump"), NEXO_EIO);
    ck_assert_msg(strstr(fh.msg, "/nonexistent/dir/site.dump"), "%s", fh.msg);
    ck_assert_int_eq(D->restore(&fh.table, x, conn, "/nonexistent/site.dump"), NEXO_ENOTFOUND);
    /* a failing pg_dump leaves an existing file as it was, and no .partial */
    FILE *keep = fopen(path, "w");
    fputs("old backup", keep);
    fclose(keep);
    const char *pathvar = getenv("PATH");
    char *saved = strdup(pathvar ? pathvar : "/usr/bin:/bin");
    setenv("PATH", "/nonexistent", 1);
    ck_assert_int_eq(D->backup(&fh.table, x, conn, path), NEXO_EDB);
    setenv("PATH", saved, 1);
    free(saved);
    ck_assert_msg(strstr(fh.msg, "pg_dump exited with status 127") &&
                  strstr(fh.msg, "cannot execute pg_dump"), "%s", fh.msg);
    char partial[160];
    snprintf(partial, sizeof partial, "%s.partial", path);
    ck_assert_int_ne(access(partial, F_OK), 0);
    keep = fopen(path, "r");
    char old[32] = { 0 };
    ck_assert_ptr_nonnull(fgets(old, sizeof old, keep));
    fclose(keep);
    ck_assert_str_eq(old, "old backup");
    FILE *f = fopen(bad, "w");
    fputs("-- plain SQL\nDROP TABLE big;\n", f);
    fclose(f);
    ck_assert_int_eq(D->restore(&fh.table, x, conn, bad), NEXO_EINVAL);
    ck_assert_msg(strstr(fh.msg, "not a pg_dump custom-format archive"), "%s", fh.msg);
    /* a truncated archive: pg_restore fails half-way; nothing changes */
    ck_assert_msg(D->backup(&fh.table, x, conn, path) == 0, "%s", fh.msg);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "head -c %lld '%s' > '%s'", (long long)st.st_size * 2 / 3, path,
             cut);
    ck_assert_int_eq(system(cmd), 0);
    exec_ok(&fh, conn, "CREATE TABLE marker (a int)");
    exec_ok(&fh, conn, "DELETE FROM big WHERE id > 10");
    ck_assert_int_eq(D->restore(&fh.table, x, conn, cut), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "pg_restore") && strstr(fh.msg, cut), "%s", fh.msg);
    ck_assert_int_eq(t_exists(&fh, conn, "marker", NULL, NULL), 1);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM big"), "10\n");
    /* and the whole archive does restore */
    ck_assert_msg(D->restore(&fh.table, x, conn, path) == 0, "%s", fh.msg);
    ck_assert_int_eq(t_exists(&fh, conn, "marker", NULL, NULL), 0);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM big"), "60000\n");
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

/* ---- render ------------------------------------------------------------- */

START_TEST(render_spec_migration)
{
    struct fakehost fh;
    struct collect c;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    /* users, as an install file would create it */
    const struct nexo_column ucols[] = {
        COL(.name = "id", .type = NEXO_T_INT, .is_unsigned = 1, .autoincrement = 1,
            .primary = 1),
        COL(.name = "email", .type = NEXO_T_VARCHAR, .length = 255),
        COL(.name = "bio", .type = NEXO_T_VARCHAR, .length = 100, .nullable = 1),
        COL(.name = "deprecated_field", .type = NEXO_T_INT, .nullable = 1),
        COL(.name = "active", .type = NEXO_T_BOOLEAN, .default_value = "1"),
    };
    const char *const email_col[] = { "email" };
    const struct nexo_index uidx[] = { { "uniq_email", email_col, 1, 1 } };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "users", .columns = ucols,
                            .ncolumns = 5, .indexes = uidx, .nindexes = 1, .line = 3));
    const char *const unames[] = { "id", "email", "bio" };
    const char *const uvals[] = { "1", "a@example.org", "likes tea", "2", "b@example.org", NULL };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_INSERT, .table = "users", .names = unames,
                            .nnames = 3, .values = uvals, .nrows = 2, .line = 9));
    /* spec §5.2 create_table */
    const struct nexo_column ncols[] = {
        COL(.name = "id", .type = NEXO_T_BIGINT, .is_unsigned = 1, .autoincrement = 1,
            .primary = 1),
        COL(.name = "user_id", .type = NEXO_T_INT, .is_unsigned = 1),
        COL(.name = "title", .type = NEXO_T_VARCHAR, .length = 255, .nullable = 1),
        COL(.name = "message", .type = NEXO_T_TEXT, .nullable = 1),
        COL(.name = "read_at", .type = NEXO_T_INT, .is_unsigned = 1, .nullable = 1),
        COL(.name = "created_at", .type = NEXO_T_INT, .is_unsigned = 1),
    };
    const char *const c_user[] = { "user_id" }, *const c_read[] = { "read_at" };
    const struct nexo_index nidx[] = { { "idx_user_id", c_user, 1, 0 },
                                       { "idx_read_at", c_read, 1, 0 } };
    const struct nexo_foreign_key nfk[] = { { "user_id", "users", "id", "CASCADE", NULL } };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "notifications",
                            .columns = ncols, .ncolumns = 6, .indexes = nidx, .nindexes = 2,
                            .fkeys = nfk, .nfkeys = 1, .line = 12));
    ck_assert_int_eq(t_exists(&fh, conn, "notifications", "read_at", "idx_read_at"), 1);
    ck_assert_int_eq(t_exists(&fh, conn, "notifications", NULL, "idx_user_id"), 1);
    /* modify_table users */
    const struct nexo_column avatar =
        COL(.name = "avatar_url", .type = NEXO_T_VARCHAR, .length = 255, .nullable = 1,
            .after = "email");
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_ADD_COLUMN, .table = "users", .columns = &avatar,
                            .ncolumns = 1, .line = 30));
    ck_assert_msg(strstr(fh.logbuf, "after=\"email\" ignored"), "%s", fh.logbuf);
    const struct nexo_column bio =
        COL(.name = "bio", .type = NEXO_T_TEXT, .length = 2000, .nullable = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = &bio,
                            .ncolumns = 1, .line = 33));
    const char *const c_avatar[] = { "avatar_url" };
    const struct nexo_index aidx = { "idx_avatar", c_avatar, 1, 0 };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_ADD_INDEX, .table = "users", .indexes = &aidx,
                            .nindexes = 1, .line = 36));
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_DROP_COLUMN, .table = "users",
                            .column = "deprecated_field", .line = 39));
    ck_assert_int_eq(t_exists(&fh, conn, "users", "deprecated_field", NULL), 0);
    ck_assert_int_eq(t_exists(&fh, conn, "users", "avatar_url", "idx_avatar"), 1);
    /* drop_table, also of a table that is not there */
    const struct nexo_column ocol = COL(.name = "x", .type = NEXO_T_INT, .nullable = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "obsolete_table",
                            .columns = &ocol, .ncolumns = 1, .line = 40));
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_DROP_TABLE, .table = "obsolete_table", .line = 43));
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_DROP_TABLE, .table = "obsolete_table", .line = 44));
    ck_assert_int_eq(t_exists(&fh, conn, "obsolete_table", NULL, NULL), 0);
    /* data */
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_UPDATE, .table = "users",
                            .set_sql = "avatar_url='/assets/images/default-avatar.png'",
                            .where_sql = "avatar_url IS NULL AND id = 1", .line = 50));
    const char *const nnames[] = { "user_id", "title", "message", "created_at" };
    const char *const nvals[] = { "1", "hello", NULL, "50", "2", "hi", "text", "500",
                                  "1", "again", NULL, "5000" };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_INSERT, .table = "notifications", .names = nnames,
                            .nnames = 4, .values = nvals, .nrows = 3, .line = 55));
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_DELETE, .table = "notifications",
                            .where_sql = "created_at < 1000-900", .line = 60));
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, email, bio, avatar_url, active FROM users "
                                      "ORDER BY id"),
                     "1|a@example.org|likes tea|/assets/images/default-avatar.png|t\n"
                     "2|b@example.org|<null>|<null>|t\n");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, user_id, title, message FROM notifications "
                                      "ORDER BY id"),
                     "2|2|hi|text\n3|1|again|<null>\n");
    /* the foreign key cascades; a new user gets the next id */
    exec_ok(&fh, conn, "DELETE FROM users WHERE id = 1");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id FROM notifications"), "2\n");
    exec_ok(&fh, conn, "INSERT INTO users (email) VALUES ('c@example.org')");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT max(id) FROM users"), "3\n");
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_DELETE, .table = "notifications", .line = 61));
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT count(*) FROM notifications"), "0\n");
    /* unsigned: a negative value is refused */
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO notifications (user_id, created_at) "
                                       "VALUES (2, -1)", 0, NULL), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "created_at_unsigned"), "%s", fh.msg);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

static const char *const type_rows =
    "t_tiny|smallint|t|<null>\n"
    "t_tiny_u|smallint|t|<null>\n"
    "t_small|smallint|t|<null>\n"
    "t_small_u|integer|t|<null>\n"
    "t_int|integer|f|'-5'::integer\n"
    "t_int_u|bigint|f|7\n"
    "t_big|bigint|f|<null>\n"
    "t_big_u|bigint|f|<null>\n"
    "t_dec|numeric(10,2)|f|1.50\n"
    "t_dec0|numeric(10,0)|f|<null>\n"
    "t_float|real|f|<null>\n"
    "t_double|double precision|f|'-1500'::numeric\n"
    "t_bool|boolean|f|true\n"
    "t_bool2|boolean|f|false\n"
    "t_char|character(3)|f|'abc'::bpchar\n"
    "t_varchar|character varying(20)|f|'it''s'::character varying\n"
    "t_text|text|f|'a\\b'::text\n"
    "t_medium|text|f|<null>\n"
    "t_long|text|f|'NULLish'::text\n"
    "t_blob|bytea|f|<null>\n"
    "t_date|date|f|CURRENT_DATE\n"
    "t_dt|timestamp without time zone|f|CURRENT_TIMESTAMP\n"
    "t_ts|timestamp(3) without time zone|f|NULL::timestamp without time zone\n"
    "t_json|jsonb|f|'{\"a\": 1}'::jsonb\n";

START_TEST(render_types_and_defaults)
{
    struct fakehost fh;
    struct collect c;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    const struct nexo_column cols[] = {
        COL(.name = "t_tiny", .type = NEXO_T_TINYINT),
        COL(.name = "t_tiny_u", .type = NEXO_T_TINYINT, .is_unsigned = 1),
        COL(.name = "t_small", .type = NEXO_T_SMALLINT),
        COL(.name = "t_small_u", .type = NEXO_T_SMALLINT, .is_unsigned = 1),
        COL(.name = "t_int", .type = NEXO_T_INT, .length = 11, .nullable = 1,
            .default_value = "-5"),
        COL(.name = "t_int_u", .type = NEXO_T_INT, .is_unsigned = 1, .nullable = 1,
            .default_value = "7"),
        COL(.name = "t_big", .type = NEXO_T_BIGINT, .nullable = 1),
        COL(.name = "t_big_u", .type = NEXO_T_BIGINT, .is_unsigned = 1, .nullable = 1),
        COL(.name = "t_dec", .type = NEXO_T_DECIMAL, .length = 10, .scale = 2, .nullable = 1,
            .default_value = "1.50"),
        COL(.name = "t_dec0", .type = NEXO_T_DECIMAL, .nullable = 1),
        COL(.name = "t_float", .type = NEXO_T_FLOAT, .nullable = 1),
        COL(.name = "t_double", .type = NEXO_T_DOUBLE, .nullable = 1, .default_value = "-1.5e3"),
        COL(.name = "t_bool", .type = NEXO_T_BOOLEAN, .nullable = 1, .default_value = "TRUE"),
        COL(.name = "t_bool2", .type = NEXO_T_BOOLEAN, .nullable = 1, .default_value = "0"),
        COL(.name = "t_char", .type = NEXO_T_CHAR, .length = 3, .nullable = 1,
            .default_value = "abc"),
        COL(.name = "t_varchar", .type = NEXO_T_VARCHAR, .length = 20, .nullable = 1,
            .default_value = "it's"),
        COL(.name = "t_text", .type = NEXO_T_TEXT, .length = 500, .nullable = 1,
            .default_value = "a\\b"),
        COL(.name = "t_medium", .type = NEXO_T_MEDIUMTEXT, .nullable = 1),
        COL(.name = "t_long", .type = NEXO_T_LONGTEXT, .nullable = 1, .default_value = "NULLish"),
        COL(.name = "t_blob", .type = NEXO_T_BLOB, .nullable = 1),
        COL(.name = "t_date", .type = NEXO_T_DATE, .nullable = 1,
            .default_value = "current_date"),
        COL(.name = "t_dt", .type = NEXO_T_DATETIME, .nullable = 1,
            .default_value = "CURRENT_TIMESTAMP"),
        COL(.name = "t_ts", .type = NEXO_T_TIMESTAMP, .length = 3, .nullable = 1,
            .default_value = "null"),
        COL(.name = "t_json", .type = NEXO_T_JSON, .nullable = 1, .default_value = "{\"a\":1}"),
    };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "alltypes", .columns = cols,
                            .ncolumns = sizeof cols / sizeof cols[0], .line = 70));
    ck_assert_str_eq(q(&fh, conn, &c,
                       "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
                       " pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
                       " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
                       " WHERE a.attrelid = 'alltypes'::regclass AND a.attnum > 0"
                       " ORDER BY a.attnum"),
                     type_rows);
    /* unsigned columns have their CHECK; the ranges */
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT conname FROM pg_constraint WHERE conrelid = "
                                      "'alltypes'::regclass ORDER BY conname"),
                     "t_big_u_unsigned\nt_int_u_unsigned\nt_small_u_unsigned\n"
                     "t_tiny_u_unsigned\n");
    exec_ok(&fh, conn, "INSERT INTO alltypes (t_tiny, t_tiny_u, t_small, t_small_u, t_int_u, "
                       "t_big_u, t_blob) VALUES (-128, 255, -32768, 65535, 4294967295, "
                       "9223372036854775807, '\\x00ff')");
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO alltypes (t_tiny, t_tiny_u, t_small, "
                                       "t_small_u) VALUES (0, -1, 0, 0)", 0, NULL), NEXO_EDB);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT t_int, t_int_u, t_bool, t_varchar, t_text, "
                                      "t_json->>'a', t_dt IS NOT NULL, t_ts FROM alltypes"),
                     "-5|4294967295|t|it's|a\\b|1|t|<null>\n");
    /* the rendered text of one table, for the docs */
    const struct nexo_column small[] = {
        COL(.name = "id", .type = NEXO_T_INT, .is_unsigned = 1, .autoincrement = 1,
            .primary = 1),
        COL(.name = "name", .type = NEXO_T_VARCHAR, .length = 10, .default_value = "x"),
    };
    int rc;
    char *sql = render_text(&fh, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "t",
                                     .columns = small, .ncolumns = 2), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(sql, "CREATE TABLE \"t\" (\n"
                          "    \"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL "
                          "CONSTRAINT \"id_unsigned\" CHECK (\"id\" >= 0),\n"
                          "    \"name\" varchar(10) NOT NULL DEFAULT 'x',\n"
                          "    PRIMARY KEY (\"id\")\n)");
    free(sql);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(render_modify_column_keeps_data)
{
    struct fakehost fh;
    struct collect c;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    const struct nexo_column cols[] = {
        COL(.name = "id", .type = NEXO_T_INT, .autoincrement = 1, .primary = 1),
        COL(.name = "v", .type = NEXO_T_VARCHAR, .length = 20, .nullable = 1),
        COL(.name = "n", .type = NEXO_T_INT, .nullable = 1, .default_value = "3"),
        COL(.name = "u", .type = NEXO_T_INT, .is_unsigned = 1, .nullable = 1),
    };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "m", .columns = cols,
                            .ncolumns = 4, .line = 1));
    exec_ok(&fh, conn, "INSERT INTO m (v, n, u) VALUES ('hello', 5, 6), (NULL, NULL, 0)");
    /* longer varchar: data kept */
    struct nexo_column v = COL(.name = "v", .type = NEXO_T_VARCHAR, .length = 100, .nullable = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &v,
                            .ncolumns = 1, .line = 2));
    /* too short: an error, never cut */
    v.length = 3;
    ck_assert_int_eq(apply(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m",
                                          .columns = &v, .ncolumns = 1, .line = 3)),
                     NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "too long"), "%s", fh.msg);
    /* type, NOT NULL and default together */
    exec_ok(&fh, conn, "UPDATE m SET n = 0 WHERE n IS NULL");
    struct nexo_column n = COL(.name = "n", .type = NEXO_T_BIGINT, .default_value = "9");
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &n,
                            .ncolumns = 1, .modify_null = 1, .modify_default = 1, .line = 4));
    /* integer to text and back */
    struct nexo_column u = COL(.name = "u", .type = NEXO_T_VARCHAR, .length = 10, .nullable = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &u,
                            .ncolumns = 1, .line = 5));
    u = COL(.name = "u", .type = NEXO_T_INT, .nullable = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &u,
                            .ncolumns = 1, .line = 6));
    exec_ok(&fh, conn, "INSERT INTO m (v, u) VALUES ('neg', -1)"); /* signed now */
    exec_ok(&fh, conn, "DELETE FROM m WHERE v = 'neg'");
    u.is_unsigned = 1;
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &u,
                            .ncolumns = 1, .line = 7));
    ck_assert_int_eq(t_exec(&fh, conn, "INSERT INTO m (u) VALUES (-1)", 0, NULL), NEXO_EDB);
    /* the identity column widens and keeps counting */
    struct nexo_column id = COL(.name = "id", .type = NEXO_T_BIGINT, .primary = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &id,
                            .ncolumns = 1, .line = 8));
    exec_ok(&fh, conn, "INSERT INTO m (v, u) VALUES ('third', 1)");
    /* (3 went to 'neg', 4 to the refused row) */
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, v, n, u FROM m ORDER BY id"),
                     "1|hello|5|6\n2|<null>|0|0\n5|third|9|1\n");
    ck_assert_str_eq(q(&fh, conn, &c,
                       "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
                       " a.attidentity, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a"
                       " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
                       " WHERE a.attrelid = 'm'::regclass AND a.attnum > 0 ORDER BY a.attnum"),
                     "id|bigint|t|d|<null>\n"
                     "v|character varying(100)|f||<null>\n"
                     "n|bigint|t||9\n"
                     "u|bigint|f||<null>\n"); /* INT UNSIGNED */
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT format_type(seqtypid, NULL) FROM pg_sequence "
                                      "WHERE seqrelid = pg_get_serial_sequence('m', 'id')::regclass"),
                     "bigint\n");
    /* drop the default and NOT NULL again */
    n = COL(.name = "n", .type = NEXO_T_BIGINT, .nullable = 1);
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "m", .columns = &n,
                            .ncolumns = 1, .modify_null = 1, .modify_default = 1, .line = 9));
    exec_ok(&fh, conn, "INSERT INTO m (v) VALUES ('nulls')");
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT n FROM m WHERE v = 'nulls'"), "<null>\n");
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

START_TEST(render_insert_moves_identity)
{
    struct fakehost fh;
    struct collect c;
    host_for(&fh, dbname);
    void *conn = connect_to(&fh);
    const struct nexo_column cols[] = {
        COL(.name = "id", .type = NEXO_T_INT, .is_unsigned = 1, .autoincrement = 1,
            .primary = 1),
        COL(.name = "config_key", .type = NEXO_T_VARCHAR, .length = 100),
        COL(.name = "config_value", .type = NEXO_T_TEXT, .nullable = 1),
    };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "config", .columns = cols,
                            .ncolumns = 3, .line = 1));
    const char *const names[] = { "id", "config_key", "config_value" };
    const char *const vals[] = { "5", "notifications.enabled", "true", "3", "x.y", NULL };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_INSERT, .table = "config", .names = names,
                            .nnames = 3, .values = vals, .nrows = 2, .line = 2));
    const char *const names2[] = { "config_key", "config_value" };
    const char *const vals2[] = { "later", NULL };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_INSERT, .table = "config", .names = names2,
                            .nnames = 2, .values = vals2, .nrows = 1, .line = 3));
    /* an explicit id below the sequence does not move it back */
    const char *const vals3[] = { "1", "first", "" };
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_INSERT, .table = "config", .names = names,
                            .nnames = 3, .values = vals3, .nrows = 1, .line = 4));
    apply_ok(&fh, conn, &OP(.kind = NEXO_OP_INSERT, .table = "config", .names = names2,
                            .nnames = 2, .values = vals2, .nrows = 1, .line = 5));
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, config_key, config_value FROM config "
                                      "ORDER BY id"),
                     "1|first|\n3|x.y|<null>\n5|notifications.enabled|true\n6|later|<null>\n"
                     "7|later|<null>\n");
    /* no rows: no statements */
    int rc;
    char *sql = render_text(&fh, &OP(.kind = NEXO_OP_INSERT, .table = "config", .names = names,
                                     .nnames = 3, .values = NULL, .nrows = 0), &rc);
    ck_assert_int_eq(rc, 0);
    ck_assert_str_eq(sql, "");
    free(sql);
    D->disconnect(conn);
    fh_free(&fh);
}
END_TEST

static void render_fails(struct fakehost *fh, const struct nexo_op *op, int code,
                         const char *needle)
{
    int rc;
    free(render_text(fh, op, &rc));
    ck_assert_msg(rc == code, "rc %d, %s", rc, fh->msg);
    ck_assert_msg(strstr(fh->msg, "upgrade_1.4.0_1.5.0.xml:") && strstr(fh->msg, needle),
                  "%s", fh->msg);
}

START_TEST(render_errors_name_the_file)
{
    struct fakehost fh;
    host_for(&fh, dbname);
    const struct nexo_column nolen = COL(.name = "v", .type = NEXO_T_VARCHAR);
    render_fails(&fh, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "t", .columns = &nolen,
                          .ncolumns = 1, .line = 12),
                 NEXO_EINVAL, ":12: column v: VARCHAR needs a length");
    const struct nexo_column dec = COL(.name = "d", .type = NEXO_T_DECIMAL, .length = 4,
                                       .scale = 6);
    render_fails(&fh, &OP(.kind = NEXO_OP_ADD_COLUMN, .table = "t", .columns = &dec,
                          .ncolumns = 1, .line = 13), NEXO_EINVAL, "scale");
    const struct nexo_column ok = COL(.name = "a", .type = NEXO_T_INT);
    const struct nexo_foreign_key fk = { "a", "u", "id", "EXPLODE", NULL };
    render_fails(&fh, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "t", .columns = &ok,
                          .ncolumns = 1, .fkeys = &fk, .nfkeys = 1, .line = 14),
                 NEXO_EINVAL, "ON DELETE EXPLODE");
    render_fails(&fh, &OP(.kind = NEXO_OP_DROP_TABLE, .table = "users; DROP", .line = 15),
                 NEXO_EINVAL, "bad table name");
    render_fails(&fh, &OP(.kind = NEXO_OP_UPDATE, .table = "t", .line = 16), NEXO_EINVAL,
                 "nothing to set");
    const struct nexo_column txt = COL(.name = "a", .type = NEXO_T_TEXT, .autoincrement = 1);
    render_fails(&fh, &OP(.kind = NEXO_OP_CREATE_TABLE, .table = "t", .columns = &txt,
                          .ncolumns = 1, .line = 17), NEXO_EINVAL, "autoincrement");
    render_fails(&fh, &OP(.kind = (enum nexo_op_kind)99, .table = "t", .line = 18),
                 NEXO_ENOTSUP, ":18: unknown operation");
    render_fails(&fh, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "t", .line = 19),
                 NEXO_EINVAL, "no column");
    /* the simple statements' text */
    int rc;
    char *sql = render_text(&fh, &OP(.kind = NEXO_OP_DELETE, .table = "sessions",
                                     .where_sql = "last_activity < 1700000000-2592000"), &rc);
    ck_assert_str_eq(sql, "DELETE FROM \"sessions\" WHERE last_activity < 1700000000-2592000");
    free(sql);
    const struct nexo_column bio = COL(.name = "bio", .type = NEXO_T_TEXT, .length = 2000,
                                       .nullable = 1);
    sql = render_text(&fh, &OP(.kind = NEXO_OP_MODIFY_COLUMN, .table = "users", .columns = &bio,
                               .ncolumns = 1), &rc);
    ck_assert_str_eq(sql, "ALTER TABLE \"users\" DROP CONSTRAINT IF EXISTS \"bio_unsigned\";\n"
                          "ALTER TABLE \"users\" ALTER COLUMN \"bio\" TYPE text USING "
                          "\"bio\"::text");
    free(sql);
    fh_free(&fh);
}
END_TEST

/* ---- main --------------------------------------------------------------- */

/* Can the driver reach the server at all? */
/* ---- TLS --------------------------------------------------------------- */

static void set_tls(struct fakehost *fh, const char *mode, const char *root)
{
    json_object_set_new(fh->config, "database.sslmode", json_string(mode));
    if (root)
        json_object_set_new(fh->config, "database.sslrootcert", json_string(root));
    else
        json_object_del(fh->config, "database.sslrootcert");
}

/* pg_stat_ssl's "ssl" for the connection's own backend: "t\n" or "f\n". */
static const char *server_sees_tls(struct fakehost *fh, void *conn, struct collect *c)
{
    return q(fh, conn, c, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
}

START_TEST(tls_modes_as_the_server_sees_them)
{
    struct fakehost fh;
    struct collect c;
    void *conn = NULL;
    ck_assert_msg(access(TLS_CA, R_OK) == 0, "%s: run tests/servers.sh", TLS_CA);
    host_for(&fh, dbname);
    set_tls(&fh, "disable", NULL);
    conn = connect_to(&fh);
    ck_assert_str_eq(server_sees_tls(&fh, conn, &c), "f\n");
    ck_assert_ptr_nonnull(strstr(fh.logbuf, "without TLS"));
    D->disconnect(conn);

    set_tls(&fh, "require", NULL);
    conn = connect_to(&fh);
    ck_assert_str_eq(server_sees_tls(&fh, conn, &c), "t\n");
    D->disconnect(conn);

    set_tls(&fh, "verify-full", TLS_CA);
    fh.logbuf[0] = '\0';
    conn = connect_to(&fh);
    ck_assert_str_eq(server_sees_tls(&fh, conn, &c), "t\n");
    ck_assert_msg(strstr(fh.logbuf, "over TLS (server: TLSv1."), "%s", fh.logbuf);
    D->disconnect(conn);

    /* a CA that did not sign the server's certificate: refused, naming the
     * server, the settings and the TLS failure */
    set_tls(&fh, "verify-ca", WRONG_CA);
    conn = NULL;
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EDB);
    ck_assert_ptr_null(conn);
    char where[160];
    snprintf(where, sizeof where, "%s:%s/%s", PG_HOST, PG_PORT, dbname);
    ck_assert_msg(strstr(fh.msg, where) && strstr(fh.msg, "sslmode verify-ca") &&
                  strstr(fh.msg, WRONG_CA) && strstr(fh.msg, "certificate verify failed"),
                  "%s", fh.msg);
    /* a missing root certificate is named */
    set_tls(&fh, "verify-full", "/nonexistent/ca.pem");
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "/nonexistent/ca.pem"), "%s", fh.msg);

    /* the TLS-only role is turned away without TLS */
    json_object_set_new(fh.config, "database.user", json_string(TLS_USER));
    set_tls(&fh, "disable", NULL);
    ck_assert_int_eq(D->connect(&fh.table, fh_ctx(&fh), &conn), NEXO_EDB);
    ck_assert_msg(strstr(fh.msg, "no encryption"), "%s", fh.msg);
    fh_free(&fh);
}
END_TEST

/* pg_dump, pg_restore and psql connect with the connection's sslmode and
 * root certificate, whatever PGSSLMODE this process has: as the TLS-only
 * role, in a database of its own. */
START_TEST(tls_backup_and_restore)
{
    struct fakehost fh;
    struct collect c;
    char db[80], sql[160], path[160];
    snprintf(db, sizeof db, "%s_tls", dbname);
    host_for(&fh, "postgres");
    json_object_set_new(fh.config, "database.user", json_string(TLS_USER));
    set_tls(&fh, "verify-full", TLS_CA);
    void *admin_conn = connect_to(&fh);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
    exec_ok(&fh, admin_conn, sql);

    json_object_set_new(fh.config, "database.name", json_string(db));
    void *conn = connect_to(&fh);
    exec_ok(&fh, conn, "CREATE TABLE t (id int PRIMARY KEY, v text)");
    exec_ok(&fh, conn, "INSERT INTO t VALUES (1, 'one'), (2, 'two')");
    /* the tools would be turned away (disable) or fail to verify the server
     * (the wrong CA) with these; the connection's settings must win */
    setenv("PGSSLMODE", "disable", 1);
    setenv("PGSSLROOTCERT", WRONG_CA, 1);
    snprintf(path, sizeof path, "%s/tls.dump", tu_base);
    int rc = D->backup(&fh.table, fh_ctx(&fh), conn, path);
    ck_assert_msg(rc == 0, "backup: %s", fh.msg);
    exec_ok(&fh, conn, "DROP TABLE t");
    exec_ok(&fh, conn, "CREATE TABLE later (x int)");
    rc = D->restore(&fh.table, fh_ctx(&fh), conn, path);
    ck_assert_msg(rc == 0, "restore: %s", fh.msg);
    ck_assert_str_eq(q(&fh, conn, &c, "SELECT id, v FROM t ORDER BY id"), "1|one\n2|two\n");
    ck_assert_int_eq(t_exists(&fh, conn, "later", NULL, NULL), 0);
    D->disconnect(conn);
    unsetenv("PGSSLMODE");
    unsetenv("PGSSLROOTCERT");

    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", db);
    exec_ok(&fh, admin_conn, sql);
    D->disconnect(admin_conn);
    fh_free(&fh);
}
END_TEST

static int server_up(char *msg, size_t len)
{
    struct fakehost fh;
    void *conn = NULL;
    host_for(&fh, "postgres");
    int rc = D->connect(&fh.table, fh_ctx(&fh), &conn);
    snprintf(msg, len, "%s", fh.msg);
    if (rc == 0)
        D->disconnect(conn);
    fh_free(&fh);
    return rc == 0;
}

int main(void)
{
    nx_err e;
    char msg[2048];
    setenv("NEXO_DB_PASSWORD", PG_PASSWORD, 1);
    setenv("PGPASSWORD", PG_PASSWORD, 1); /* for the test's own pg_dump */
    mod = nx_module_load(NX_TEST_BINDIR "/modules/drivers/pgsql.so", NX_DRIVER, &e);
    if (!mod) {
        fprintf(stderr, "%s\n", e.msg);
        return EXIT_FAILURE;
    }
    D = mod->driver;
    if (!server_up(msg, sizeof msg)) {
        printf("SKIP: no PostgreSQL at %s:%s (%s)\n", PG_HOST, PG_PORT, msg);
        nx_module_unload(mod);
        return 77;
    }
    const TTest *tests[] = {
        connect_and_version, password_file, wrong_password_and_settings,
        exec_and_query_with_params, errors_name_the_sql, transactions,
        exists_in_current_schema, quote_ident, advisory_lock, backup_then_restore_is_exact,
        backup_restore_refusals_leave_the_database_alone, render_spec_migration,
        render_types_and_defaults, render_modify_column_keeps_data,
        render_insert_moves_identity, render_errors_name_the_file,
        tls_modes_as_the_server_sees_them, tls_backup_and_restore,
    };
    Suite *s = suite_create("driver_pgsql");
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        TCase *tc = tcase_create(tests[i]->name);
        tcase_add_unchecked_fixture(tc, db_setup, db_teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, tests[i]);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nx_module_unload(mod);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
